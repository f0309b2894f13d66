"""deploy/docker-compose.yml read as compose reads it: YAML merge keys, then ${VAR} interpolation of
every string value, then the parts a test needs (mounts, ports, commands, health checks)."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from tests.deploy.edge import ROOT

DEPLOY = ROOT / "deploy"
COMPOSE = DEPLOY / "docker-compose.yml"
DOCKERFILE = DEPLOY / "Dockerfile"

# Compose's forms used in the file: ${NAME}, ${NAME:-default}, ${NAME:?message}; "$$" is a "$".
_VARIABLE = re.compile(r"\$\$|\$\{(\w+)(?:(:-|:\?)([^}]*))?\}|\$(\w+)")


def interpolate(value: str, variables: Mapping[str, str]) -> str:
    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, operator, argument, bare = match.groups()
        assert not bare, f"write ${{{bare}}}, not ${bare}: {value!r}"
        given = variables.get(name, "")
        if operator == ":?":
            assert given, f"compose refuses to start without {name}: {argument}"
        if operator == ":-" and not given:
            return argument
        return given

    return _VARIABLE.sub(replace, value)


def _interpolated(node: Any, variables: Mapping[str, str]) -> Any:
    if isinstance(node, str):
        return interpolate(node, variables)
    if isinstance(node, list):
        return [_interpolated(item, variables) for item in node]
    if isinstance(node, dict):
        return {key: _interpolated(item, variables) for key, item in node.items()}
    return node


def load(variables: Mapping[str, str]) -> dict[str, Any]:
    """The file with the operator's ``variables`` (DOMAIN, SECRET_KEY…) filled in."""
    return _interpolated(yaml.safe_load(COMPOSE.read_text()), variables)


def image_command() -> list[str]:
    """The Dockerfile's CMD: what a service without a command of its own runs."""
    commands = re.findall(r"^CMD (\[.*\])$", DOCKERFILE.read_text(), re.MULTILINE)
    return json.loads(commands[-1])


@dataclass(frozen=True)
class Mount:
    source: str  # a named volume, or a path relative to deploy/ ("./…")
    target: str
    read_only: bool

    @property
    def is_bind(self) -> bool:
        return self.source.startswith(("./", "../", "/"))


def mounts(service: Mapping[str, Any]) -> list[Mount]:
    parsed = []
    for entry in service.get("volumes", []):
        source, target, *options = entry.split(":")
        parsed.append(Mount(source, target, "ro" in options))
    return parsed


@dataclass(frozen=True)
class Port:
    host_ip: str
    host: int
    container: int


def published(service: Mapping[str, Any]) -> list[Port]:
    ports = []
    for entry in service.get("ports", []):
        *ip, host, container = str(entry).split(":")
        ports.append(Port(ip[0] if ip else "0.0.0.0", int(host), int(container)))  # noqa: S104
    return ports


def command(service: Mapping[str, Any]) -> list[str]:
    return list(service.get("command") or image_command())


def healthcheck(service: Mapping[str, Any]) -> list[str] | None:
    test = service.get("healthcheck", {}).get("test")
    if not test:
        return None
    assert test[0] == "CMD", f"health checks are exec form: {test}"
    return list(test[1:])


def healthcheck_url(service: Mapping[str, Any]) -> str | None:
    found = re.search(r"https?://[^'\" ]+", " ".join(healthcheck(service) or []))
    return found.group(0) if found else None


def instances(compose: Mapping[str, Any]) -> dict[str, str]:
    """gunicorn instances (services with a SERVICE_ROLE) → their role."""
    return {
        name: service["environment"]["SERVICE_ROLE"]
        for name, service in compose["services"].items()
        if "SERVICE_ROLE" in service.get("environment", {})
    }


def started_by_up(compose: Mapping[str, Any]) -> dict[str, Any]:
    """What `docker compose up` starts: every service outside a profile."""
    return {name: s for name, s in compose["services"].items() if not s.get("profiles")}
