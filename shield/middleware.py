"""Shield middleware: blocks and detection, then rate limits, in the bucket the view declares.

Both act in ``process_view``, once Django has resolved the view, and read the mark the view
carries (``shield.decorators``): the shield knows no URL and imports no app. A view marked as a
probe (health checks, metrics) is neither limited, counted nor blocked.

``ShieldMiddleware`` refuses blocked clients with a 403 before the view runs and feeds DDoS
detection: every request, including those that reach no view (unknown paths, requests a
middleware refused), which it counts once answered. ``RateLimitMiddleware`` applies the
sliding-window limits (the caller's tier on the API, the player's own bucket for heartbeats,
sign-in and sign-up form posts per address and username). Who is asking comes from
``request.identity``, the one authentication step of accounts (API key, a token another app
vouches for, or the session), which the shield reads but does not import. A client just refused
is refused again from process memory until its window frees, with no Redis call.

Rate-limit headers on every limited API response::

    RateLimit-Limit / X-RateLimit-Limit          requests allowed in the window
    RateLimit-Remaining / X-RateLimit-Remaining  requests left now
    RateLimit-Reset                              seconds until the oldest counted request
                                                 leaves the window (IETF draft)
    X-RateLimit-Reset                            the same moment as a Unix timestamp

When Redis is unavailable requests are let through uncounted and these headers are omitted
(there is nothing true to say).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from limits import RateLimitItem

from shield import decorators, detection, ratelimit
from shield.client_ip import client_ip
from shield.local_blocks import Blocked
from shield.ratelimit import Decision
from streamsite.api import is_api, json_error

ANONYMOUS = "anonymous"  # the tier of a client known only by its address
NO_VIEW = object()  # the bucket of a request that reached no view

GetResponse = Callable[[HttpRequest], HttpResponse]


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
        response = self.get_response(request)
        if not settings.SHIELD_ENABLED:
            return response
        bucket = getattr(request, "_shield_bucket", NO_VIEW)
        if bucket == decorators.PROBE or getattr(request, "_shield_blocked", False):
            return response
        ip = client_ip(request)
        if detection.allowlisted(ip):
            return response
        if bucket is NO_VIEW:
            # No view was reached (an unknown path, a request a middleware refused): the
            # request is counted now, and refused if its address is blocked.
            blocked = detection.observe_request(ip)
            if blocked is not None:
                return blocked_response(request, blocked)
        status = response.status_code
        # A 429 is our own answer to a client over its limit, not a sign of abuse: counting it
        # would escalate a client that honours Retry-After a little late to a block.
        if 400 <= status < 500 and status != 429 and not is_asset(request.path):
            detection.observe_error(ip, request.path, status)
        return response

    def process_view(
        self, request: HttpRequest, view: Callable[..., Any], args: Any, kwargs: Any
    ) -> HttpResponse | None:
        bucket = request._shield_bucket = decorators.bucket_of(view)  # type: ignore[attr-defined]
        if not settings.SHIELD_ENABLED or bucket == decorators.PROBE:
            return None
        ip = client_ip(request)
        if detection.allowlisted(ip):
            return None
        blocked = detection.observe_request(
            ip, accountable=lambda: bucket == decorators.TIER and _keyed(request)
        )
        if blocked is None:
            return None
        request._shield_blocked = True  # type: ignore[attr-defined]
        return blocked_response(request, blocked)


def _keyed(request: HttpRequest) -> bool:
    """The caller named a valid API key: its tier's limit governs it, not flood detection.

    A made-up key is counted like any anonymous request.
    """
    identity = getattr(request, "identity", None)
    if identity is None:
        return False
    try:
        return identity.api_key is not None
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
        response = self.get_response(request)
        return with_headers(request, response, getattr(request, "_ratelimit_decision", None))

    def process_view(
        self, request: HttpRequest, view: Callable[..., Any], args: Any, kwargs: Any
    ) -> HttpResponse | None:
        """Count the request in the view's bucket; a 429 response when over a limit."""
        if not settings.SHIELD_ENABLED:
            return None
        for check in checks_for(request, decorators.bucket_of(view)):
            decision = ratelimit.decide(check.item, check.key, tier=check.tier)
            request._ratelimit_decision = decision  # type: ignore[attr-defined]
            if decision is not None and not decision.allowed:
                return too_many_requests(request, decision)
        return None


def checks_for(request: HttpRequest, bucket: str | None) -> list[Check]:
    """The limits a request to a view declaring ``bucket`` is counted against."""
    if bucket in (None, decorators.EXEMPT, decorators.PROBE):
        return []
    if bucket in (decorators.LOGIN, decorators.SIGNUP):
        return _form_checks(request, bucket) if request.method == "POST" else []
    if bucket == decorators.PROGRESS:
        token = getattr(getattr(request, "identity", None), "token", None)
        if token is not None:
            # A heartbeat's playback token names its viewer: the bucket is found without
            # reading the session and user, which is what the token is for.
            key = f"progress:user:{token.user_id}"
            return [Check(ratelimit.configured("progress"), key, "progress")]
        tier, client = identify(request)
        return [Check(ratelimit.configured("progress"), f"progress:{client}", tier)]
    tier, client = identify(request)
    return [Check(ratelimit.configured(tier), f"{tier}:{client}", tier)]


def _form_checks(request: HttpRequest, form: str) -> list[Check]:
    """Sign-in and sign-up: per IP and per username, where guessing and spam pay."""
    ip = client_ip(request)
    username = request.POST.get("username", "").strip().lower()[:150]
    checks = [Check(ratelimit.configured(f"{form}_ip"), f"{form}:ip:{ip}", ANONYMOUS)]
    if username:
        digest = hashlib.sha256(username.encode()).hexdigest()[:32]
        checks.append(
            Check(ratelimit.configured(f"{form}_username"), f"{form}:user:{digest}", ANONYMOUS)
        )
    return checks


def identify(request: HttpRequest) -> tuple[str, str]:
    """The tier and the bucket identity: API key, token or signed-in user, else client IP."""
    identity = getattr(request, "identity", None)
    if identity is not None:
        try:
            client = identity.client
            if client is not None:
                return identity.tier.value, client
        except DatabaseError:
            # The view will fail or serve stale data on its own; limit by address meanwhile.
            pass
    return ANONYMOUS, f"ip:{client_ip(request)}"


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
