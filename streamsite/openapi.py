"""The OpenAPI schema: generated from the DRF views once per process, and served from memory.

The schema only changes with the code, so a process generates it once (per API version and
language) instead of on every request: generation costs tens of milliseconds or more, and the
schema and the docs page that loads it are not rate limited.
"""

from __future__ import annotations

import threading
from typing import Any

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.urls import get_urlconf
from django.utils import translation
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.request import Request
from rest_framework.response import Response

_schemas: dict[tuple[Any, ...], dict[str, Any]] = {}
_lock = threading.Lock()


class SchemaView(SpectacularAPIView):
    # Never rate limited (shield.decorators), but still seen by flood detection: the docs page
    # and the schema it loads are reading material, not API calls (one load of the docs is three
    # requests), and must not go blank when a client has spent its allowance.
    shield_bucket = "exempt"

    def _get_schema_response(self, request: Request) -> Response:
        version = self.api_version or request.version or self._get_version_parameter(request)
        key = (get_urlconf() or settings.ROOT_URLCONF, version, translation.get_language())
        schema = _schemas.get(key)
        if schema is None:
            with _lock:  # concurrent first requests wait for one generation
                schema = _schemas.get(key)
                if schema is None:
                    generator = self.generator_class(
                        urlconf=self.urlconf, api_version=version, patterns=self.patterns
                    )
                    schema = generator.get_schema(request=request, public=self.serve_public)
                    _schemas[key] = schema
        filename = self._get_filename(request, version)
        return Response(schema, headers={"Content-Disposition": f'inline; filename="{filename}"'})


class DocsView(SpectacularSwaggerSplitView):
    """Swagger UI; its start-up script is a file of its own (?script): the CSP allows no inline
    script."""

    shield_bucket = "exempt"  # as the schema it loads


@receiver(setting_changed)
def _forget_schemas(**kwargs: Any) -> None:
    """Settings overrides (tests) may change what the schema says: generate it again."""
    with _lock:
        _schemas.clear()


# --- What every operation may answer ----------------------------------------------------------
# The views document their own successes and the errors only they give; these are the errors any
# operation can give, whatever its view says, because something in front of the view answers:
# authentication (a wrong API key is refused everywhere), the shield (blocks, rate limits), the
# parsers, and the database's breaker (a 503 while it is unreachable).

ERROR = {"$ref": "#/components/schemas/Error"}
RETRY_AFTER = {
    "description": "Seconds to wait before trying again.",
    "schema": {"type": "integer", "minimum": 1},
}
RATE_LIMIT_HEADERS = {
    name: {"description": description, "schema": {"type": "integer"}}
    for name, description in {
        "RateLimit-Limit": "Requests allowed in the window.",
        "RateLimit-Remaining": "Requests left in the window now.",
        "RateLimit-Reset": "Seconds until the oldest counted request leaves the window.",
    }.items()
}


def _error(description: str, **headers: dict[str, Any]) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": description,
        "content": {"application/json": {"schema": ERROR}},
    }
    if headers:
        response["headers"] = headers
    return response


def document_errors(
    result: dict[str, Any], generator: Any, request: Any, public: bool
) -> dict[str, Any]:
    """drf-spectacular post-processing hook (settings.SPECTACULAR_SETTINGS)."""
    result.setdefault("components", {}).setdefault("schemas", {}).setdefault(
        "Error", _ERROR_COMPONENT
    )
    schemas = result["components"]["schemas"]
    for item in result.get("paths", {}).values():
        for operation in item.values():
            _document(operation)
            # Every body this API takes refuses fields it does not know (a typo must not be
            # ignored), so a client may not send any.
            for content in operation.get("requestBody", {}).get("content", {}).values():
                name = content["schema"].get("$ref", "").rpartition("/")[2]
                if name in schemas:
                    schemas[name]["additionalProperties"] = False
    return result


def _document(operation: dict[str, Any]) -> None:
    responses = operation.setdefault("responses", {})
    parameters = operation.get("parameters", [])
    takes_input = "requestBody" in operation or any(p["in"] != "path" for p in parameters)
    common = {
        "400": takes_input
        and _error("Invalid input: the body or a parameter, named in `detail` and `fields`."),
        "401": _error(
            "An `Authorization` header with an invalid or revoked API key (on any operation), "
            "or no credentials where they are required."
        ),
        "403": _error(
            "Refused: the address is blocked after unusual traffic (`blocked`, with "
            "`Retry-After`), or a signed-in browser request without its CSRF token."
        ),
        "404": any(p["in"] == "path" for p in parameters)
        and _error("Nothing by that id (or not published)."),
        "413": "requestBody" in operation
        and _error("The body is larger than this operation takes."),
        "415": "requestBody" in operation and _error("A body in a content type not listed here."),
        "429": _error(
            "Over the rate limit of the caller's tier.",
            **{"Retry-After": {**RETRY_AFTER, "required": True}},
            **RATE_LIMIT_HEADERS,
        ),
        "503": _error(
            "The database is unreachable and no stored copy of the answer exists.",
            **{"Retry-After": {**RETRY_AFTER, "required": True}},
        ),
    }
    for status, response in common.items():
        if not response:
            continue
        existing = responses.get(status)
        if existing is None:
            responses[status] = response
        elif "content" not in existing:
            # A view that says only why it gives this error (a 404 for a body's movie id)
            # answers it in the one error shape.
            existing["content"] = response["content"]
            existing.setdefault("headers", response.get("headers", {}))
        elif status == "503" and "content" in existing:
            # The view's own 503 (no source can play) or the database's: either shape.
            own = existing["content"]["application/json"]["schema"]
            existing["content"]["application/json"]["schema"] = {"anyOf": [own, ERROR]}
            existing["description"] += " Or: " + response["description"]
            existing.setdefault("headers", response["headers"])


# streamsite.api.json_error and the DRF exception handler give this shape.
_ERROR_COMPONENT: dict[str, Any] = {
    "type": "object",
    "properties": {
        "error": {
            "type": "string",
            "description": "A stable code: invalid, not_found, not_authenticated, blocked, "
            "rate_limited, unavailable…",
        },
        "detail": {
            "type": "string",
            "description": "One sentence for people; about a parameter, it starts with its name.",
        },
        "fields": {
            "type": "object",
            "description": "Invalid input: every parameter that is wrong, with its messages.",
            "additionalProperties": {"type": "array", "items": {"type": "string"}},
        },
    },
    "required": ["error", "detail"],
}
