"""Shield middleware: client IP and blocks first, rate limits once the user is known.

``ShieldMiddleware`` sits right after WhiteNoise, before sessions: it resolves the client IP,
refuses blocked clients with a 403 before anything else runs, and feeds DDoS detection.
``RateLimitMiddleware`` sits after authentication (the tier depends on the user or API key) and
applies the sliding-window limits to every ``/api/`` route and to sign-in and sign-up POSTs.
For an API key it looks the key up in the database while Redis decides, so one wait covers
both, and DRF's authentication reuses that lookup. A client just refused is refused again from
process memory until its window frees, with no Redis call and no query.

Rate-limit headers on every limited response::

    RateLimit-Limit / X-RateLimit-Limit          requests allowed in the window
    RateLimit-Remaining / X-RateLimit-Remaining  requests left now
    RateLimit-Reset                              seconds until the oldest counted request
                                                 leaves the window (IETF draft)
    X-RateLimit-Reset                            the same moment as a Unix timestamp

When Redis is unavailable requests are let through uncounted and these headers are omitted
(there is nothing true to say).
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from limits import RateLimitItem

from accounts import services as accounts
from accounts.authentication import api_key_from_header
from accounts.models import Tier
from progress import services as progress
from shield import detection, ratelimit
from shield.client_ip import client_ip
from shield.local_blocks import Blocked
from shield.ratelimit import Decision
from streamsite.api import is_api, json_error

# The player's progress heartbeats have their own bucket (RATELIMIT_PROGRESS), so watching a
# film never eats into the browsing allowance and vice versa.
PROGRESS_PREFIX = "/api/streaming/progress/"

GetResponse = Callable[[HttpRequest], HttpResponse]


def is_exempt(path: str) -> bool:
    """Health checks and metrics: never limited, counted or blocked (load balancers poll them)."""
    return path.startswith(tuple(settings.SHIELD_EXEMPT_PATHS))


def is_asset(path: str) -> bool:
    # A page with a few broken images must not look like a scan.
    return path.startswith(
        (f"/{settings.STATIC_URL.lstrip('/')}", f"/{settings.MEDIA_URL.lstrip('/')}")
    )


# --- Blocks and detection -------------------------------------------------------------------


class ShieldMiddleware:
    def __init__(self, get_response: GetResponse) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        ip = client_ip(request)
        if not settings.SHIELD_ENABLED or is_exempt(request.path) or detection.allowlisted(ip):
            return self.get_response(request)
        blocked = detection.observe_request(ip, accountable=lambda: _keyed_api_call(request))
        if blocked is not None:
            return blocked_response(request, blocked)
        response = self.get_response(request)
        status = response.status_code
        # A 429 is our own answer to a client over its limit, not a sign of abuse: counting it
        # would escalate a client that honours Retry-After a little late to a block.
        if 400 <= status < 500 and status != 429 and not is_asset(request.path):
            detection.observe_error(ip, request.path, status)
        return response


def _keyed_api_call(request: HttpRequest) -> bool:
    """An API call with a valid API key: its tier's limit governs it, not flood detection.

    The key's validity comes from the rate limiter's in-process cache (one query per key per
    API_KEY_CACHE_SECONDS), so a made-up key is counted like any anonymous request.
    """
    if not is_api(request.path):
        return False
    raw_key = api_key_from_header(request.META.get("HTTP_AUTHORIZATION"))
    if not raw_key:
        return False
    try:
        return accounts.cached_api_key_id(raw_key) is not None
    except DatabaseError:
        return False


def blocked_response(request: HttpRequest, blocked: Blocked) -> HttpResponse:
    retry_after = blocked.retry_after()
    if is_api(request.path):
        response: HttpResponse = json_error(
            403,
            "blocked",
            f"Requests from your address are blocked after unusual traffic; "
            f"retry in {retry_after} s.",
        )
    else:
        context = {"retry_after": retry_after, "ip": client_ip(request)}
        response = render(request, "shield/blocked.html", context, status=403)
    response["Retry-After"] = str(retry_after)
    return response


# --- Rate limits ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Check:
    item: RateLimitItem
    key: str
    tier: str


class RateLimitMiddleware:
    def __init__(self, get_response: GetResponse) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not settings.SHIELD_ENABLED:
            return self.get_response(request)
        checks = checks_for(request)
        decision: Decision | None = None
        for check in checks:
            pending = ratelimit.begin(check.item, check.key, tier=check.tier)
            try:
                if pending.waiting and check.tier == Tier.API.value:
                    # While Redis decides, look the key up in the database as DRF's
                    # authentication is about to: the two waits overlap, DRF reuses the answer.
                    _resolve_api_key(request)
            finally:
                decision = pending.result()  # read in any case: the connection must be clear
            if decision is not None and not decision.allowed:
                return with_headers(request, too_many_requests(request, decision), decision)
        response = self.get_response(request)
        return with_headers(request, response, decision)


def checks_for(request: HttpRequest) -> list[Check]:
    path = request.path
    if is_exempt(path) or path.startswith(tuple(settings.RATELIMIT_EXEMPT_PATHS)):
        return []
    if request.method == "POST" and not is_api(path):
        return _form_checks(request, path)
    if not is_api(path):
        return []
    if path.startswith(PROGRESS_PREFIX):
        # A heartbeat's playback token names its viewer: the bucket is found without reading
        # the session and user, which is what the token is for (progress/tokens.py).
        viewer = progress.heartbeat_viewer(request)
        if viewer is not None:
            return [Check(ratelimit.configured("progress"), f"progress:user:{viewer}", "progress")]
        tier, identity = identify(request)
        return [Check(ratelimit.configured("progress"), f"progress:{identity}", tier.value)]
    tier, identity = identify(request)
    return [Check(ratelimit.configured(tier.value), f"{tier.value}:{identity}", tier.value)]


def _form_checks(request: HttpRequest, path: str) -> list[Check]:
    """Sign-in and sign-up: per IP and per username, where guessing and spam pay."""
    for form in ("login", "signup"):
        if path == reverse(f"accounts:{form}"):
            ip = client_ip(request)
            username = request.POST.get("username", "").strip().lower()[:150]
            checks = [
                Check(ratelimit.configured(f"{form}_ip"), f"{form}:ip:{ip}", Tier.ANONYMOUS.value)
            ]
            if username:
                digest = hashlib.sha256(username.encode()).hexdigest()[:32]
                checks.append(
                    Check(
                        ratelimit.configured(f"{form}_username"),
                        f"{form}:user:{digest}",
                        Tier.ANONYMOUS.value,
                    )
                )
            return checks
    return []


def identify(request: HttpRequest) -> tuple[Tier, str]:
    """The tier and the bucket identity: API key, else signed-in user, else client IP."""
    try:
        raw_key = api_key_from_header(request.META.get("HTTP_AUTHORIZATION"))
        if raw_key:
            key_id = accounts.cached_api_key_id(raw_key)
            if key_id is not None:
                return Tier.API, f"key:{key_id}"
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            return accounts.user_tier(user), f"user:{user.pk}"
    except DatabaseError:
        # The view will fail or serve stale data on its own; limit by address meanwhile.
        pass
    return Tier.ANONYMOUS, f"ip:{client_ip(request)}"


def _resolve_api_key(request: HttpRequest) -> None:
    raw_key = api_key_from_header(request.META.get("HTTP_AUTHORIZATION"))
    if raw_key:
        with contextlib.suppress(DatabaseError):  # DRF asks again and reports it properly
            accounts.request_api_key(request, raw_key)


def too_many_requests(request: HttpRequest, decision: Decision) -> HttpResponse:
    retry_after = decision.reset_after()
    if is_api(request.path):
        response: HttpResponse = json_error(
            429,
            "rate_limited",
            f"Rate limit of {decision.limit} requests exceeded; retry in {retry_after} s.",
        )
    else:
        response = render(
            request, "shield/too_many_requests.html", {"retry_after": retry_after}, status=429
        )
    response["Retry-After"] = str(retry_after)
    return response


def with_headers(
    request: HttpRequest, response: HttpResponse, decision: Decision | None
) -> HttpResponse:
    if decision is None or not is_api(request.path):
        return response
    now = time.time()
    reset_after = decision.reset_after(now)
    for prefix in ("RateLimit", "X-RateLimit"):
        response[f"{prefix}-Limit"] = str(decision.limit)
        response[f"{prefix}-Remaining"] = str(decision.remaining)
    response["RateLimit-Reset"] = str(reset_after)
    response["X-RateLimit-Reset"] = str(int(now) + reset_after)
    return response
