"""API consumers with keys: cursor pagination through the catalog, search, a film, genres.

``ApiConsumer`` stays under its key's limit (a request every ``--api-think`` seconds);
``ApiOverLimitConsumer`` asks several times a second, above it, and must be refused with a 429
and a ``Retry-After`` (counted as expected), never with a server error or anyone else's refusal.
"""

from __future__ import annotations

import random

from locust import constant, task

from loadtest.locustfiles.common import Client, catalog, mix_weight, next_api_key


class ApiConsumer(Client):
    journey = "api"
    weight = mix_weight("api")

    def wait_time(self) -> float:
        return constant(self.environment.parsed_options.api_think)(self)

    def on_start(self) -> None:
        super().on_start()
        self.client.headers["Authorization"] = f"Api-Key {next_api_key()}"

    def get(self, path: str, name: str, **params: object) -> dict | None:
        response = self.client.get(path, params=params or None, name=name, context=self.context())
        return response.json() if response.ok else None

    @task(3)
    def walk_the_catalog(self) -> None:
        """The first page, then the next ones by their cursor, as a mirror of the catalog does."""
        page = self.get("/api/movies", "/api/movies", page_size=50)
        for _ in range(random.randint(1, 3)):
            if not page or not page.get("next"):
                break
            cursor = page["next"].split("cursor=", 1)[1].split("&", 1)[0]
            page = self.get(
                "/api/movies", "/api/movies?cursor=[next]", page_size=50, cursor=_unquote(cursor)
            )

    @task(2)
    def search(self) -> None:
        self.get(
            "/api/movies/search", "/api/movies/search?q=[query]", q=random.choice(catalog().queries)
        )

    @task(1)
    def one_film(self) -> None:
        self.get(f"/api/movies/{catalog().popular_movie()['id']}", "/api/movies/[id]")

    @task(1)
    def genres(self) -> None:
        self.get("/api/genres", "/api/genres")


class ApiOverLimitConsumer(ApiConsumer):
    journey = "api_over_limit"
    weight = mix_weight("api_over_limit")

    def wait_time(self) -> float:
        return random.uniform(0.2, 0.4)

    def get(self, path: str, name: str, **params: object) -> dict | None:
        with self.client.get(
            path, params=params or None, name=name, context=self.context(), catch_response=True
        ) as response:
            if response.status_code == 429:
                if response.headers.get("Retry-After"):
                    response.success()
                else:
                    response.failure("429 without Retry-After")
                return None
            return response.json() if response.ok else None


def _unquote(value: str) -> str:
    from urllib.parse import unquote

    return unquote(value)
