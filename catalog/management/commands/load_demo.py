from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from tqdm import tqdm

from catalog.demo import demo_movies
from catalog.models import Movie
from catalog.services import upsert_movie


class Command(BaseCommand):
    help = "Load the shipped demo catalog (real films, generated artwork). Safe to run twice."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--if-empty",
            action="store_true",
            help="Do nothing when the catalog already has movies (used by `make run`).",
        )

    def handle(self, *args: Any, if_empty: bool, verbosity: int, **options: Any) -> None:
        if if_empty and Movie.objects.exists():
            self.stdout.write("Catalog already has movies; demo not loaded.")
            return
        movies = demo_movies()
        created = 0
        for data in tqdm(movies, desc="Loading demo catalog", unit="movie", disable=verbosity < 1):
            _, was_created = upsert_movie(data=data, publish=True)
            created += was_created
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo catalog: {created} movies added, {len(movies) - created} refreshed."
            )
        )
