"""The scale-out topology under load: failover, least_conn against round robin, compression.

    .venv/bin/python bench/gateway.py [--requests 600] [--clients 8] [--delay 0.5]

deploy/docker-compose.yml is started as processes on loopback, as tests/topology starts it
(nginx with TLS in front of the web, api, progress and admin pools, Redis with its
append-only file, a worker and beat), on the demo catalog in PostgreSQL. Every figure is a
count or a share from one run, so it does not depend on the machine:

1. Compression: bytes of home, browse and the first page of the catalog API as the edge sends
   them with and without gzip (anonymous, as most visits and every CDN fill are).
2. least_conn against round robin: one of the three web instances gets each request --delay
   seconds late (a TCP proxy in front of it, nothing in the app); the same --requests page
   views from --clients connections go through the shipped configuration, then through the
   same one without ``least_conn``; the table gives the slowed instance's share under each.
3. Failover: --requests page views from --clients connections; after a quarter of them, one
   of the three web instances is killed (SIGKILL, mid-request); the GETs that failed (goal:
   0), and how many nginx retried on another instance.
"""

from __future__ import annotations

import argparse
import collections
import gzip
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import BENCH_DATABASE_URL, bench_env, fresh_database, manage  # noqa: E402
from tests.topology.harness import Topology, hammer  # noqa: E402

SLOWED, KILLED = "web-3", "web-1"


def compression(topology: Topology) -> None:
    edge = topology.edge
    assert edge is not None
    print(f"\n{'answer':<22} {'identity B':>11} {'gzip B':>8} {'gzip/identity':>14}")
    for name, path in (
        ("home /", "/"),
        ("browse /browse/", "/browse/"),
        ("API /api/movies", "/api/movies"),
    ):
        plain = edge.request(edge.https + path, Host="localhost")
        packed = edge.request(edge.https + path, Host="localhost", **{"Accept-Encoding": "gzip"})
        assert plain.status == packed.status == 200, (path, plain.status, packed.status)
        assert packed.headers["Content-Encoding"] == "gzip"
        assert gzip.decompress(packed.body)[:64] == plain.body[:64]
        ratio = len(packed.body) / len(plain.body)
        print(f"{name:<22} {len(plain.body):>11} {len(packed.body):>8} {ratio:>13.1%}")


def shares(topology: Topology, *, requests: int, clients: int, delay: float) -> None:
    proxy = topology.services[SLOWED].proxy
    assert proxy is not None and topology.edge is not None
    proxy.delay = delay
    print(
        f"\n{SLOWED} answers {delay * 1000:.0f} ms late; {requests} page views, {clients} at once"
    )
    try:
        with tempfile.TemporaryDirectory() as directory:
            with topology.run_nginx(Path(directory), round_robin=True) as round_robin:
                for name, edge in (("least_conn", topology.edge), ("round robin", round_robin)):
                    outcomes = hammer(
                        edge, lambda n, g=name: f"/?{g[:5]}={n}", requests=requests, clients=clients
                    )
                    served = collections.Counter(
                        topology.upstreams(edge, o.request_id)[0]
                        for o in outcomes
                        if o.status == 200
                    )
                    total = sum(served.values())
                    spread = ", ".join(f"{k} {v}" for k, v in sorted(served.items()))
                    share = served[SLOWED] / total
                    print(f"  {name:<12} share of {SLOWED}: {share:6.1%}   ({spread})")
    finally:
        proxy.delay = 0.0


def failover(topology: Topology, *, requests: int, clients: int) -> None:
    edge = topology.edge
    assert edge is not None
    outcomes = hammer(
        edge, lambda n: f"/?failover={n}", requests=requests, clients=clients,
        after=(requests // 4, lambda: topology.kill(KILLED)),
    )  # fmt: skip
    failed = [o for o in outcomes if o.status != 200]
    tried = [topology.upstreams(edge, o.request_id) for o in outcomes if o.request_id]
    retried = sum(1 for t in tried if len(t) > 1)
    print(
        f"\n{KILLED} killed after {requests // 4} of {requests} page views ({clients} at once): "
        f"{len(failed)} failed, {retried} answered by another instance after meeting {KILLED} dead"
    )
    for outcome in failed:  # what the client got, and what nginx logged for it
        logged = edge.logged(outcome.request_id) if outcome.request_id else {}
        print(f"  failed: {outcome.status or outcome.error} {logged}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=600)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--delay", type=float, default=0.5)
    args = parser.parse_args()

    fresh_database()
    manage("load_demo", "--verbosity", "0", env=bench_env(DATABASE_URL=BENCH_DATABASE_URL))
    os.environ.pop("DATABASE_URL", None)
    with tempfile.TemporaryDirectory(prefix="streamsite-gateway-") as directory:
        with Topology(
            directory=Path(directory), database_url=BENCH_DATABASE_URL, proxied=(SLOWED,)
        ) as topology:
            compression(topology)
            shares(topology, requests=args.requests, clients=args.clients, delay=args.delay)
            failover(topology, requests=args.requests, clients=args.clients)


if __name__ == "__main__":
    main()
