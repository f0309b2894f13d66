"""The shipped demo catalog: real films, overviews in our own words, generated artwork, and the
top-billed cast and directors of the best-known films."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from catalog.models import Credit
from catalog.services import CreditData, GenreData, MovieData

FIXTURES = Path(__file__).resolve().parent / "fixtures"
DEMO_FIXTURE = FIXTURES / "demo_catalog.json"
DEMO_CREDITS = FIXTURES / "demo_credits.json"


def demo_movies(path: Path = DEMO_FIXTURE, credits_path: Path = DEMO_CREDITS) -> list[MovieData]:
    document = json.loads(path.read_text(encoding="utf-8"))
    credits = demo_credits(credits_path)
    genre_ids = {genre["name"]: genre["tmdb_id"] for genre in document["genres"]}
    return [
        MovieData(
            tmdb_id=item["tmdb_id"],
            imdb_id=item.get("imdb_id", ""),
            title=item["title"],
            original_title=item.get("original_title", ""),
            overview=item.get("overview", ""),
            tagline=item.get("tagline", ""),
            release_date=dt.date.fromisoformat(item["release_date"])
            if item.get("release_date")
            else None,
            runtime=item.get("runtime"),
            popularity=item.get("popularity", 0.0),
            vote_average=item.get("vote_average", 0.0),
            vote_count=item.get("vote_count", 0),
            genres=tuple(
                GenreData(name=name, tmdb_id=genre_ids.get(name)) for name in item["genres"]
            ),
            featured=item.get("featured", False),
            credits=credits.get(item["tmdb_id"]),
        )
        for item in document["movies"]
    ]


def demo_credits(path: Path = DEMO_CREDITS) -> dict[int, tuple[CreditData, ...]]:
    """Credits by the movie's TMDb id: the cast in billing order, then the directors."""
    if not path.exists():
        return {}
    document = json.loads(path.read_text(encoding="utf-8"))
    return {item["tmdb_id"]: _credits(item) for item in document["credits"]}


def _credits(item: dict[str, Any]) -> tuple[CreditData, ...]:
    cast = [
        CreditData(name=part["name"], character=part.get("character", ""), order=position)
        for position, part in enumerate(item.get("cast", []))
    ]
    directors = [
        CreditData(name=name, role=Credit.Role.DIRECTOR, order=position)
        for position, name in enumerate(item.get("directors", []))
    ]
    return (*cast, *directors)
