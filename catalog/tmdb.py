"""TMDb v3 client: the only code that talks to The Movie Database.

Calls go through ``streamsite.resilience`` (pooled session, timeouts, retries honouring
``Retry-After``, the ``tmdb`` circuit breaker) and come back as ``catalog.services`` data, so the
rest of the catalog never sees TMDb's JSON. Failures surface as the typed errors below, whose
messages are written to be shown to an operator as they are.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from typing import Any

import requests
from django.conf import settings

from catalog.models import Credit
from catalog.services import CreditData, GenreData, MovieData
from streamsite import resilience

SERVICE = "tmdb"
# Top-billed parts kept per film: what a detail page shows, not TMDb's full list of extras.
CAST_LIMIT = 12


class TMDbError(Exception):
    """Base of every TMDb failure; the message is one operator-readable sentence."""


class TMDbConfigurationError(TMDbError):
    pass


class TMDbAuthError(TMDbError):
    pass


class TMDbUnavailable(TMDbError):
    pass


class TMDbNotFound(TMDbError):
    pass


@dataclass(frozen=True)
class MoviePage:
    movies: list[MovieData]
    page: int
    total_pages: int


def genres() -> list[GenreData]:
    """TMDb's movie genres (``GET /genre/movie/list``)."""
    body = _get("/genre/movie/list")
    return [GenreData(name=g["name"], tmdb_id=int(g["id"])) for g in _list(body, "genres")]


def popular_movies(page: int, *, genres_by_id: dict[int, GenreData]) -> MoviePage:
    """One page of ``GET /movie/popular``; list items carry only genre ids, mapped here."""
    body = _get("/movie/popular", {"page": page})
    return MoviePage(
        movies=[_movie(item, genres_by_id=genres_by_id) for item in _list(body, "results")],
        page=int(body.get("page", page)),
        total_pages=int(body.get("total_pages", page)),
    )


def movie_details(tmdb_id: int) -> MovieData:
    """``GET /movie/{id}`` with genres, runtime, IMDb id and credits (appended to the same
    response, one request); :class:`TMDbNotFound` on 404."""
    body = _get(f"/movie/{int(tmdb_id)}", {"append_to_response": "credits"})
    movie = _movie(body)
    if isinstance(body.get("credits"), dict):
        movie = replace(movie, credits=_credits(body["credits"]))
    return movie


def movie_credits(tmdb_id: int) -> tuple[CreditData, ...]:
    """``GET /movie/{id}/credits``: the top-billed cast with their characters, and the
    directors. :class:`TMDbNotFound` on 404."""
    return _credits(_get(f"/movie/{int(tmdb_id)}/credits"))


# --- HTTP -----------------------------------------------------------------------------------


def _get(path: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
    base = settings.TMDB_API_URL.rstrip("/")
    params, headers = _authenticate(dict(params or {}))
    try:
        response = resilience.request(
            "GET",
            f"{base}{path}",
            service=SERVICE,
            breaker=resilience.get_breaker(SERVICE),
            timeout=(settings.OUTBOUND_CONNECT_TIMEOUT, settings.TMDB_TIMEOUT),
            params=params,
            headers=headers,
        )
    except resilience.CircuitOpenError as exc:
        raise TMDbUnavailable(
            f"TMDb calls are paused after repeated failures (circuit open); "
            f"try again in {exc.retry_after:.0f}s"
        ) from exc
    except requests.RequestException as exc:
        raise TMDbUnavailable(
            f"Could not reach TMDb at {base}: {resilience.failure_reason(exc)}"
        ) from exc
    return _body(response, base=base, path=path)


def _authenticate(params: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    # The read token wins when both are set: a header stays out of URLs and access logs.
    headers = {"Accept": "application/json"}
    if settings.TMDB_READ_TOKEN:
        headers["Authorization"] = f"Bearer {settings.TMDB_READ_TOKEN}"
    elif settings.TMDB_API_KEY:
        params["api_key"] = settings.TMDB_API_KEY
    else:
        raise TMDbConfigurationError(
            "TMDB_API_KEY or TMDB_READ_TOKEN must be set "
            "(create one at https://www.themoviedb.org/settings/api)"
        )
    return params, headers


def _body(response: requests.Response, *, base: str, path: str) -> dict[str, Any]:
    status = response.status_code
    if status == 401:
        raise TMDbAuthError(
            f"TMDb rejected the API key (401): {_status_message(response)} "
            "Check TMDB_API_KEY or TMDB_READ_TOKEN."
        )
    if status == 404:
        raise TMDbNotFound(f"TMDb has nothing at {path} (404)")
    if status == 429:
        raise TMDbUnavailable(f"TMDb at {base} is still rate limiting (429) after retries")
    if status >= 500:
        raise TMDbUnavailable(f"TMDb at {base} answered HTTP {status} after retries")
    if status >= 400:
        raise TMDbError(f"TMDb refused {path} (HTTP {status}): {_status_message(response)}")
    try:
        body = response.json()
    except ValueError:
        raise TMDbUnavailable(f"TMDb at {base} sent a response that is not JSON") from None
    if not isinstance(body, dict):
        raise TMDbUnavailable(f"TMDb at {base} sent an unexpected response for {path}")
    return body


def _status_message(response: requests.Response) -> str:
    """TMDb's own explanation (``status_message``), when the error body has one."""
    try:
        message = response.json().get("status_message", "")
    except (ValueError, AttributeError):
        message = ""
    return str(message).strip() or response.reason or ""


# --- JSON -> catalog data -------------------------------------------------------------------


def _list(body: dict[str, Any], key: str) -> list[dict[str, Any]]:
    items = body.get(key)
    if not isinstance(items, list):
        raise TMDbUnavailable(f"TMDb response has no {key!r} list")
    return [item for item in items if isinstance(item, dict) and "id" in item]


def _movie(item: dict[str, Any], *, genres_by_id: dict[int, GenreData] | None = None) -> MovieData:
    tmdb_id = int(item["id"])
    return MovieData(
        tmdb_id=tmdb_id,
        title=_text(item.get("title") or item.get("original_title")) or f"TMDb {tmdb_id}",
        original_title=_text(item.get("original_title")),
        imdb_id=_text(item.get("imdb_id"), 16),
        overview=_text(item.get("overview"), None),
        tagline=_text(item.get("tagline")),
        release_date=_date(item.get("release_date")),
        runtime=int(item["runtime"]) if item.get("runtime") else None,
        poster_path=_text(item.get("poster_path")),
        backdrop_path=_text(item.get("backdrop_path")),
        popularity=float(item.get("popularity") or 0),
        vote_average=float(item.get("vote_average") or 0),
        vote_count=int(item.get("vote_count") or 0),
        genres=_genres(item, genres_by_id),
    )


def _genres(
    item: dict[str, Any], genres_by_id: dict[int, GenreData] | None
) -> tuple[GenreData, ...] | None:
    if isinstance(item.get("genres"), list):  # details carry full genre objects
        return tuple(GenreData(name=g["name"], tmdb_id=int(g["id"])) for g in item["genres"])
    if genres_by_id is not None and isinstance(item.get("genre_ids"), list):
        return tuple(genres_by_id[i] for i in item["genre_ids"] if i in genres_by_id)
    return None  # unknown: leave the movie's genres as they are


def _credits(body: dict[str, Any]) -> tuple[CreditData, ...]:
    cast = [item for item in _optional_list(body, "cast") if item.get("name")]
    cast.sort(key=lambda item: _int(item.get("order"), 1_000))
    directors = [
        item
        for item in _optional_list(body, "crew")
        if item.get("job") == "Director" and item.get("name")
    ]
    return tuple(
        [
            CreditData(
                name=_text(item["name"]),
                role=Credit.Role.CAST,
                character=_text(item.get("character")),
                order=position,
                tmdb_id=int(item["id"]),
                profile_path=_text(item.get("profile_path")),
            )
            for position, item in enumerate(cast[:CAST_LIMIT])
        ]
        + [
            CreditData(
                name=_text(item["name"]),
                role=Credit.Role.DIRECTOR,
                order=position,
                tmdb_id=int(item["id"]),
                profile_path=_text(item.get("profile_path")),
            )
            for position, item in enumerate(directors)
        ]
    )


def _optional_list(body: dict[str, Any], key: str) -> list[dict[str, Any]]:
    items = body.get(key)
    if not isinstance(items, list):
        return []
    return [item for item in items if isinstance(item, dict) and isinstance(item.get("id"), int)]


def _int(value: object, default: int) -> int:
    try:
        return int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return default


def _text(value: object, limit: int | None = 255) -> str:
    # Column limits: one overlong TMDb field must not abort a whole import.
    text = str(value).strip() if value else ""
    return text[:limit] if limit else text


def _date(value: object) -> dt.date | None:
    # TMDb sends "" for unknown release dates, and occasionally partial dates.
    try:
        return dt.date.fromisoformat(str(value)) if value else None
    except ValueError:
        return None
