"""deploy/docker-compose.yml started as processes on 127.0.0.1, for lack of a container engine.

Every service `docker compose up` starts is run with the command, the environment and the
dependency order the file gives it, in compose's order: one-shot jobs to completion, then each
service once what it depends on is healthy, judged by the file's own health check commands.
What a container provides is mapped, never edited: a service name and port becomes a loopback
address, a volume a directory shared by the services that mount it, a path outside any volume
a directory of that service's own, the compose network 127.0.0.0/8. PostgreSQL is the test
database the caller names; Prometheus and Grafana are checked, not run (tests/deploy).
nginx renders the template the file mounts, with the file's environment, beside the image's
stock server, as the image's entrypoint does. A few settings differ, each for a reason given
in ``OVERRIDES``.
"""

from __future__ import annotations

import contextlib
import http.client
import itertools
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.deploy import compose
from tests.deploy.edge import ROOT, TEMPLATE, Edge, free_port, running_edge
from tests.topology.tcp_proxy import TcpProxy

# What an operator exports before `docker compose up`.
VARIABLES = {
    "DOMAIN": "localhost",
    "SECRET_KEY": secrets.token_urlsafe(50),
    "HLS_SIGNING_KEY": "topology0hls0signing0key0" + secrets.token_hex(8),
}

# The only changes to the file's environment, each for a reason.
OVERRIDES = {
    # One worker per instance: eight instances share this machine's two cores.
    "GUNICORN_WORKERS": "1",
    # Every test request comes from one address: the anonymous allowance and flood detection
    # would refuse it. The shield is tested on its own (tests/shield).
    "SHIELD_ALLOWLIST": "127.0.0.0/8",
    "RATELIMIT_ANONYMOUS": "1000000/minute",
    # This machine's free disk and memory are not under test (/api/health would fail on them).
    "HEALTH_DISK_DEGRADED_PERCENT": "0",
    "HEALTH_DISK_FAIL_PERCENT": "0",
    "HEALTH_MEMORY_DEGRADED_PERCENT": "0",
    # Beat runs, but progress is flushed when a test sends the task, not on beat's schedule.
    "PROGRESS_FLUSH_SECONDS": "3600",
    # The test database has no streaming replica; the router has tests of its own.
    "DATABASE_REPLICA_URLS": "",
}

COMPOSE_NETWORK = "172.16.0.0/12"
LOCAL_NETWORK = "127.0.0.0/8"
VENV_BIN = str(Path(sys.executable).parent)
# Run here from their images' programs; every other service not built from our image
# (PostgreSQL, Prometheus, Grafana…) is provided by the caller (the test database) or checked
# without running (tests/deploy).
RUN_FROM_IMAGE = {"nginx", "redis"}


@dataclass
class Service:
    name: str
    spec: dict[str, Any]
    root: Path  # this service's own filesystem, for paths outside its volumes
    port: int | None = None  # the loopback port of its one container port
    process: subprocess.Popen[bytes] | None = None
    proxy: TcpProxy | None = None

    @property
    def log(self) -> Path:
        return self.root / "output.log"

    @property
    def address(self) -> str:
        """Where nginx reaches it: its proxy, when a test put one in between."""
        return self.proxy.address if self.proxy else f"127.0.0.1:{self.port}"

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


@dataclass
class Topology:
    directory: Path
    database_url: str
    proxied: tuple[str, ...] = ()
    compose: dict[str, Any] = field(init=False)
    services: dict[str, Service] = field(default_factory=dict)
    edge: Edge | None = None

    def __post_init__(self) -> None:
        self.compose = compose.load(VARIABLES)
        for name, spec in compose.started_by_up(self.compose).items():
            self.services[name] = Service(name, spec, self.directory / "services" / name)
            self.services[name].root.mkdir(parents=True)
            if _container_port(name, spec) is not None:
                self.services[name].port = free_port()
        for name in self.proxied:
            service = self.services[name]
            service.proxy = TcpProxy(("127.0.0.1", service.port))  # type: ignore[arg-type]

    # --- Mapping what a container provides ------------------------------------------------

    def volume(self, name: str) -> Path:
        path = self.directory / "volumes" / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    def local_path(self, service: Service, path: str) -> str:
        """A path as ``service`` sees it, on this machine: in a volume it mounts, or its own."""
        mounted = sorted(compose.mounts(service.spec), key=lambda m: -len(m.target))
        for mount in mounted:
            if path == mount.target or path.startswith(mount.target + "/"):
                base = (
                    (compose.DEPLOY / mount.source).resolve()
                    if mount.is_bind
                    else self.volume(mount.source)
                )
                return str(base) + path[len(mount.target) :]
        local = service.root / path.lstrip("/")
        local.parent.mkdir(parents=True, exist_ok=True)
        return str(local)

    def local_value(self, service: Service, value: str) -> str:
        value = value.replace(COMPOSE_NETWORK, LOCAL_NETWORK)
        value = re.sub(r"\b0\.0\.0\.0:\d+\b", f"127.0.0.1:{service.port}", value)  # a bind
        if value == "0.0.0.0":  # noqa: S104 (every address of the container)
            return "127.0.0.1"

        def address(match: re.Match[str]) -> str:
            target = self.services.get(match.group(1))
            return target.address if target and target.port else match.group(0)

        value = re.sub(r"\b([a-z][\w-]*):(\d+)\b", address, value)
        if value.startswith("/") and " " not in value:
            return self.local_path(service, value)
        return value

    def environment(self, service: Service) -> dict[str, str]:
        env = {
            key: self.local_value(service, str(value))
            for key, value in service.spec.get("environment", {}).items()
        }
        if "DATABASE_URL" in env:
            env["DATABASE_URL"] = self.database_url
        if "METRICS_PORT" in env and service.port:
            env["METRICS_PORT"] = str(service.port)
        inherited = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
        for key in [k for k in inherited if k.startswith(("CELERY_", "DJANGO_"))]:
            del inherited[key]
        return {**inherited, "PATH": f"{VENV_BIN}:{os.environ['PATH']}", **env, **OVERRIDES}

    def argv(self, service: Service) -> list[str]:
        args = [self.local_arg(service, arg) for arg in compose.command(service.spec)]
        if service.name == "redis":
            data = self.volume(compose.mounts(service.spec)[0].source)  # the image's WORKDIR
            args += ["--port", str(service.port), "--bind", "127.0.0.1", "--dir", str(data)]
        return args

    def local_arg(self, service: Service, arg: str) -> str:
        option, equals, path = arg.partition("=")
        if equals and path.startswith("/"):
            return f"{option}={self.local_path(service, path)}"
        return self.local_path(service, arg) if arg.startswith("/") else arg

    def health_command(self, service: Service) -> list[str] | None:
        """The service's health check, aimed at where it runs here."""
        check = compose.healthcheck(service.spec)
        if check is None:
            return None
        check = [re.sub(r"127\.0\.0\.1:\d+", f"127.0.0.1:{self._checked_port(service)}", a)
                 for a in check]  # fmt: skip
        if check[0] == "redis-cli":
            check += ["-p", str(service.port)]
        return check

    def _checked_port(self, service: Service) -> int:
        if service.name == "nginx":
            assert self.edge is not None
            return int(self.edge.internal.rsplit(":", 1)[1])
        assert service.port is not None
        return service.port

    # --- Running it -------------------------------------------------------------------------

    def start(self) -> None:
        """Every service in compose's order; returns once nginx answers."""
        for wave in self.waves():
            for name in wave:
                self.launch(name)
            for name in wave:
                self.wait_ready(name)

    def waves(self) -> list[list[str]]:
        """Services grouped so that each group depends only on earlier groups."""
        run = set(self.runs_here())
        pending = {n: set(self.services[n].spec.get("depends_on", {})) & run for n in run}
        waves: list[list[str]] = []
        done: set[str] = set()
        while pending:
            ready = sorted(n for n, deps in pending.items() if deps <= done)
            assert ready, f"a dependency cycle among {sorted(pending)}"
            waves.append(ready)
            done.update(ready)
            for name in ready:
                del pending[name]
        return waves

    def launch(self, name: str) -> None:
        service = self.services[name]
        if name == "nginx":
            return  # started by wait_ready, once the pools it resolves are up
        log = service.log.open("ab")
        service.process = subprocess.Popen(
            self.argv(service),
            cwd=ROOT,  # the image's WORKDIR holds the repository
            env=self.environment(service),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a group: gunicorn's or celery's workers die with it
        )
        log.close()

    def wait_ready(self, name: str, timeout: float = 90.0) -> None:
        service = self.services[name]
        if name == "nginx":
            self.edge = self._stack.enter_context(self.run_nginx(self.directory / "nginx"))
            self._wait(service, lambda: self._healthy(service), timeout)
            return
        if service.spec.get("restart") == "no":  # a one-shot job: it must end well
            self._wait(service, lambda: service.process.poll() is not None, timeout)  # type: ignore[union-attr]
            assert service.process.returncode == 0, f"{name} failed:\n{service.output()}"  # type: ignore[union-attr]
        elif compose.healthcheck(service.spec):
            self._wait(service, lambda: self._healthy(service), timeout)

    def _healthy(self, service: Service) -> bool:
        """The service's own check, run once its port takes connections (running the check
        before would cost the starting services a process per poll)."""
        port = self._checked_port(service)
        with socket.socket() as probe:
            probe.settimeout(0.2)
            if probe.connect_ex(("127.0.0.1", port)) != 0:
                return False
        command = self.health_command(service)
        assert command is not None
        try:
            return subprocess.run(command, capture_output=True, timeout=10).returncode == 0
        except subprocess.TimeoutExpired:  # a check slower than its own limit: not ready yet
            return False

    def _wait(self, service: Service, condition: Callable[[], bool], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if service.process is not None and service.process.poll() is not None:
                if service.spec.get("restart") != "no":
                    raise AssertionError(f"{service.name} exited:\n{service.output()[-4000:]}")
            assert time.monotonic() < deadline, f"{service.name} not ready:\n{service.output()}"
            time.sleep(0.1)

    def nginx_values(self, directory: Path) -> tuple[dict[str, str], str]:
        """The nginx service's environment as this machine runs it, and where the image
        writes the rendered template in conf.d."""
        service = self.services["nginx"]
        values = {}
        for key, value in service.spec["environment"].items():
            if key.endswith("_LISTEN"):
                values[key] = f"127.0.0.1:{free_port()}"
            else:
                values[key] = self.local_value(service, str(value))
        values["NGINX_ACCESS_LOG"] = str(directory / "access.log")
        values["NGINX_CACHE_DIR"] = str(directory / "cache")
        (template,) = [
            m for m in compose.mounts(service.spec) if m.target.startswith("/etc/nginx/templates/")
        ]
        return values, Path(template.target).name.removesuffix(".template")

    @contextlib.contextmanager
    def run_nginx(self, directory: Path, *, round_robin: bool = False) -> Iterator[Edge]:
        """The edge as compose runs it; ``round_robin``: the same without ``least_conn``."""
        values, rendered_name = self.nginx_values(directory)
        template = TEMPLATE.read_text()
        if round_robin:
            assert "    least_conn;\n" in template
            template = template.replace("    least_conn;\n", "")
        with running_edge(values, directory, template=template, rendered_name=rendered_name,
                          workers=2) as edge:  # fmt: skip
            yield edge

    def __enter__(self) -> Topology:
        self._stack = contextlib.ExitStack()
        try:
            self.start()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()
        # Nothing they would write on a graceful stop is kept: no need to wait for it.
        for service in self.services.values():
            if service.process is not None and service.process.poll() is None:
                os.killpg(service.process.pid, signal.SIGKILL)
                service.process.wait(timeout=10)
        for service in self.services.values():
            if service.proxy:
                service.proxy.close()

    # --- What tests do to it ------------------------------------------------------------------

    def kill(self, name: str) -> None:
        """SIGKILL to the whole process group: the instance dies mid-request, as in a crash."""
        process = self.services[name].process
        assert process is not None and process.poll() is None
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)

    def stop(self, *names: str) -> None:
        """What `docker compose stop` does: SIGTERM, then SIGKILL after a grace period."""
        running = [
            process
            for name in names
            if (process := self.services[name].process) is not None and process.poll() is None
        ]
        for process in running:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
        for process in running:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)

    def runs_here(self) -> list[str]:
        """The services started as processes: our image's, nginx and Redis."""
        return [
            name
            for name, service in self.services.items()
            if "build" in service.spec or name in RUN_FROM_IMAGE
        ]

    def long_running(self) -> list[str]:
        """The services run here that stay up (no one-shot job, no nginx: it is the edge)."""
        return [
            name
            for name in self.runs_here()
            if name != "nginx" and self.services[name].spec.get("restart") != "no"
        ]

    def restart(self, name: str) -> None:
        self.stop(name)
        self.launch(name)
        self.wait_ready(name)

    def instance_at(self, address: str) -> str:
        """The service nginx reached at ``address`` (as its access log writes it)."""
        for service in self.services.values():
            if service.port and address in (service.address, f"127.0.0.1:{service.port}"):
                return service.name
        raise KeyError(address)

    def upstreams(self, edge: Edge, request_id: str) -> list[str]:
        """The instances nginx tried for one request, in order."""
        tried = edge.logged(request_id)["upstream"]
        return [self.instance_at(address) for address in tried.split(", ")]


def _container_port(name: str, spec: Mapping[str, Any]) -> int | None:
    """The one port a service listens on in its container (nginx's are its own): gunicorn's,
    a Celery process's metrics, Redis's."""
    environment = spec.get("environment", {})
    if environment.get("GUNICORN_BIND"):
        return int(environment["GUNICORN_BIND"].rsplit(":", 1)[1])
    if environment.get("METRICS_PORT"):
        return int(environment["METRICS_PORT"])
    if name == "redis":
        return 6379
    return None


@dataclass(frozen=True)
class Outcome:
    status: int  # 0: no answer at all
    request_id: str
    error: str = ""


def hammer(
    edge: Edge,
    path: Callable[[int], str],
    *,
    requests: int,
    clients: int,
    after: tuple[int, Callable[[], None]] | None = None,
) -> list[Outcome]:
    """``requests`` GETs from ``clients`` keep-alive HTTPS connections at once; ``after``:
    (n, action) runs ``action`` once n answers have arrived, while the others go on."""
    numbers = itertools.count()
    outcomes: list[Outcome] = []
    address = urllib.parse.urlsplit(edge.https)

    def client() -> None:
        connection: http.client.HTTPSConnection | None = None
        while (n := next(numbers)) < requests:
            try:
                if connection is None:
                    connection = http.client.HTTPSConnection(
                        address.hostname, address.port, timeout=20, context=edge.tls()
                    )
                connection.request("GET", path(n), headers={"Host": "localhost"})
                response = connection.getresponse()
                response.read()
                outcomes.append(Outcome(response.status, response.headers["X-Request-ID"]))
            except (OSError, http.client.HTTPException) as error:
                outcomes.append(Outcome(0, "", repr(error)))
                if connection is not None:
                    connection.close()
                connection = None
        if connection is not None:
            connection.close()

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    if after is not None:
        count, action = after
        while len(outcomes) < count and any(t.is_alive() for t in threads):
            time.sleep(0.005)
        action()
    for thread in threads:
        thread.join(timeout=120)
    return outcomes
