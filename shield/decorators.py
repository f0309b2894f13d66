"""How a view tells the shield what to do with it, as ``csrf_exempt`` tells the CSRF check.

The shield knows no URL and imports no app: it reads these marks on the view that Django
resolved (``process_view``). They go on a function view or on a view class (DRF's ``as_view()``
keeps the class, Django's too)::

    @rate_limit("progress")
    class MovieProgressView(APIView): ...

A view without a mark is not limited (pages); the API's views are limited by their caller's
tier, which their base class ``streamsite.api.ApiView`` declares. A view of a layer below the
shield, which may not import it, says the same with the attribute the decorator sets
(:data:`BUCKET_ATTRIBUTE`)::

    class SchemaView(SpectacularAPIView):
        shield_bucket = "exempt"

Requests that reach no view (unknown paths, refused by a middleware) are not limited; flood and
scan detection counts them like any other.

Pages that embed provider players mark themselves with ``@frames_players`` so the
Content-Security-Policy lets them frame the enabled providers (``shield.csp``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

V = TypeVar("V", bound=Callable[..., Any])

# The buckets a view may name:
TIER = "tier"  # the caller's tier limit (anonymous, free, premium, api): the API's default
PROGRESS = "progress"  # the player's heartbeats: watching never eats the browsing allowance
LOGIN = "login"  # sign-in form posts: per address and per username
SIGNUP = "signup"  # sign-up form posts: per address and per username
EXEMPT = "exempt"  # never limited (reading material such as the API's docs)
PROBE = "probe"  # never limited, counted or blocked: health checks and metrics, polled by machines
BUCKETS = frozenset({TIER, PROGRESS, LOGIN, SIGNUP, EXEMPT, PROBE})

BUCKET_ATTRIBUTE = "shield_bucket"  # what rate_limit() sets; a view class may set it itself
_FRAMES_PLAYERS = "shield_frames_players"


def rate_limit(bucket: str) -> Callable[[V], V]:
    """Limit the view in ``bucket`` (one of :data:`BUCKETS`)."""
    if bucket not in BUCKETS:
        raise ValueError(f"unknown rate-limit bucket {bucket!r}; one of {sorted(BUCKETS)}")

    def mark(view: V) -> V:
        setattr(view, BUCKET_ATTRIBUTE, bucket)
        return view

    return mark


def frames_players(view: V) -> V:
    """The page embeds provider players: its policy frames the enabled providers."""
    setattr(view, _FRAMES_PLAYERS, True)
    return view


def bucket_of(view: Callable[..., Any]) -> str | None:
    """The bucket the view declared, else None."""
    return _mark(view, BUCKET_ATTRIBUTE)


def frames_players_of(view: Callable[..., Any]) -> bool:
    return bool(_mark(view, _FRAMES_PLAYERS))


def _mark(view: Callable[..., Any], name: str) -> Any:
    found = getattr(view, name, None)
    if found is None:
        view_class = getattr(view, "view_class", None)
        found = getattr(view_class, name, None)
    return found
