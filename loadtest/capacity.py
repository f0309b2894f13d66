"""Step-load search for capacity: watching viewers are added a step at a time until a step
does not hold (p99 of a journey step over ``LOADTEST_THRESHOLD_MS`` or the errors over
``LOADTEST_MAX_ERROR_RATE``, judged on the step's second half, once its newcomers have signed
up); the last step that held is the host's capacity.

    locust -f loadtest/capacity.py --headless --host … --samples samples.csv

Parameters (environment, set by ``loadtest/run.py --capacity``): LOADTEST_STEP_USERS (20),
LOADTEST_STEP_SECONDS (60), LOADTEST_MAX_USERS (2000), LOADTEST_SPAWN_RATE (1),
LOADTEST_THRESHOLD_MS (250), LOADTEST_MAX_ERROR_RATE (0.001), LOADTEST_STEPS_FILE (where each
step's verdict is written, one JSON line each).
"""

from __future__ import annotations

import dataclasses
import json
import os
import time

from locust import LoadTestShape

from loadtest import recorder
from loadtest.analysis import judge
from loadtest.locustfiles.watching import Viewer

__all__ = ["StepLoad", "Viewer"]


def _setting(name: str, default: float) -> float:
    return float(os.environ.get(f"LOADTEST_{name}", default))


class StepLoad(LoadTestShape):
    step_users = int(_setting("STEP_USERS", 20))
    step_seconds = _setting("STEP_SECONDS", 60)
    max_users = int(_setting("MAX_USERS", 2000))
    spawn_rate = _setting("SPAWN_RATE", 1)
    threshold_ms = _setting("THRESHOLD_MS", 250)
    max_error_rate = _setting("MAX_ERROR_RATE", 0.001)

    judged = 0
    started = 0.0

    def tick(self) -> tuple[int, float] | None:
        run_time = self.get_run_time()
        if not self.started:
            self.started = time.time() - run_time
        step = int(run_time // self.step_seconds)
        if step > self.judged and not self.judge(self.judged):
            return None
        users = (step + 1) * self.step_users
        if users > self.max_users:
            return None
        return users, self.spawn_rate

    def judge(self, step: int) -> bool:
        """The verdict on ``step``, from its second half; written down, True if it held."""
        self.judged = step + 1
        end = self.started + (step + 1) * self.step_seconds
        start = end - self.step_seconds / 2
        verdict = judge(
            recorder.window(start, end),
            threshold_ms=self.threshold_ms,
            max_error_rate=self.max_error_rate,
        )
        line = {
            "step": step + 1,
            "users": (step + 1) * self.step_users,
            "window": [start, end],
            **dataclasses.asdict(verdict),
        }
        if path := os.environ.get("LOADTEST_STEPS_FILE"):
            with open(path, "a") as file:
                file.write(json.dumps(line) + "\n")
        print(
            f"step {line['users']} viewers: {'held' if verdict.passed else 'did not hold'}, "
            f"worst p99 {verdict.worst_p99:.0f} ms ({verdict.worst_step}), "
            f"errors {verdict.error_rate:.3%} of {verdict.requests}",
            flush=True,
        )
        return verdict.passed
