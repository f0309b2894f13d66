"""The compose topology of tests/topology, set up for load: clients with addresses of their own.

Each simulated client connects from an address of its own in ``CLIENT_NETWORK`` (loopback, so
nothing leaves the machine), so the shield and the rate limits see them as the production edge
sees real visitors: one address each. Only the runner's own address is allowlisted (warming,
health checks), and only nginx's address is a trusted proxy, so a client cannot forge its
``X-Forwarded-For``. Everything else is the production configuration of
deploy/docker-compose.yml, with the few changes below, each for a reason.
"""

from __future__ import annotations

import os
import subprocess
import sys

from bench.common import ROOT
from tests.topology.harness import Service, Topology

# Where the simulated clients' addresses come from (the runner itself is 127.0.0.1).
CLIENT_NETWORK = "127.16.0.0/12"

# The harness's changes for functional tests that a load test must not keep, given back their
# production values (the settings' defaults), and the changes a load test needs.
RESTORED = ("RATELIMIT_ANONYMOUS", "PROGRESS_FLUSH_SECONDS")
LOAD_OVERRIDES = {
    # The runner's warming and the health checks only; the simulated clients are not allowlisted.
    "SHIELD_ALLOWLIST": "127.0.0.1/32",
    # nginx connects from 127.0.0.1: the only proxy whose X-Forwarded-For is believed.
    "TRUSTED_PROXIES": "127.0.0.1/32",
    # An API key's allowance, lowered from 1200/minute so that a consumer above its limit costs
    # a few requests a second, not twenty: the journey checks the refusal, not the number.
    "RATELIMIT_API": "60/minute",
    # The flood signal, lowered from 600/10 s for the same reason: a flooder at ten requests a
    # second is caught within seconds, while a viewer (a few requests when a film starts, then
    # one every ten seconds) stays far below it.
    "SHIELD_REQUEST_RATE": "50/10seconds",
    "LOG_LEVEL": "WARNING",
}


class LoadTopology(Topology):
    def environment(self, service: Service) -> dict[str, str]:
        env = super().environment(service)
        for key in RESTORED:
            env.pop(key, None)
        env.update(LOAD_OVERRIDES)
        return env


def seed(database_url: str, *, api_keys: int, providers_url: str) -> list[str]:
    """The demo catalog when the database has none, every provider at ``providers_url``
    (loadtest/providers.py), and ``api_keys`` fresh API keys (each for a consumer of its own,
    made by the accounts app's own service); returns the keys."""
    env = {"DATABASE_URL": database_url, "DJANGO_SETTINGS_MODULE": "streamsite.settings"}
    python = sys.executable
    loaded = subprocess.run(
        [python, "manage.py", "load_demo", "--if-empty", "--verbosity", "0"],
        cwd=ROOT,
        env={**_base_env(), **env},
        capture_output=True,
        text=True,
    )
    if loaded.returncode:
        raise SystemExit(f"load_demo failed:\n{loaded.stderr[-3000:]}")
    script = (
        "import django, secrets; django.setup()\n"
        "from django.contrib.auth import get_user_model\n"
        "from accounts.services import create_api_key\n"
        "from streaming.models import Provider\n"
        f"Provider.objects.update(base_url={providers_url!r})\n"
        f"for n in range({api_keys}):\n"
        "    user = get_user_model().objects.create_user(f'loadtest-api-{secrets.token_hex(6)}')\n"
        "    print(create_api_key(user=user, name='load test').raw_key)\n"
    )
    result = subprocess.run(
        [python, "-c", script],
        cwd=ROOT,
        env={**_base_env(), **env},
        check=True,
        capture_output=True,
        text=True,
    )
    return result.stdout.split()


def _base_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "REDIS_"))}
