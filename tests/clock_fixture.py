"""The ``clock`` fixture: a test moves the project's clock instead of sleeping.

``clock.advance(seconds)`` moves ``streamsite.clock.monotonic()`` and ``time()`` forward (and so
every expiry, cool-down and lease that reads them); the real time is back after the test.
"""

from __future__ import annotations

from collections.abc import Iterator
from types import ModuleType

import pytest

from streamsite import clock as project_clock


@pytest.fixture
def clock() -> Iterator[ModuleType]:
    """``streamsite.clock`` itself: ``advance()``, ``monotonic()``, ``time()``."""
    project_clock.reset()
    yield project_clock
    project_clock.reset()
