"""A short run of every journey through the live topology, as `make loadtest` runs it.

No timing is asserted (speed is measured by `make loadtest`, docs/performance.md): only that
each journey runs to its end through nginx and the pools, and that no client, abusive or not,
meets a server error, and no legitimate client meets a refusal.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]
# Marked so pytest-django makes this run's test database, whose name (unique per run and
# xdist worker) the load test's own database is named after.
pytestmark = pytest.mark.django_db

# Every journey with at least one client; the pace of each quickened so a viewer signs up,
# watches with heartbeats, leaves and reads continue watching within the run. The consumer under
# its limit stays under it for sure: a task every 2 s is at most 10 tasks of at most 4 requests in
# the 20 s run, 40 requests against the load test's 60 a minute.
MIX = "browser=2,viewer=3,api=2,api_over_limit=1,scanner=1,flooder=1"
PACE = "--heartbeat-seconds 2 --watch-minutes 0.1 --think-min 0.5 --think-max 1.5 --api-think 2"


@pytest.fixture(scope="module")
def summary(
    django_db_setup: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    """The runner on a database of its own beside this run's test database (a name unique
    to this run and worker), its report read back."""
    db = connection.settings_dict
    url = f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}_loadtest"
    output = tmp_path_factory.mktemp("loadtest") / "report"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "REDIS_"))}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "loadtest.run",
            "--users",
            "10",
            "--spawn-rate",
            "10",
            "--time",
            "20",
            "--mix",
            MIX,
            "--locust-args",
            PACE,
            "--site-cpus",
            "",
            "--locust-cpus",
            "",
            "--api-keys",
            "6",
            "--output",
            str(output),
        ],
        cwd=ROOT,
        env={**env, "LOADTEST_DATABASE_URL": url},
        capture_output=True,
        text=True,
        timeout=600,
    )
    try:
        assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-5000:]
        yield json.loads((output / "summary.json").read_text())
    finally:
        admin = url.rsplit("/", 1)[0] + "/postgres"
        drop = f'DROP DATABASE IF EXISTS "{db["NAME"]}_loadtest" WITH (FORCE)'
        subprocess.run(["psql", admin, "-qc", drop], capture_output=True, check=False)


def steps_of(summary: dict[str, Any], journey: str) -> dict[str, int]:
    """Each step of ``journey`` and how many of its requests succeeded."""
    return {
        s["step"]: s["requests"] - s["failures"]
        for s in summary["steps"]
        if s["journey"] == journey
    }


def test_no_client_meets_a_server_error_and_no_legitimate_client_a_refusal(summary):
    assert summary["server_errors"] == 0
    assert summary["legitimate_failures"] == 0, [
        s for s in summary["steps"] if s["failures"] and s["journey"] not in {"scanner", "flooder"}
    ]


def test_a_viewer_signs_up_watches_with_heartbeats_leaves_and_finds_the_film_to_continue(summary):
    steps = steps_of(summary, "viewer")
    for step in (
        "POST /accounts/signup/",
        "GET /watch/[slug]/",
        "POST /api/streaming/sessions",
        "POST /api/streaming/progress/[id] play",
        "POST /api/streaming/progress/[id] heartbeat",
        "POST /api/streaming/progress/[id] hide",
        "GET /api/progress",
    ):
        assert steps.get(step, 0) > 0, (step, steps)
    assert summary["totals"]["heartbeats_by_result"].get("buffered", 0) > 0


def test_anonymous_browsing_and_api_consumers_walk_their_journeys(summary):
    browser, api = steps_of(summary, "browser"), steps_of(summary, "api")
    assert browser.get("GET /", 0) > 0, browser
    assert any(
        step.startswith(("GET /movies/", "GET /browse/", "GET /search/")) for step in browser
    )
    assert api.get("GET /api/movies", 0) > 0, api
    assert steps_of(summary, "api_over_limit"), "the consumer above its limit ran"
