"""DRF authentication for ``Authorization: Api-Key <key>``.

The header parsing lives in :func:`api_key_from_header` so the rate-limit middleware reads the
header exactly the way DRF does, and the key lookup lives in ``accounts.services``.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from accounts import services
from accounts.models import ApiKey

SCHEME = "Api-Key"


def api_key_from_header(header: str | None) -> str | None:
    """The raw key of an ``Api-Key <key>`` Authorization header, else None."""
    if not header:
        return None
    scheme, _, key = header.strip().partition(" ")
    if scheme.lower() != SCHEME.lower():
        return None
    return key.strip() or None


class ApiKeyAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request: Request) -> tuple[AbstractBaseUser, ApiKey] | None:
        header = request.META.get("HTTP_AUTHORIZATION")
        raw_key = api_key_from_header(header)
        if raw_key is None:
            if header and header.strip().lower() == SCHEME.lower():
                raise exceptions.AuthenticationFailed("Api-Key header has no key.")
            return None
        api_key = services.request_api_key(request._request, raw_key)
        if api_key is None:
            raise exceptions.AuthenticationFailed("Invalid or revoked API key.")
        return api_key.user, api_key

    def authenticate_header(self, request: Request) -> str:
        # Makes unauthenticated API requests 401 with a challenge naming the scheme, not 403.
        return f'{SCHEME} realm="api"'


class ApiKeyScheme(OpenApiAuthenticationExtension):
    """Documents the scheme in the OpenAPI schema (Swagger's "Authorize" button)."""

    target_class = "accounts.authentication.ApiKeyAuthentication"
    name = "ApiKeyAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Api-Key <key>`. Keys are issued in the admin and unlock the api "
            "tier's rate limit.",
        }
