"""The playback token as a DRF authentication: how the player's writes (heartbeats, QoE reports)
say who sent them without a session read.

The token (``progress.tokens``) rides in the ``X-Progress-Token`` header, or in the body's
``progress_token`` (the page-hide beacon cannot send headers). A token proves one viewer for one
movie: it authenticates POSTs only, and where the URL names a movie, only for that movie;
``request.auth`` is a :class:`PlaybackGrant` naming the movie, which a view whose URL names
something else (a viewing session) checks against it. Anything else is left to the other
authentications (API key, session cookie with CSRF), which the player always sends as well.

The header's token is resolved once per request by accounts' authentication step (progress
registers its resolver in ``apps.py``); checking it is an HMAC, remembered per process: no
session, user or database read. The viewer is known by id alone, which is all the player's
writes need; signing out, a password change or a deactivation does not reach tokens already
issued, they only expire.
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

from accounts.authentication import identity_of
from progress import qoe, tokens

BODY_TYPES = ("application/json", "application/x-www-form-urlencoded", "multipart/form-data")
# A body this class may read for its token: no player sends more (a QoE report at most).
MAX_BODY_BYTES = qoe.MAX_BODY_BYTES


@dataclass(frozen=True)
class PlaybackGrant:
    """What a playback token allows: this viewer's playback of this movie."""

    movie_id: int


class PlaybackTokenAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request: Request) -> tuple[AbstractBaseUser, PlaybackGrant] | None:
        if request.method != "POST":
            return None
        found = _grant(request)
        if found is None:
            return None
        user_id, movie_id = found
        named = (request.parser_context or {}).get("kwargs", {}).get("movie_id")
        if named is not None and named != movie_id:
            return None
        # The id is all the player's writes need: no query.
        return get_user_model()(pk=user_id), PlaybackGrant(movie_id)


def _grant(request: Request) -> tuple[int, int] | None:
    """(viewer, movie) of the request's playback token: the header's, as accounts' one
    authentication step resolved it, else the body's (the page-hide beacon)."""
    if request.META.get(tokens.HEADER) is not None:
        token = identity_of(request).token
        if token is None or not isinstance(token.grant, PlaybackGrant):
            return None
        return token.user_id, token.grant.movie_id
    media_type = request.content_type.partition(";")[0].strip().lower()
    if media_type in BODY_TYPES and _small(request):
        body: Any = request.data
        if isinstance(body, Mapping) and isinstance(body.get(tokens.FORM_FIELD), str):
            return tokens.grant_of(body[tokens.FORM_FIELD])
    return None


def _small(request: Request) -> bool:
    declared = request.META.get("CONTENT_LENGTH") or ""
    return declared.isdigit() and int(declared) <= MAX_BODY_BYTES


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
            "in the body.",
        }
