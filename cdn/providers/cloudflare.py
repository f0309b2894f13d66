"""The Cloudflare client: purges through ``POST /zones/{zone_id}/purge_cache``, nothing else.

Requests go through ``streamsite.resilience`` (the shared session, timeouts, the breaker shared
in Redis). A POST is never retried there; the purge queue retries instead, later, so a worker
never sleeps on Cloudflare's behalf.

Cloudflare answers ``{"success": bool, "errors": [{"code", "message"}], "messages": [],
"result": {"id": …}}``. A purge names ``files`` (URLs), ``tags`` or ``purge_everything``, at most
100 URLs or tags per request; the account's purge budget is a token bucket (free plan: 5
requests a minute, 25 at once) and going over it is a 429 with ``Retry-After``.
"""

from __future__ import annotations

import json
from typing import Any

import requests
from django.conf import settings

from cdn.models import Kind
from cdn.providers.base import Answer, Budget
from streamsite import resilience

SERVICE = "cloudflare"
BREAKER = "cdn:cloudflare"
MAX_BATCH = 100
_ANSWER_LENGTH = 1000


class Cloudflare:
    name = "cloudflare"

    def __init__(self) -> None:
        self.batch_size = min(settings.CDN_PURGE_BATCH_SIZE, MAX_BATCH)

    def budget(self) -> Budget:
        return Budget(settings.CLOUDFLARE_PURGE_PER_MINUTE, settings.CLOUDFLARE_PURGE_BURST)

    def image_urls(self, url: str) -> list[str]:
        # Purging an image's URL purges every transformation Cloudflare made of it.
        return [url]

    def purge(self, kind: str, values: list[str]) -> Answer:
        body: dict[str, Any]
        if kind == Kind.EVERYTHING:
            body = {"purge_everything": True}
        elif kind == Kind.TAG:
            body = {"tags": values}
        else:
            body = {"files": values}
        api = settings.CLOUDFLARE_API_URL.rstrip("/")
        url = f"{api}/zones/{settings.CLOUDFLARE_ZONE_ID}/purge_cache"
        try:
            response = resilience.request(
                "POST",
                url,
                service=SERVICE,
                breaker=resilience.get_breaker(BREAKER),
                json=body,
                headers={"Authorization": f"Bearer {settings.CLOUDFLARE_API_TOKEN}"},
            )
        except resilience.CircuitOpenError as exc:
            return Answer(False, str(exc), retry_after=exc.retry_after, sent=False)
        except requests.RequestException as exc:
            return Answer(False, f"{type(exc).__name__}: the API could not be reached")
        return _answer(response)


def _answer(response: requests.Response) -> Answer:
    retry_after = resilience.retry_after_seconds(response)
    try:
        data = response.json()
    except ValueError:
        data = None
    if not isinstance(data, dict):
        text = response.text[:_ANSWER_LENGTH]
        return Answer(False, f"not Cloudflare's JSON: {text!r}", response.status_code, retry_after)
    ok = response.status_code < 300 and data.get("success") is True
    if ok:
        result = data.get("result") or {}
        detail = (
            f"success (purge {result.get('id', '?')})" if isinstance(result, dict) else "success"
        )
    else:
        errors = data.get("errors") or []
        detail = "; ".join(_error(error) for error in errors) or "success: false, no errors listed"
    return Answer(ok, detail[:_ANSWER_LENGTH], response.status_code, retry_after)


def _error(error: object) -> str:
    if isinstance(error, dict):
        return f"{error.get('code', '?')}: {error.get('message', '')}".strip()
    return json.dumps(error)[:200]
