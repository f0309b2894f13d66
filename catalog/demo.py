"""The shipped demo catalog: real films, overviews in our own words, generated artwork."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from catalog.services import GenreData, MovieData

DEMO_FIXTURE = Path(__file__).resolve().parent / "fixtures" / "demo_catalog.json"


def demo_movies(path: Path = DEMO_FIXTURE) -> list[MovieData]:
    document = json.loads(path.read_text(encoding="utf-8"))
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
        )
        for item in document["movies"]
    ]
