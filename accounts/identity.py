"""Who makes a request: the one authentication step, read by the shield, DRF and the views.

``accounts.middleware.IdentityMiddleware`` puts an :class:`Identity` on every request as
``request.identity``, before the shield (the session user stays ``request.user``, set by
Django's ``AuthenticationMiddleware``). Each part is worked out when first asked, then kept for
the rest of the request:

1. an ``Authorization: Api-Key <key>`` header: the active key, with its user and profile
   (``accounts.services.active_api_key``, cached until the key, its user or profile changes);
2. else a token that another app vouches for: apps above accounts, which accounts may not
   import, register a resolver here in their ``AppConfig.ready()`` (progress does for the
   player's playback token), as they register their viewing-history erasers;
3. else the session's user.

The shield buckets requests by ``client`` and ``tier``; DRF's authentication classes answer
``user`` and ``api_key`` or ``token`` from here, so a key or token is checked once per request
whoever asks first.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.http import HttpRequest

from accounts import services
from accounts.backends import ModelBackend
from accounts.models import ApiKey, Tier

API_KEY_SCHEME = "Api-Key"


@dataclass(frozen=True)
class Token:
    """What a registered resolver found: the viewer a token was issued to, and what it allows
    (progress: the playback of one movie), which the view checks against the request."""

    user_id: int
    grant: Any = None


TokenResolver = Callable[[HttpRequest], Token | None]

_token_resolvers: list[TokenResolver] = []


def register_token_resolver(resolver: TokenResolver) -> None:
    """``resolver(request)`` returns the :class:`Token` the request carries, else None.

    It reads only what the request brings (headers), never the session, and answers None for a
    token that is not genuine or has expired. Registering the same function twice keeps one.
    """
    if resolver not in _token_resolvers:
        _token_resolvers.append(resolver)


def api_key_from_header(header: str | None) -> str | None:
    """The raw key of an ``Api-Key <key>`` Authorization header, else None."""
    if not header:
        return None
    scheme, _, key = header.strip().partition(" ")
    if scheme.lower() != API_KEY_SCHEME.lower():
        return None
    return key.strip() or None


class Identity:
    """The request's credentials, each checked at most once (see the module's docstring)."""

    def __init__(self, request: HttpRequest) -> None:
        self._request = request

    @cached_property
    def raw_api_key(self) -> str | None:
        return api_key_from_header(self._request.META.get("HTTP_AUTHORIZATION"))

    @cached_property
    def api_key(self) -> ApiKey | None:
        """The active API key the request names, else None (also for a wrong or revoked one)."""
        return services.active_api_key(self.raw_api_key) if self.raw_api_key else None

    @cached_property
    def token(self) -> Token | None:
        """The first token a registered resolver vouches for (never with an API key)."""
        if self.raw_api_key:
            return None
        for resolver in _token_resolvers:
            found = resolver(self._request)
            if found is not None:
                return found
        return None

    @property
    def user(self) -> AbstractBaseUser | AnonymousUser:
        """The API key's owner, else the token's viewer, else the session's user (once Django's
        ``AuthenticationMiddleware`` has run)."""
        if self.api_key is not None:
            return self.api_key.user
        if self.token is not None:
            return self._token_user
        return getattr(self._request, "user", None) or AnonymousUser()

    @cached_property
    def _token_user(self) -> AbstractBaseUser | AnonymousUser:
        user = ModelBackend().get_user(self.token.user_id) if self.token is not None else None
        return user or AnonymousUser()

    @cached_property
    def client(self) -> str | None:
        """Who answers for this traffic, for rate limits: ``key:<id>`` or ``user:<id>``; None
        for an anonymous client (its address stands for it)."""
        if self.api_key is not None:
            return f"key:{self.api_key.pk}"
        if self.token is not None:  # without reading the session or the user
            return f"user:{self.token.user_id}"
        user = self.user
        return f"user:{user.pk}" if user.is_authenticated else None

    @cached_property
    def tier(self) -> Tier:
        if self.api_key is not None:
            return Tier.API
        return services.user_tier(self.user)
