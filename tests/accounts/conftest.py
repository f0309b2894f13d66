"""Each accounts test starts without per-process shield state (key cache, paused Redis)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.shield.conftest import reset_process_state


@pytest.fixture(autouse=True)
def _fresh_shield_state() -> Iterator[None]:
    reset_process_state()
    yield
    reset_process_state()
