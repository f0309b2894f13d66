from __future__ import annotations

import sys
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from catalog import tmdb
from catalog.services import MovieData, upsert_movie

MAX_PAGES = 500  # TMDb serves at most 500 pages of any list


@dataclass
class ImportReport:
    new: int = 0
    updated: int = 0
    not_found: list[int] = field(default_factory=list)

    def summary(self) -> str:
        line = f"Imported {self.new + self.updated} movies: {self.new} new, {self.updated} updated"
        if self.not_found:
            label = "id" if len(self.not_found) == 1 else "ids"
            ids = ", ".join(str(i) for i in self.not_found)
            line += f", {len(self.not_found)} not found ({label} {ids})"
        return line


class Command(BaseCommand):
    help = (
        "Import movies from TMDb, with their top-billed cast and their directors: the popular "
        "list (--pages N) or chosen ids (--ids 550,680). "
        "Movies are matched by TMDb id, so running it again refreshes them without duplicates. "
        "New movies stay UNPUBLISHED for an editor to review unless --publish is given; movies "
        "already in the catalog keep their published and featured state. Needs TMDB_API_KEY or "
        "TMDB_READ_TOKEN."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        # Both are parsed in handle() so a bad value is one CommandError line, not argparse usage.
        parser.add_argument(
            "--pages", metavar="N", help=f"Import N pages (20 movies each, 1-{MAX_PAGES})."
        )
        parser.add_argument(
            "--ids", metavar="ID,ID", help="Import these TMDb ids with full details."
        )
        parser.add_argument(
            "--publish",
            action="store_true",
            help="Publish newly imported movies at once instead of leaving them for review.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        pages, ids = options["pages"], options["ids"]
        if (pages is None) == (ids is None):
            raise CommandError("Give exactly one of --pages N or --ids 550,680")
        self.publish: bool = options["publish"]
        self.progress_file = options.get("stderr") or sys.stderr
        self.progress_disabled = True if options["verbosity"] < 1 else None  # None: TTY only
        self.report = ImportReport()
        try:
            if pages is not None:
                self.import_popular(parse_pages(pages))
            else:
                self.import_ids(parse_ids(ids))
        except tmdb.TMDbError as exc:
            if self.report.new or self.report.updated:
                self.stdout.write(f"{self.report.summary()} before stopping.")
            raise CommandError(str(exc)) from None
        self.stdout.write(self.style.SUCCESS(self.report.summary()))
        if self.report.new and not self.publish:
            self.stdout.write("New movies are unpublished: review and publish them in the admin.")

    def import_popular(self, pages: int) -> None:
        genres_by_id = {g.tmdb_id: g for g in tmdb.genres() if g.tmdb_id is not None}
        seen: set[int] = set()
        with self.progress(total=pages, unit="page") as bar:
            for number in range(1, pages + 1):
                page = tmdb.popular_movies(number, genres_by_id=genres_by_id)
                # The list shifts while we page through it: a movie may show up twice.
                fresh = [m for m in page.movies if m.tmdb_id not in seen]
                seen.update(m.tmdb_id for m in fresh)
                self.save(self.with_credits(movie) for movie in fresh)
                bar.update(1)
                if number >= page.total_pages:
                    break

    def import_ids(self, ids: list[int]) -> None:
        with self.progress(total=len(ids), unit="movie") as bar:
            for tmdb_id in ids:
                try:
                    self.save([tmdb.movie_details(tmdb_id)])
                except tmdb.TMDbNotFound:
                    self.report.not_found.append(tmdb_id)
                bar.update(1)

    def with_credits(self, movie: MovieData) -> MovieData:
        """List entries carry no credits: one more request per movie brings its cast and
        director. A movie TMDb no longer has credits for keeps the ones it had."""
        try:
            return replace(movie, credits=tmdb.movie_credits(movie.tmdb_id))
        except tmdb.TMDbNotFound:
            return movie

    def save(self, movies: Iterable[MovieData]) -> None:
        for data in movies:
            _, created = upsert_movie(data=data, publish=self.publish)
            if created:
                self.report.new += 1
            else:
                self.report.updated += 1

    def progress(self, *, total: int, unit: str) -> tqdm:
        return tqdm(
            total=total,
            unit=unit,
            desc="TMDb import",
            file=self.progress_file,
            disable=self.progress_disabled,
        )


def parse_pages(value: str) -> int:
    try:
        pages = int(value)
    except ValueError:
        pages = 0
    if not 1 <= pages <= MAX_PAGES:
        raise CommandError(f"--pages must be a whole number from 1 to {MAX_PAGES}, got {value!r}")
    return pages


def parse_ids(value: str) -> list[int]:
    parts = [part.strip() for part in value.split(",")]
    if not all(part.isascii() and part.isdigit() and int(part) > 0 for part in parts):
        raise CommandError(f"--ids must be comma-separated integers, got {value!r}")
    return list(dict.fromkeys(int(part) for part in parts))  # de-duplicated, order kept
