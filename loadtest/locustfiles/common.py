"""What every journey shares: a client address of its own, the parameters, the demo catalog.

Parameters are locust options (``locust --help`` lists them under "Custom arguments"); each has
a documented default (README, "Load testing"). The share of each journey in a mixed run is
``LOADTEST_MIX`` (read when the file loads, as locust reads class weights then).
"""

from __future__ import annotations

import ipaddress
import itertools
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import urllib3
from locust import HttpUser, events
from requests.adapters import HTTPAdapter

from loadtest import recorder
from loadtest.catalog import Catalog, read_catalog

# A journey's share of the users in a mixed run, by its name (locust's class weight).
DEFAULT_MIX = "browser=55,viewer=30,api=8,api_over_limit=2,scanner=3,flooder=2"


def mix_weight(journey: str) -> int:
    shares = dict(
        part.split("=") for part in os.environ.get("LOADTEST_MIX", DEFAULT_MIX).split(",") if part
    )
    return int(shares.get(journey, 0))


@events.init_command_line_parser.add_listener
def _parameters(parser: Any) -> None:
    group = parser.add_argument_group("StreamSite journeys")
    group.add_argument(
        "--think-min", type=float, default=3.0, help="Seconds a browser reads a page, at least"
    )
    group.add_argument("--think-max", type=float, default=12.0, help="... and at most")
    group.add_argument(
        "--heartbeat-seconds",
        type=float,
        default=10.0,
        help="Between two heartbeats while playing (the player's HEARTBEAT_MS)",
    )
    group.add_argument(
        "--watch-minutes",
        type=float,
        default=8.0,
        help="Mean time a viewer watches one film before leaving the page",
    )
    group.add_argument(
        "--pause-share",
        type=float,
        default=0.05,
        help="Chance, at each heartbeat, that the viewer pauses (5 to 40 s)",
    )
    group.add_argument(
        "--seek-share",
        type=float,
        default=0.05,
        help="Chance, at each heartbeat, that the viewer seeks",
    )
    group.add_argument(
        "--api-think",
        type=float,
        default=2.5,
        help="Seconds between an API consumer's requests, under its limit",
    )
    group.add_argument(
        "--api-keys-file",
        default=os.environ.get("LOADTEST_API_KEYS_FILE", ""),
        help="API keys, one a line (make loadtest makes them)",
    )
    group.add_argument(
        "--client-network",
        default=os.environ.get("LOADTEST_CLIENT_NETWORK", ""),
        help="Loopback network each client takes an address of its own from "
        "(empty: the system's choice)",
    )
    group.add_argument(
        "--host-header",
        default=os.environ.get("LOADTEST_HOST_HEADER", ""),
        help="Host header to send (the site's name when --host is an address)",
    )
    group.add_argument(
        "--samples",
        default=os.environ.get("LOADTEST_SAMPLES", ""),
        help="CSV file of every request (for the summary and the step-load search)",
    )


@dataclass
class _State:
    environment: Any = None
    addresses: Iterator[str] | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    catalog: Catalog | None = None
    api_keys: list[str] = field(default_factory=list)
    next_key: Iterator[int] = field(default_factory=itertools.count)


_state = _State()


@events.init.add_listener
def _init(environment: Any, **_: Any) -> None:
    _state.environment = environment
    network = environment.parsed_options.client_network
    if network:
        _state.addresses = (str(a) for a in ipaddress.ip_network(network).hosts())
    keys_file = environment.parsed_options.api_keys_file
    if keys_file:
        with open(keys_file) as keys:
            _state.api_keys = [line.strip() for line in keys if line.strip()]
    if environment.parsed_options.samples:
        recorder.attach(environment, environment.parsed_options.samples)


@events.test_start.add_listener
def _read_catalog(environment: Any, **_: Any) -> None:
    _state.catalog = read_catalog(environment.host, environment.parsed_options.host_header)


def catalog() -> Catalog:
    assert _state.catalog is not None, "the catalog is read when the run starts"
    return _state.catalog


def next_api_key() -> str:
    assert _state.api_keys, "API consumers need keys: --api-keys-file (make loadtest makes them)"
    with _state.lock:
        return _state.api_keys[next(_state.next_key) % len(_state.api_keys)]


class SourceAddressAdapter(HTTPAdapter):
    """Connections from one given local address: one client, one address, as the shield sees
    visitors in production."""

    def __init__(self, address: str, **kwargs: Any) -> None:
        self.address = address
        super().__init__(**kwargs)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["source_address"] = (self.address, 0)
        super().init_poolmanager(*args, **kwargs)


class Client(HttpUser):
    """One visitor: an address, a cookie jar and a keep-alive connection of its own."""

    abstract = True
    journey = "client"
    address = ""

    def on_start(self) -> None:
        urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
        self.client.verify = False  # the edge's certificate is self-signed on this machine
        self.client.trust_env = False  # an environment CA bundle would override verify
        parsed = self.environment.parsed_options
        if _state.addresses is not None:
            with _state.lock:
                self.address = next(_state.addresses)
            adapter = SourceAddressAdapter(self.address)
            self.client.mount("https://", adapter)
            self.client.mount("http://", adapter)
        if parsed.host_header:
            self.client.headers["Host"] = parsed.host_header
        self.client.headers["User-Agent"] = f"StreamSite load test ({self.journey})"

    def context(self) -> dict[str, str]:
        return {"journey": self.journey, "client": self.address}

    def origin(self) -> str:
        """What a browser sends as Origin on this site (Django's CSRF check compares it)."""
        header = self.environment.parsed_options.host_header
        return f"https://{header}" if header else self.host.rstrip("/")
