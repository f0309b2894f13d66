"""Playback tokens: how the player's heartbeats prove who sent them without a session lookup.

The watch page signs ``<user id>:<movie id>`` with the project's secret key and a timestamp
(Django's ``TimestampSigner``) and gives it to the player, which sends it with every heartbeat
in the ``X-Progress-Token`` header (or, in the page-hide beacon, the ``progress_token`` form
field). Checking it is an HMAC: no session, user or database read, so a heartbeat costs one
Redis call in all (``progress.buffer``).

What a token can do is deliberately small: record progress for that one viewer and movie,
for ``PROGRESS_TOKEN_MAX_AGE`` seconds. It is not a cookie, so a page on another site cannot
make the browser send it, and no CSRF token is needed with it. Signing out, a password change
or a deactivation does not reach tokens already issued; they only expire. A request whose
token is missing, expired, forged or for another movie is authenticated the ordinary way
(session cookie with CSRF, or API key), which the player always sends as well.
"""

from __future__ import annotations

from django.conf import settings
from django.core import signing

from streamsite import clock
from streamsite.localcache import LocalCache

HEADER = "HTTP_X_PROGRESS_TOKEN"
FORM_FIELD = "progress_token"
_SALT = "streamsite.progress.playback-token"

# A player sends the same token every 10 s: each process remembers the tokens it has checked
# (token -> (user id, movie id)) until they expire rather than computing the HMAC again.
# Bounded: a flood of random tokens is never remembered (only genuine ones are), and the least
# recently used go first when full.
_checked = LocalCache(maxsize=50_000)


def issue(*, user_id: int, movie_id: int) -> str:
    return signing.TimestampSigner(salt=_SALT).sign(f"{user_id}:{movie_id}")


def grant_of(token: str | None) -> tuple[int, int] | None:
    """(viewer, movie) of a genuine, unexpired token."""
    return _claims(token)


def _claims(token: str | None) -> tuple[int, int] | None:
    """(user id, movie id) of a genuine, unexpired token, remembered until it expires."""
    if not token:
        return None
    return _checked.get(token) or _check(token)


def _check(token: str) -> tuple[int, int] | None:
    signer = signing.TimestampSigner(salt=_SALT)
    max_age = settings.PROGRESS_TOKEN_MAX_AGE
    try:
        value = signer.unsign(token, max_age=max_age)
    except signing.BadSignature:  # forged, malformed or expired (SignatureExpired)
        return None
    user_id, _, movie_id = value.partition(":")
    if not (user_id.isdigit() and movie_id.isdigit()):
        return None
    # "<user>:<movie>:<timestamp>:<signature>", and the signature was just found genuine.
    signed_at = signing.b62_decode(token.rsplit(signer.sep, 2)[1])
    claims = (int(user_id), int(movie_id))
    _checked.set(token, claims, seconds=max_age - (clock.time() - signed_at))
    return claims
