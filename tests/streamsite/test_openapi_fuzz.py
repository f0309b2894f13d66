"""The OpenAPI schema against the API it describes.

schemathesis reads the live schema from a running server and sends every operation requests
generated from it (its coverage and fuzzing phases, a fixed seed, a bounded number of examples),
once anonymous and once with an API key, checking every answer: no server error, no status the
schema does not list, every body and header as documented, schema-valid input accepted and
schema-invalid input refused.

The runs are about the API's contract, not the shield's: the fuzzer's addresses are allowlisted
and its limits are the api tier's, or the first few dozen deliberately bad requests would get
it blocked and the rest of the run would only see 403s and 429s. Those two answers are checked
against the schema separately, below.
"""

from __future__ import annotations

import ipaddress
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.wsgi import get_wsgi_application
from django.test import Client
from werkzeug.test import Client as WerkzeugClient

from accounts.services import create_api_key
from shield import services
from shield.models import Reason
from streaming.models import Provider
from tests.shield.conftest import ratelimits

ROOT = Path(__file__).resolve().parents[2]
SEED = 20_240_601
EXAMPLES = 10  # per operation and phase: the two runs take well under a minute
ANONYMOUS, KEYED = "198.51.100.1", "198.51.100.2"


@pytest.fixture
def catalog(make_movie) -> None:
    for n in range(3):
        make_movie(f"Film {n}", genres=("Drama", "Science Fiction"), popularity=float(n))
    Provider.objects.create(
        name="Player",
        slug="player",
        base_url="https://player.example.org",
        movie_path_template="/movie/{tmdb_id}",
        priority=10,
        enabled=True,
    )


def fuzz(base: str, workdir: Path, name: str, *headers: str) -> dict[str, Any]:
    """One schemathesis run; returns its JSON report (operations, cases, failures)."""
    report = workdir / f"{name}.json"
    command = [
        str(Path(sys.executable).with_name("schemathesis")), "run",
        f"{base}/api/schema?format=json",
        "--checks", "all", "--phases", "examples,coverage,fuzzing", "--workers", "2",
        "--seed", str(SEED), "--max-examples", str(EXAMPLES), "--generation-database", "none",
        "--report", "json", "--report-json-path", str(report),
    ]  # fmt: skip
    for header in headers:
        command += ["--header", header]
    # Two worker threads, with hypothesis's parses of lambda sources one at a time (see there).
    env = {
        **os.environ,
        "SCHEMATHESIS_HOOKS": str(Path(__file__).with_name("schemathesis_hooks.py")),
    }
    result = subprocess.run(
        command, cwd=workdir, capture_output=True, text=True, timeout=300, check=False, env=env
    )
    summary = json.loads(report.read_text())
    summary["output"] = result.stdout[-6000:]
    return summary


def figures(name: str, run: dict[str, Any]) -> str:
    failures = sum(failure["count"] for failure in run["failures"])
    return (
        f"{name}: {run['operations']['tested']} operations, "
        f"{run['test_cases']['generated']} cases, {failures} failures, "
        f"{len(run['errors'])} errors, {run['running_time']:.0f} s"
    )


def test_every_operation_answers_as_the_schema_says(
    live_server, catalog, settings, tmp_path, capsys
):
    settings.TRUSTED_PROXIES = [ipaddress.ip_network("127.0.0.1/32")]
    settings.SHIELD_ALLOWLIST = [ipaddress.ip_network(f"{ip}/32") for ip in (ANONYMOUS, KEYED)]
    key = create_api_key(user=get_user_model().objects.create_user("integrator"), name="fuzz")
    api_tier = settings.RATELIMITS["api"]

    with ratelimits(anonymous=api_tier, progress=api_tier):
        anonymous = fuzz(live_server.url, tmp_path, "anonymous", f"X-Forwarded-For: {ANONYMOUS}")
        keyed = fuzz(
            live_server.url,
            tmp_path,
            "keyed",
            f"X-Forwarded-For: {KEYED}",
            f"Authorization: Api-Key {key.raw_key}",
        )

    with capsys.disabled():
        print(f"\n{figures('anonymous', anonymous)}\n{figures('api key', keyed)}")
    for run in (anonymous, keyed):
        assert run["operations"]["tested"] == run["operations"]["total"], run["output"]
        assert run["failures"] == [], run["output"]
        assert run["errors"] == [], run["output"]
        assert not run["warnings"]["rate_limited"], run["output"]


@pytest.mark.django_db
def test_rate_limited_and_blocked_answers_are_the_documented_ones(settings, make_movie):
    import schemathesis  # here: collecting this module in every worker should not import it

    document = Client().get("/api/schema?format=json").json()
    schema = schemathesis.openapi.from_dict(document)
    movie = make_movie("Film")
    paths = {
        ("GET", "/api/genres"): "/api/genres",
        ("GET", "/api/movies"): "/api/movies",
        ("GET", "/api/movies/{movie_id}"): f"/api/movies/{movie.pk}",
        ("GET", "/api/streaming/sources/{movie_id}"): f"/api/streaming/sources/{movie.pk}",
        ("GET", "/api/progress"): "/api/progress",
    }
    # Through the WSGI application, as a server calls it, with werkzeug's client, whose
    # responses schemathesis validates.
    app = get_wsgi_application()
    limited, blocked = WerkzeugClient(app), WerkzeugClient(app)
    address = {limited: "198.51.100.3", blocked: "198.51.100.4"}
    services.block(ip="198.51.100.4", reason=Reason.REQUEST_RATE, evidence={})

    with ratelimits(anonymous="1/minute"):
        limited.get("/api/genres", environ_base={"REMOTE_ADDR": address[limited]})
        for (method, template), path in paths.items():
            operation = schema[template][method]
            for client, status in ((limited, 429), (blocked, 403)):
                response = client.get(path, environ_base={"REMOTE_ADDR": address[client]})
                assert response.status_code == status, path
                assert response.headers["Retry-After"], path
                assert str(status) in document["paths"][template][method.lower()]["responses"]
                operation.validate_response(response)  # body and headers as documented
