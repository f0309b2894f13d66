"""``manage.py warm_cache``: fill the cache before the first visitors, e.g. at deploy start."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from catalog import warming


class Command(BaseCommand):
    help = "Warm home, the first pages of the lists and the top-N movie details."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--top",
            type=int,
            default=None,
            help="How many of the most popular movies get their details warmed "
            "(default: CACHE_WARM_TOP_N).",
        )

    def handle(self, *args: Any, top: int | None, **options: Any) -> None:
        self._verbosity = int(options["verbosity"])
        top_n = settings.CACHE_WARM_TOP_N if top is None else top
        if top_n < 0:
            raise CommandError("--top must be zero or more")
        result = warming.warm_catalog(top_n=top_n, progress=self._progress)
        summary = f"Warmed {result.warmed} entries, {len(result.failed)} failed."
        if result.failed:
            listing = ", ".join(f"{path} ({status})" for path, status in result.failed)
            raise CommandError(f"{summary} Failed: {listing}")
        self.stdout.write(self.style.SUCCESS(summary))

    def _progress(self, position: int, total: int, path: str, status: int, x_cache: str) -> None:
        if self._verbosity >= 1:
            width = len(str(total))
            self.stdout.write(f"[{position:>{width}}/{total}] {status} {x_cache or '-':<4} {path}")
