"""The compose topology, started once for this package's live tests (tests/topology/harness.py).

web-3 and progress-1 sit behind a TCP proxy each (tests/topology/tcp_proxy.py), which passes
bytes through until a test slows one down or makes the other die mid-request.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection

from tests.deploy.edge import Edge
from tests.topology.harness import Topology

SLOWED, DYING = "web-3", "progress-1"


@pytest.fixture(scope="package")
def topology(
    django_db_setup: None, django_db_blocker: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Topology]:
    db = connection.settings_dict  # the test database pytest-django made
    url = f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    with Topology(
        directory=tmp_path_factory.mktemp("topology"), database_url=url, proxied=(SLOWED, DYING)
    ) as running:
        yield running


@pytest.fixture
def edge(topology: Topology) -> Edge:
    assert topology.edge is not None
    return topology.edge


@pytest.fixture(autouse=True)
def _shared_cache(request: pytest.FixtureRequest, settings: Any) -> None:
    """This process's cache is the topology's Redis, so a change a test makes to the catalog
    bumps the version the instances read (after tests/conftest.py's cache fixture, which so
    never empties this Redis: it holds the broker's queues and the progress buffer)."""
    if "topology" in request.fixturenames:
        topology: Topology = request.getfixturevalue("topology")
        redis = topology.services["redis"]
        settings.CACHES = {
            "default": {
                "BACKEND": "django_redis.cache.RedisCache",
                "LOCATION": f"redis://127.0.0.1:{redis.port}/0",
            }
        }


@pytest.fixture
def whole(topology: Topology) -> Topology:
    """Every instance running, whatever an earlier test stopped or killed."""
    for name in topology.long_running():
        process = topology.services[name].process
        if process is None or process.poll() is not None:
            topology.restart(name)
    return topology
