"""The one interface every source of a movie implements, and the values it deals in.

An adapter answers one question about one provider: the sources it offers for a movie
(``sources``), each of which builds its player URL (``Source.url``). Building URLs never touches
the network; only :func:`check_health` does, and it is what the health probe (and the optional
live check) runs, through ``streamsite.resilience`` with the provider's own timeout and circuit
breaker.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from dataclasses import dataclass, field
from typing import Protocol
from urllib.parse import urlencode

import requests

from streamsite import clock, metrics, resilience
from videos import signing

EMBED = "embed"
HLS = "hls"
# The circuit state reported when CIRCUIT_BREAKERS_ENABLED is off: nothing is ever skipped.
BREAKERS_OFF = "disabled"

HEX_COLOR = re.compile(r"^#?([0-9a-fA-F]{3}|[0-9a-fA-F]{6})$")
# Enough of an embed page to see that it is one; a hostile server cannot make us read more.
HEALTH_BODY_BYTES = 64 * 1024
HTML_MARKERS = (b"<!doctype html", b"<html")


class MovieLike(Protocol):
    """What an adapter needs of a movie: a ``Movie`` row and a cached :class:`MovieRef` alike."""

    @property
    def tmdb_id(self) -> int: ...


@dataclass(frozen=True)
class MovieRef:
    """The few fields of a movie that sources depend on; small enough to cache."""

    id: int
    tmdb_id: int
    slug: str
    title: str


@dataclass(frozen=True)
class Health:
    """The health probe's last verdict on a provider, as stored on its row."""

    ok: bool | None = None
    checked_at: dt.datetime | None = None
    latency_ms: int | None = None
    detail: str = ""


@dataclass(frozen=True)
class HealthCheck:
    """How to ask a provider whether it is up: what the probe and the live check run."""

    provider: str
    url: str
    timeout: float
    breaker: str


@dataclass(frozen=True)
class Track:
    """A subtitle track of a self-hosted source: a WebVTT file under the asset's directory."""

    language: str
    label: str
    filename: str


@dataclass(frozen=True)
class Source:
    """One way to play one movie. ``page_url`` + ``params`` is the player without options.

    A self-hosted source (``kind == HLS``) names its asset and master playlist instead, and
    its URLs are signed each time they are asked for: the signature expires, so it is never
    part of what the source cache keeps.
    """

    provider: str
    name: str
    kind: str
    priority: int
    page_url: str
    params: tuple[tuple[str, str], ...] = ()
    start_param: str = ""
    color_param: str = ""
    origin: str = ""
    health: Health = field(default_factory=Health)
    check: HealthCheck | None = None
    asset_id: int | None = None
    tracks: tuple[Track, ...] = ()
    thumbnails: str = ""  # the seek-preview WebVTT track of a self-hosted source
    # How the watch page knows an embed plays: the message its player posts once it does
    # ("" for none: the page trusts the iframe's load), and how long it waits for that proof
    # (None: WATCH_SOURCE_TIMEOUT).
    ready_message: str = ""
    player_timeout: float | None = None

    def url(self, *, start: int | None = None, color: str | None = None) -> str:
        """The player URL, starting at ``start`` seconds and tinted ``color`` where supported.

        For HLS, the signed master playlist; the player itself seeks to ``start``.
        """
        if self.asset_id is not None:
            return signing.signed_url(self.asset_id, self.page_url)
        params = dict(self.params)
        if color and self.color_param:
            params[self.color_param] = normalize_color(color)
        if start and self.start_param:
            params[self.start_param] = str(int(start))
        return f"{self.page_url}?{urlencode(params)}" if params else self.page_url

    def thumbnails_url(self) -> str:
        """The signed seek-preview track, or "" when the source has none."""
        if self.asset_id is None or not self.thumbnails:
            return ""
        return signing.signed_url(self.asset_id, self.thumbnails)

    def subtitles(self) -> list[tuple[Track, str]]:
        """Each subtitle track with its signed URL."""
        if self.asset_id is None:
            return []
        return [(track, signing.signed_url(self.asset_id, track.filename)) for track in self.tracks]


@dataclass(frozen=True)
class ProviderStatus:
    """A provider's health as the resolver sees it right now."""

    circuit: str
    retry_after: float | None = None
    health: Health = field(default_factory=Health)

    @property
    def playable(self) -> bool:
        return self.circuit != resilience.OPEN


@dataclass(frozen=True)
class ProbeResult:
    ok: bool
    outcome: str
    detail: str
    latency_ms: int | None = None


def normalize_color(value: str) -> str:
    """``#E50914``, ``e50914`` or ``f00`` → ``e50914`` / ``ff0000``: six hex digits, no ``#``.

    Embed players take the colour as a bare hex string (a ``#`` would start the URL fragment),
    and not all of them understand the three-digit shorthand. Raises ``ValueError``.
    """
    match = HEX_COLOR.match(value.strip())
    if not match:
        raise ValueError("Give a colour as 3 or 6 hex digits, e.g. e50914.")
    digits = match.group(1).lower()
    return "".join(c * 2 for c in digits) if len(digits) == 3 else digits


def circuit_status(breaker_name: str, health: Health = Health()) -> ProviderStatus:
    """The live circuit state of ``breaker_name`` (one Redis read with shared breakers)."""
    if not resilience.breakers_enabled():
        return ProviderStatus(circuit=BREAKERS_OFF, health=health)
    breaker = resilience.get_breaker(breaker_name)
    snapshot = breaker.snapshot()
    state = str(snapshot["state"])
    retry_after = None
    if state == resilience.OPEN and snapshot["opened_at"] is not None:
        retry_after = max(0.0, snapshot["opened_at"] + breaker.reset_timeout - clock.time())
    return ProviderStatus(circuit=state, retry_after=retry_after, health=health)


class UnhealthyResponse(Exception):
    """The provider answered, but not with a player page."""

    def __init__(self, outcome: str, detail: str) -> None:
        super().__init__(detail)
        self.outcome = outcome
        self.detail = detail


def check_health(check: HealthCheck) -> ProbeResult:
    """GET the provider's health path once through its breaker; never raises.

    Healthy means a 2xx/3xx answer whose body is an HTML page: a provider that answers 200 with
    an error blob or a stream of junk is as useless to a viewer as one that is down. Every
    outcome feeds the provider's circuit breaker and the provider metrics.
    """
    breaker = resilience.get_breaker(check.breaker)
    started = time.perf_counter()
    try:
        with breaker.guard():
            _fetch_player_page(check)
    except resilience.CircuitOpenError as exc:
        metrics.PROVIDER_REQUESTS.labels(provider=check.provider, outcome="circuit_open").inc()
        detail = f"circuit open, next probe in {exc.retry_after:.0f}s"
        return ProbeResult(False, "circuit_open", detail)
    except UnhealthyResponse as exc:
        outcome, detail = exc.outcome, exc.detail
    except requests.Timeout:
        outcome, detail = "timeout", f"no answer within {check.timeout:g}s"
    except requests.ConnectionError as exc:
        outcome, detail = "connection_error", resilience.failure_reason(exc)
    except requests.RequestException as exc:
        outcome, detail = "error", type(exc).__name__
    else:
        latency_ms = _observe(check, started, "ok")
        return ProbeResult(True, "ok", f"HTML page in {latency_ms} ms", latency_ms)
    return ProbeResult(False, outcome, detail, _observe(check, started, outcome))


def _fetch_player_page(check: HealthCheck) -> None:
    response = resilience.request(
        "GET",
        check.url,
        service=f"provider:{check.provider}",
        timeout=(check.timeout, check.timeout),
        # One attempt: the probe runs again in a few seconds and the breaker counts each one.
        max_attempts=1,
        headers={"Accept": "text/html"},
        stream=True,
    )
    with response:
        if response.status_code >= 500:
            raise UnhealthyResponse("server_error", f"HTTP {response.status_code}")
        if response.status_code >= 400:
            raise UnhealthyResponse("client_error", f"HTTP {response.status_code}")
        content_type = response.headers.get("Content-Type", "").lower()
        head = response.raw.read(HEALTH_BODY_BYTES, decode_content=True) or b""
    if "html" not in content_type or not any(m in head.lower() for m in HTML_MARKERS):
        shown = content_type.split(";")[0] or "no content type"
        raise UnhealthyResponse(
            "bad_response", f"HTTP {response.status_code} but not HTML ({shown})"
        )


def _observe(check: HealthCheck, started: float, outcome: str) -> int:
    """Count the outcome and time the call; returns the latency in milliseconds."""
    seconds = time.perf_counter() - started
    metrics.PROVIDER_REQUESTS.labels(provider=check.provider, outcome=outcome).inc()
    metrics.PROVIDER_REQUEST_SECONDS.labels(provider=check.provider).observe(seconds)
    return round(seconds * 1000)
