"""The step-load search's verdict on a step (loadtest/analysis.py): what makes the capacity
figure an operator reads."""

from __future__ import annotations

from loadtest.analysis import Sample, judge


def samples(journey: str, step: str, times_ms: list[float], *, failed: int = 0,
            status: int = 200) -> list[Sample]:  # fmt: skip
    return [
        Sample(1.0 + n, journey, f"127.16.0.{n % 200}", step, "GET", ms, status, n < failed, "")
        for n, ms in enumerate(times_ms)
    ]


def test_a_step_holds_while_every_journey_step_has_its_p99_within_the_threshold():
    heartbeats = samples("viewer", "heartbeat", [20.0] * 98 + [240.0] * 2)
    verdict = judge(heartbeats, threshold_ms=250, max_error_rate=0.001)
    assert verdict.passed and verdict.worst_p99 == 240.0


def test_one_slow_journey_step_fails_the_step_and_is_named():
    fast = samples("viewer", "heartbeat", [20.0] * 200)
    slow = samples("viewer", "/ (signed in)", [100.0] * 97 + [400.0] * 3)
    verdict = judge(fast + slow, threshold_ms=250, max_error_rate=0.001)
    assert not verdict.passed
    assert verdict.worst_step == "viewer: GET / (signed in)" and verdict.worst_p99 == 400.0


def test_legitimate_errors_above_a_thousandth_fail_the_step():
    ok = samples("viewer", "heartbeat", [20.0] * 1000)
    assert judge(ok, threshold_ms=250, max_error_rate=0.001).passed
    failing = samples("viewer", "heartbeat", [20.0] * 1000, failed=2)
    assert not judge(failing, threshold_ms=250, max_error_rate=0.001).passed


def test_abusive_clients_refused_or_slow_do_not_count_against_the_site():
    legit = samples("browser", "/", [30.0] * 100)
    flood = samples("flooder", "flood", [900.0] * 100, failed=100, status=403)
    verdict = judge(legit + flood, threshold_ms=250, max_error_rate=0.001)
    assert verdict.passed and verdict.requests == 100
