"""The ``child_python`` fixture: a test that runs Python in a process of its own.

For what only a fresh interpreter shows: settings read at start-up, ``manage.py`` commands as a
shell runs them, several processes racing on one Redis key. Each such process imports Django
again, about a second of CPU, so a test that uses this fixture is in the slow tier
(SLOW_FIXTURES in tests/conftest.py). Processes it starts and that are still running at the
end of the test are killed.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]


class ChildPython:
    """``run()`` waits for the process and captures its output; ``start()`` returns at once.

    Both run ``python <args>`` (this virtualenv's interpreter) in the project's directory;
    ``env`` replaces the environment when given."""

    def __init__(self) -> None:
        self._started: list[subprocess.Popen[Any]] = []

    def run(
        self, *args: str | Path, env: Mapping[str, str] | None = None, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, *args],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def start(
        self, *args: str | Path, env: Mapping[str, str] | None = None, **popen: Any
    ) -> subprocess.Popen[Any]:
        process = subprocess.Popen([sys.executable, *args], cwd=ROOT, env=env, **popen)
        self._started.append(process)
        return process

    def _kill_the_rest(self) -> None:
        for process in self._started:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=30)


@pytest.fixture
def child_python() -> Iterator[ChildPython]:
    children = ChildPython()
    yield children
    children._kill_the_rest()
