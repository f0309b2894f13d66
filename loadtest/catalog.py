"""The demo catalog as the journeys see it: films, genres and the queries people type.

Read through the site's public API (no locust here: the runner warms the site with it too).
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from typing import Any

import requests
import urllib3


@dataclass
class Catalog:
    """What the journeys pick from: read from the site's API when the run starts."""

    movies: list[dict[str, Any]]
    genres: list[str]
    queries: list[str]

    def popular_movie(self) -> dict[str, Any]:
        # Viewers pick the films at the top of the list more often (the list is most popular
        # first): a Zipf-like choice, as real catalogs see.
        index = min(int(random.paretovariate(1.2)) - 1, len(self.movies) - 1)
        return self.movies[index]


def read_catalog(host: str, host_header: str) -> Catalog:
    """Every published film and genre, through the API as any client reads them."""
    urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
    session = requests.Session()
    session.verify = False
    session.trust_env = False  # an environment CA bundle would override verify=False
    if host_header:
        session.headers["Host"] = host_header
    genres = session.get(f"{host}/api/genres", timeout=30).json()
    genre_slugs = [
        g["slug"] for g in (genres.get("results", genres) if isinstance(genres, dict) else genres)
    ]
    movies: list[dict[str, Any]] = []
    url: str | None = f"{host}/api/movies?page_size=100"
    while url and len(movies) < 2000:
        page = session.get(url, timeout=30).json()
        movies += page["results"]
        url = page.get("next")
        if url and host_header:  # the API writes links for the Host it was asked with
            url = re.sub(r"^https?://[^/]+", host, url)
    return Catalog(movies=movies, genres=genre_slugs, queries=search_queries(movies, genre_slugs))


def search_queries(movies: list[dict[str, Any]], genres: list[str]) -> list[str]:
    """What people type: a word of a title, a title's start, a whole title in lower case, a
    misspelt word, a genre's name."""
    queries: list[str] = []
    for movie in movies:
        title = movie["title"]
        words = [w for w in re.findall(r"[A-Za-z']{4,}", title)]
        queries.append(title.lower())
        queries.append(title[: max(3, len(title) // 2)].strip())
        if words:
            word = random.choice(words)
            queries.append(word)
            queries.append(word[:-2] + word[-1] + word[-2])  # two letters swapped
    queries += [g.replace("-", " ") for g in genres]
    return queries
