"""Writes to the catalog that more than one caller needs: imports, the demo loader, the admin."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.core.files import File
from django.db import transaction
from django.db.models import Q
from django.utils.text import slugify

from catalog.models import Credit, Genre, ListEntry, Movie, Person
from catalog.signals import CATALOG_NAMESPACE
from streamsite import cache


@dataclass(frozen=True)
class GenreData:
    name: str
    tmdb_id: int | None = None


@dataclass(frozen=True)
class CreditData:
    """One line of a film's credits: a part played (billing ``order``, 0 first) or directing."""

    name: str
    role: str = Credit.Role.CAST
    character: str = ""
    order: int = 0
    tmdb_id: int | None = None  # the person's TMDb id; None: the person is known by name
    profile_path: str = ""


@dataclass(frozen=True)
class MovieData:
    """One movie as an importer knows it, before it touches the database."""

    tmdb_id: int
    title: str
    original_title: str = ""
    imdb_id: str = ""
    overview: str = ""
    tagline: str = ""
    release_date: dt.date | None = None
    runtime: int | None = None
    poster_path: str = ""
    backdrop_path: str = ""
    popularity: float = 0.0
    vote_average: float = 0.0
    vote_count: int = 0
    genres: tuple[GenreData, ...] | None = None  # None: leave the movie's genres alone
    credits: tuple[CreditData, ...] | None = None  # None: leave the movie's credits alone
    featured: bool = False
    extra: dict[str, object] = field(default_factory=dict)


def upsert_genres(*, genres: Iterable[GenreData]) -> dict[str, Genre]:
    """Create or rename genres by TMDb id (or by name when there is none); returns them by name.

    One query when every genre already exists as named, which is the common case on re-imports.
    """
    wanted = list(genres)
    existing = Genre.objects.filter(
        Q(tmdb_id__in=[g.tmdb_id for g in wanted if g.tmdb_id is not None])
        | Q(name__in=[g.name for g in wanted if g.tmdb_id is None])
    )
    by_tmdb_id = {genre.tmdb_id: genre for genre in existing if genre.tmdb_id is not None}
    by_name = {genre.name: genre for genre in existing}
    result: dict[str, Genre] = {}
    for data in wanted:
        genre = by_tmdb_id.get(data.tmdb_id) if data.tmdb_id is not None else by_name.get(data.name)
        if genre is None:
            genre = Genre.objects.create(
                tmdb_id=data.tmdb_id, name=data.name, slug=slugify(data.name)
            )
        elif genre.name != data.name:
            genre.name = data.name
            genre.save(update_fields=["name"])
        result[genre.name] = genre
    return result


def upsert_movie(*, data: MovieData, publish: bool = False) -> tuple[Movie, bool]:
    """Create or refresh one movie from imported data, keyed by TMDb id.

    Editorial state (slug, published, featured) is set on creation only, so a re-import never
    undoes an editor's decision.
    """
    values = {
        "title": data.title,
        "original_title": data.original_title or data.title,
        "overview": data.overview,
        "tagline": data.tagline,
        "release_date": data.release_date,
        "runtime": data.runtime,
        "poster_path": data.poster_path,
        "backdrop_path": data.backdrop_path,
        "popularity": data.popularity,
        "vote_average": data.vote_average,
        "vote_count": data.vote_count,
    }
    if data.imdb_id:
        values["imdb_id"] = data.imdb_id
    with transaction.atomic():
        movie, created = Movie.objects.update_or_create(
            tmdb_id=data.tmdb_id,
            defaults=values,
            create_defaults={
                **values,
                "imdb_id": data.imdb_id,
                "slug": unique_movie_slug(data.title, data.release_date, data.tmdb_id),
                "is_published": publish,
                "is_featured": data.featured,
            },
        )
        if data.genres is not None:
            genres = upsert_genres(genres=data.genres)
            movie.genres.set(genres.values())
        if data.credits is not None:
            set_credits(movie=movie, credits=data.credits)
    return movie, created


def set_credits(*, movie: Movie, credits: Iterable[CreditData]) -> int:
    """Replace the movie's credits with ``credits``; returns how many it now has.

    People are matched by TMDb id, or by name when they have none (the demo catalog), and
    renamed when TMDb renamed them. A few queries whatever the number of credits.
    """
    wanted = list(credits)
    with transaction.atomic():
        people = _upsert_people(wanted)
        rows: dict[tuple[int, str], Credit] = {}
        for data in wanted:
            person = people[_person_key(data)]
            # One credit per person and role: an actor in two parts keeps the first billed.
            rows.setdefault(
                (person.pk, data.role),
                Credit(
                    movie=movie,
                    person=person,
                    role=data.role,
                    character=data.character[:255],
                    order=max(0, min(data.order, 32_767)),
                ),
            )
        Credit.objects.filter(movie=movie).delete()
        Credit.objects.bulk_create(rows.values())
        # bulk_create sends no signal: the cached pages that show these credits go at commit.
        transaction.on_commit(lambda: cache.bump(CATALOG_NAMESPACE))
    return len(rows)


def _person_key(data: CreditData) -> tuple[str, object]:
    return ("tmdb", data.tmdb_id) if data.tmdb_id is not None else ("name", data.name)


def _upsert_people(credits: list[CreditData]) -> dict[tuple[str, object], Person]:
    tmdb_ids = {c.tmdb_id for c in credits if c.tmdb_id is not None}
    names = {c.name for c in credits if c.tmdb_id is None}
    existing = Person.objects.filter(Q(tmdb_id__in=tmdb_ids) | Q(name__in=names, tmdb_id=None))
    found: dict[tuple[str, object], Person] = {}
    for person in existing:
        key = ("tmdb", person.tmdb_id) if person.tmdb_id is not None else ("name", person.name)
        found[key] = person
    for data in credits:
        key = _person_key(data)
        person = found.get(key)
        if person is None:
            found[key] = Person.objects.create(
                tmdb_id=data.tmdb_id, name=data.name[:255], profile_path=data.profile_path[:255]
            )
        elif person.name != data.name or (
            data.profile_path and person.profile_path != data.profile_path
        ):
            person.name = data.name[:255]
            person.profile_path = data.profile_path[:255] or person.profile_path
            person.save(update_fields=["name", "profile_path"])
    return found


def unique_movie_slug(title: str, release_date: dt.date | None, tmdb_id: int) -> str:
    """``fight-club``, or ``fight-club-1999`` when taken, or ``fight-club-550`` as a last resort."""
    base = slugify(title)[:200] or f"movie-{tmdb_id}"
    candidates = [base]
    if release_date:
        candidates.append(f"{base}-{release_date.year}")
    candidates.append(f"{base}-{tmdb_id}")
    taken = set(Movie.objects.filter(slug__in=candidates).values_list("slug", flat=True))
    return next(slug for slug in candidates if slug not in taken)


def set_published(*, movie_ids: Iterable[int], published: bool) -> int:
    return _set_flag(movie_ids, "is_published", published)


def set_featured(*, movie_ids: Iterable[int], featured: bool) -> int:
    return _set_flag(movie_ids, "is_featured", featured)


def _set_flag(movie_ids: Iterable[int], name: str, value: bool) -> int:
    # Goes through save() rather than QuerySet.update() so post_save signals (cache
    # invalidation) see every change.
    changed = 0
    with transaction.atomic():
        for movie in Movie.objects.filter(pk__in=list(movie_ids)).select_for_update():
            if getattr(movie, name) != value:
                setattr(movie, name, value)
                movie.save(update_fields=[name, "updated_at"])
                changed += 1
    return changed


def set_poster_frame(*, movie_id: int, name: str, content: File) -> bool:
    """Give a movie that has no artwork a poster of its own (a frame of its video).

    False, and nothing stored, when it already has a TMDb poster or a poster file: a frame is a
    stand-in, never a replacement for artwork someone chose.
    """
    with transaction.atomic():
        movie = Movie.objects.select_for_update().filter(pk=movie_id).first()
        if movie is None or movie.poster_path or movie.poster_file:
            return False
        movie.poster_file.save(name, content, save=False)
        movie.save(update_fields=["poster_file", "updated_at"])
    return True


# --- My list --------------------------------------------------------------------------------


def add_to_list(*, user_id: int, movie_id: int) -> bool:
    """Put a published movie on the viewer's list; False when it already was there.

    Idempotent, also under concurrent requests (the unique constraint decides).
    """
    with transaction.atomic():
        _, created = ListEntry.objects.get_or_create(user_id=user_id, movie_id=movie_id)
    return created


def remove_from_list(*, user_id: int, movie_id: int) -> bool:
    """Take a movie off the viewer's list; False when it was not on it."""
    with transaction.atomic():
        deleted, _ = ListEntry.objects.filter(user_id=user_id, movie_id=movie_id).delete()
    return deleted > 0
