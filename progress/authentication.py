"""The playback token as a DRF authentication, for the player's requests beside heartbeats.

Heartbeats take the token on a path of their own (``progress.api.taking_token_heartbeats``);
the player's other writes (its QoE reports) go through DRF like any request, and this class
lets the same token authenticate them: in the ``X-Progress-Token`` header, or in the JSON
body's ``progress_token`` (the page-hide beacon cannot send headers). A token proves one
viewer for one movie: ``request.auth`` is a :class:`PlaybackGrant` naming the movie, which the
view checks against what the request touches. A request without a genuine token is left to the
other authentications (API key, session cookie with CSRF).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication
from rest_framework.request import Request

from progress import qoe, tokens


@dataclass(frozen=True)
class PlaybackGrant:
    """What a playback token allows: this viewer's playback of this movie."""

    movie_id: int


class PlaybackTokenAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request: Request) -> tuple[AbstractBaseUser, PlaybackGrant] | None:
        grant = tokens.grant_of(_token(request))
        if grant is None:
            return None
        user_id, movie_id = grant
        user = get_user_model().objects.filter(pk=user_id, is_active=True).first()
        if user is None:
            return None
        return user, PlaybackGrant(movie_id)


def _token(request: Request) -> str | None:
    token = request.META.get(tokens.HEADER)
    if token is None and request.content_type == "application/json" and _small(request):
        body: Any = request.data
        if isinstance(body, Mapping):
            token = body.get(tokens.FORM_FIELD)
    return token if isinstance(token, str) else None


class PlaybackTokenScheme(OpenApiAuthenticationExtension):
    target_class = "progress.authentication.PlaybackTokenAuthentication"
    name = "PlaybackToken"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "apiKey",
            "in": "header",
            "name": "X-Progress-Token",
            "description": "The watch page's playback token: this viewer's playback of one "
            "movie, for PROGRESS_TOKEN_MAX_AGE seconds. May also be sent as `progress_token` "
            "in the JSON body.",
        }


def _small(request: Request) -> bool:
    """A body this class may read for its token: no player sends more (progress/qoe.py)."""
    declared = request.META.get("CONTENT_LENGTH") or ""
    return declared.isdigit() and int(declared) <= qoe.MAX_BODY_BYTES
