"""``{% my_list_button movie %}`` and ``{% my_list_row %}``: My list on the catalog's pages.

Both render for the signed-in viewer only (a visitor's pages are shared through the cache, so
they carry nothing personal); the detail page offers visitors a sign-in link instead
(``visitor_link=True``). What is on the viewer's list is read once per request, however many
cards a page has.
"""

from __future__ import annotations

from typing import Any

from django import template
from django.http import HttpRequest

from catalog.models import ListEntry, Movie

register = template.Library()

ROW_LENGTH = 12


def _viewer_id(request: HttpRequest | None) -> int | None:
    user = getattr(request, "user", None)
    return user.pk if user is not None and user.is_authenticated else None


def listed_ids(request: HttpRequest, user_id: int) -> frozenset[int]:
    """The ids of the movies on the viewer's list, read once per request."""
    found = getattr(request, "_my_list_ids", None)
    if found is None:
        found = frozenset(ListEntry.objects.of_user(user_id).values_list("movie_id", flat=True))
        request._my_list_ids = found  # type: ignore[attr-defined]
    return found


@register.inclusion_tag("catalog/_my_list_button.html", takes_context=True)
def my_list_button(
    context: template.Context, movie: Movie, *, compact: bool = False, visitor_link: bool = False
) -> dict[str, Any]:
    request = context.get("request")
    user_id = _viewer_id(request)
    return {
        "movie": movie,
        "signed_in": user_id is not None,
        "on_list": user_id is not None and movie.pk in listed_ids(request, user_id),
        "compact": compact,
        "visitor_link": visitor_link,
        "next": request.get_full_path() if request is not None else "",
        "csrf_token": context.get("csrf_token"),
    }


@register.inclusion_tag("catalog/_my_list_row.html", takes_context=True)
def my_list_row(context: template.Context) -> dict[str, Any]:
    request = context.get("request")
    user_id = _viewer_id(request)
    movies: list[Movie] = []
    if user_id is not None:
        movies = list(
            Movie.objects.published()
            .with_card_fields()
            .filter(list_entries__user_id=user_id)
            .order_by("-list_entries__added_at", "-id")[:ROW_LENGTH]
        )
    # The context is the page's, so each card's button finds the request and the CSRF token.
    return {**context.flatten(), "movies": movies}
