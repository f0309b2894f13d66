"""Template tags that put watch progress on the catalog's pages.

``{% continue_watching_row %}`` renders the home page's "Continue watching" row and
``{% play_actions movie %}`` the detail page's Resume / Play / Watch again button, each for the
signed-in viewer (nothing, or a plain Play, for anyone else).
"""

from __future__ import annotations

from typing import Any

from django import template
from django.conf import settings

from catalog.models import Movie
from progress import services
from streamsite import clock

register = template.Library()
# 2530 → ``42:10``, 3725 → ``1:02:05``: a position as players show it.
register.filter("clock", clock.position)


def _viewer_id(context: template.Context) -> int | None:
    request = context.get("request")
    user = getattr(request, "user", None)
    return user.pk if user is not None and user.is_authenticated else None


@register.inclusion_tag("progress/_continue_watching.html", takes_context=True)
def continue_watching_row(context: template.Context) -> dict[str, Any]:
    user_id = _viewer_id(context)
    items = []
    if user_id is not None:
        limit = settings.PROGRESS_CONTINUE_WATCHING_LIMIT
        items = services.continue_watching(user_id=user_id, limit=limit)
    return {"items": items, "csrf_token": context.get("csrf_token")}


@register.inclusion_tag("progress/_play_actions.html", takes_context=True)
def play_actions(context: template.Context, movie: Movie) -> dict[str, Any]:
    user_id = _viewer_id(context)
    progress = None
    if user_id is not None:
        progress = services.get_progress(user_id=user_id, movie_id=movie.pk)
    if progress is not None and progress.is_completed():
        state = "again"
    elif progress is not None and progress.has_resume_point():
        state = "resume"
    else:
        state = "play"
    return {"movie": movie, "progress": progress, "state": state}
