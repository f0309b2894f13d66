"""Shared machinery for the benchmarks: start gunicorn on loopback, drive it with wrk, compare.

Every figure is reported as a ratio against ``/bench/bare`` (a bare Django ``JsonResponse``
view) served by the same gunicorn in the same run, so results are comparable across machines.
"""

from __future__ import annotations

import contextlib
import http.server
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def serving(handler: type[http.server.BaseHTTPRequestHandler]) -> Iterator[str]:
    """``handler`` on a threaded HTTP server on loopback, until the block exits; yields its
    base URL.

    Without Nagle's algorithm, as real servers run: the stdlib handler writes the headers and
    the body apart, and the body would wait 40 ms for the client's delayed ACK."""
    handler.disable_nagle_algorithm = True
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def manage(*args: str, env: dict[str, str]) -> str:
    result = subprocess.run(
        [PYTHON, "manage.py", *args], cwd=ROOT, env=env, check=True, capture_output=True, text=True
    )
    return result.stdout


def bench_env(**overrides: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "BENCH_ENDPOINTS": "true",
            "DEBUG": "false",
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "LOG_LEVEL": "WARNING",
        }
    )
    env.update(overrides)
    return env


_static_collected: set[str] = set()


def collect_static(env: dict[str, str]) -> None:
    """Fill STATIC_ROOT once per run, as a deployment does: WhiteNoise serves files from it."""
    static_root = env.get("STATIC_ROOT", "")
    if static_root not in _static_collected:
        manage("collectstatic", "--noinput", "--verbosity", "0", env=env)
        _static_collected.add(static_root)


@contextlib.contextmanager
def gunicorn(
    env: dict[str, str], *, workers: int = 2, threads: int = 1, port: int | None = None
) -> Iterator[str]:
    """Serve the project with gunicorn on a loopback port (a free one unless given); yields the
    base URL."""
    collect_static(env)
    port = port or free_port()
    command = [
        PYTHON, "-m", "gunicorn", "streamsite.wsgi:application",
        "--bind", f"127.0.0.1:{port}", "--workers", str(workers), "--threads", str(threads),
        "--log-level", "warning", "--config", str(ROOT / "deploy" / "gunicorn.conf.py"),
    ]  # fmt: skip
    process = subprocess.Popen(command, cwd=ROOT, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(f"{base}/bench/bare")
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)


def wait_until_up(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        time.sleep(0.2)
    raise RuntimeError(f"server at {url} did not come up within {timeout:.0f}s")


@dataclass(frozen=True)
class WrkResult:
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    non_2xx: int


def wrk(
    url: str,
    *,
    seconds: int = 5,
    connections: int = 8,
    threads: int = 2,
    headers: dict[str, str] | None = None,
    script: Path | None = None,
    script_args: tuple[str, ...] = (),
) -> WrkResult:
    """One wrk run; ``script`` is a wrk Lua script given ``script_args`` (after ``--``)."""
    if not shutil.which("wrk"):
        raise SystemExit("wrk is not installed (apt-get install wrk)")
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency"]
    for name, value in (headers or {}).items():
        command += ["-H", f"{name}: {value}"]
    if script is not None:
        command += ["-s", str(script)]
    command += [url, "--", *script_args] if script is not None else [url]
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return parse_wrk(output)


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _latency_ms(output: str, percentile: str) -> float:
    match = re.search(rf"^\s*{percentile}%\s+([\d.]+)(us|ms|s)\s*$", output, re.MULTILINE)
    if not match:
        raise ValueError(f"no {percentile}% latency in wrk output:\n{output}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def parse_wrk(output: str) -> WrkResult:
    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    if not rps:
        raise ValueError(f"unexpected wrk output:\n{output}")
    return WrkResult(
        requests_per_second=float(rps.group(1)),
        p50_ms=_latency_ms(output, "50"),
        p99_ms=_latency_ms(output, "99"),
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
    )


def report(rows: list[tuple[str, WrkResult]], *, baseline: WrkResult) -> None:
    print(f"{'endpoint':<44} {'req/s':>9} {'ratio':>6} {'p50 ms':>8} {'p99 ms':>8} {'non-2xx':>8}")
    for name, result in rows:
        ratio = result.requests_per_second / baseline.requests_per_second
        print(
            f"{name:<44} {result.requests_per_second:>9.0f} {ratio:>5.2f}x "
            f"{result.p50_ms:>8.2f} {result.p99_ms:>8.2f} {result.non_2xx:>8}"
        )


BENCH_DATABASE_URL = os.environ.get(
    "BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/streamsite_bench"
)


def fresh_database(url: str = BENCH_DATABASE_URL) -> None:
    """Drop and recreate the benchmark database, then migrate it."""
    name = url.rsplit("/", 1)[-1]
    admin_url = url.rsplit("/", 1)[0] + "/postgres"
    for statement in (
        f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)',
        f'CREATE DATABASE "{name}"',
    ):
        subprocess.run(["psql", admin_url, "-qc", statement], check=True, capture_output=True)
    manage("migrate", "--noinput", env=bench_env(DATABASE_URL=url))


@contextlib.contextmanager
def private_redis() -> Iterator[str]:
    """A throwaway redis-server on a free loopback port; yields its URL."""
    executable = shutil.which("redis-server")
    if not executable:
        raise SystemExit("redis-server is not installed (scripts/ensure-services.sh)")
    port = free_port()
    process = subprocess.Popen(
        [executable, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--loglevel", "warning"],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 10
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
                break
            if time.monotonic() > deadline:
                raise RuntimeError("redis-server did not start")
            time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(timeout=10)
