"""Anonymous browsing: home, genre pages and their next pages, film pages, search as people
type it (whole titles, a title's start, a word, a misspelt word, a genre), suggestions.

Run alone: ``locust -f loadtest/locustfiles/browsing.py`` (options: ``--think-min``,
``--think-max``).
"""

from __future__ import annotations

import random

from locust import between, task

from loadtest.locustfiles.common import Client, catalog, mix_weight


class Browser(Client):
    journey = "browser"
    weight = mix_weight("browser")

    def wait_time(self) -> float:
        options = self.environment.parsed_options
        return between(options.think_min, options.think_max)(self)

    @task(3)
    def home(self) -> None:
        self.client.get("/", name="/", context=self.context())

    @task(2)
    def genre(self) -> None:
        slug = random.choice(catalog().genres)
        self.client.get(
            f"/browse/?genre={slug}", name="/browse/?genre=[slug]", context=self.context()
        )
        if random.random() < 0.4:  # the next page of the same genre
            self.client.get(
                f"/browse/?genre={slug}&page=2",
                name="/browse/?genre=[slug]&page=[n]",
                context=self.context(),
            )

    @task(1)
    def browse_pages(self) -> None:
        for page in range(1, random.randint(2, 4)):
            self.client.get(
                f"/browse/?page={page}", name="/browse/?page=[n]", context=self.context()
            )

    @task(3)
    def detail(self) -> None:
        movie = catalog().popular_movie()
        self.client.get(f"/movies/{movie['slug']}/", name="/movies/[slug]/", context=self.context())

    @task(2)
    def search(self) -> None:
        query = random.choice(catalog().queries)
        # The search box suggests as one types, then the results page.
        self.client.get(
            "/api/movies/suggest",
            params={"q": query[:3]},
            name="/api/movies/suggest?q=[typed]",
            context=self.context(),
        )
        self.client.get(
            "/search/", params={"q": query}, name="/search/?q=[query]", context=self.context()
        )
