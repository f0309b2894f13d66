"""Cursor vs offset pagination of GET /api/movies at 100,000 movies on PostgreSQL.

    .venv/bin/python bench/pagination.py [--movies 100000] [--page 1000] [--repeat 30]
        [--ordering popular]

Times page 1 and page N of the API's cursor pagination (what GET /api/movies serves) and of
DRF's LimitOffsetPagination over the same queryset, in-process, median of --repeat runs.
Keyset pagination should cost the same on page 1,000 as on page 1; OFFSET grows with the page.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import BENCH_DATABASE_URL, fresh_database  # noqa: E402

PAGE_SIZE = 24

SEED_SQL = """
INSERT INTO catalog_movie (tmdb_id, imdb_id, title, original_title, slug, overview, tagline,
    release_date, runtime, poster_path, backdrop_path, popularity, vote_average, vote_count,
    is_published, is_featured, created_at, updated_at, poster_file, backdrop_file)
SELECT n, '', 'Movie ' || n, 'Movie ' || n, 'movie-' || n, 'Overview of movie ' || n, '',
    DATE '1950-01-01' + (n %% 27000), 90 + n %% 60, '', '', random() * 1000, random() * 10,
    n %% 5000, n %% 20 <> 0, n %% 500 = 0, now(), now(), '', ''
FROM generate_series(1, %s) AS n
"""


def seed(count: int) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(SEED_SQL, [count])
        cursor.execute("ANALYZE catalog_movie")


def median_ms(function, repeat: int) -> float:
    function()  # warm the plan and connection
    timings = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        timings.append((time.perf_counter() - start) * 1000)
    return statistics.median(timings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--movies", type=int, default=100_000)
    parser.add_argument("--page", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--ordering", default="popular", help="a name of catalog/ordering.py")
    args = parser.parse_args()

    print(f"Seeding {args.movies:,} movies into a fresh PostgreSQL database…", flush=True)
    fresh_database()
    os.environ.update(DATABASE_URL=BENCH_DATABASE_URL, REDIS_URL="", ALLOWED_HOSTS="testserver")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "streamsite.settings")
    import django

    django.setup()
    seed(args.movies)

    from rest_framework.pagination import Cursor, LimitOffsetPagination
    from rest_framework.request import Request
    from rest_framework.test import APIRequestFactory

    from catalog.api import MovieCursorPagination, MovieSummarySerializer
    from catalog.models import Movie
    from catalog.ordering import ordering_named

    factory = APIRequestFactory()
    ordering = ordering_named(args.ordering)
    movies = Movie.objects.published().with_card_fields().annotate(**ordering.annotations)
    first_column = ordering.order_by[0].lstrip("-")

    def cursor_page(cursor: str | None) -> int:
        url = "/api/movies" + (f"?cursor={cursor}" if cursor else "")
        paginator = MovieCursorPagination(ordering, PAGE_SIZE)
        page = paginator.paginate_queryset(movies, Request(factory.get(url)))
        return len(MovieSummarySerializer(page, many=True).data)

    def offset_page(page_number: int) -> int:
        url = f"/api/movies?limit={PAGE_SIZE}&offset={(page_number - 1) * PAGE_SIZE}"
        paginator = LimitOffsetPagination()
        page = paginator.paginate_queryset(
            movies.order_by(*ordering.order_by), Request(factory.get(url))
        )
        return len(MovieSummarySerializer(page, many=True).data)

    # The cursor a client holds after reading pages 1..N-1: the last first-column value it saw.
    skip = (args.page - 1) * PAGE_SIZE
    last_seen = movies.order_by(*ordering.order_by).values_list(first_column, flat=True)[skip - 1]
    paginator = MovieCursorPagination(ordering, PAGE_SIZE)
    paginator.base_url = "/api/movies"
    token = paginator.encode_cursor(Cursor(offset=0, reverse=False, position=str(last_seen)))
    token = token.split("cursor=", 1)[1]
    assert cursor_page(token) == PAGE_SIZE

    cursor_first = median_ms(lambda: cursor_page(None), args.repeat)
    cursor_far = median_ms(lambda: cursor_page(token), args.repeat)
    offset_first = median_ms(lambda: offset_page(1), args.repeat)
    offset_far = median_ms(lambda: offset_page(args.page), args.repeat)

    print(
        f"\n{args.movies:,} movies, ordering={args.ordering}, {PAGE_SIZE} per page, "
        f"median of {args.repeat} runs (ms)"
    )
    print(f"{'pagination':<10} {'page 1':>9} {f'page {args.page:,}':>11} {'ratio':>7}")
    for name, first, far in (
        ("cursor", cursor_first, cursor_far),
        ("offset", offset_first, offset_far),
    ):
        print(f"{name:<10} {first:>9.2f} {far:>11.2f} {far / first:>6.2f}x")
    verdict = "OK" if cursor_far / cursor_first <= 1.5 else "ABOVE 1.5x"
    print(f"cursor page {args.page:,} / page 1 = {cursor_far / cursor_first:.2f} ({verdict})")


if __name__ == "__main__":
    main()
