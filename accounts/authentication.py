"""DRF authentication for ``Authorization: Api-Key <key>``, answered by the request's identity.

The key is checked once per request by ``accounts.identity`` (the one authentication step, which
the rate limiter reads too); this class only tells DRF the result.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from accounts.identity import API_KEY_SCHEME as SCHEME
from accounts.identity import Identity
from accounts.models import ApiKey


def identity_of(request: Request) -> Identity:
    """The identity the authentication middleware put on the request (made here without it)."""
    found = getattr(request._request, "identity", None)
    if found is None:
        found = request._request.identity = Identity(request._request)  # type: ignore[attr-defined]
    return found


class ApiKeyAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request: Request) -> tuple[AbstractBaseUser, ApiKey] | None:
        identity = identity_of(request)
        if identity.raw_api_key is None:
            header = request.META.get("HTTP_AUTHORIZATION")
            if header and header.strip().lower() == SCHEME.lower():
                raise exceptions.AuthenticationFailed("Api-Key header has no key.")
            return None
        api_key = identity.api_key
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
