"""The catalog at the CDN's edge: the cache tags its answers carry, and what each change purges.

Tags: an answer names every movie (``movie-<id>``) and genre (``genre-<id>``) loaded while it
was made, collected as the rows are loaded (``post_init``; ``streamsite.edge_tags``), so no
view or template has to remember to name what it shows. Answers cached by
``streamsite.http_cache`` also carry their view's tag (``catalog-home``, ``catalog-movie-list``).

Purges, after commit, like the cache bumps of ``catalog.signals``: a changed movie purges its
tag (every page and answer showing it: its detail page, the lists and rows it is in, its
generated artwork) and the list views' tags (lists it may have just entered or moved in: a
newly published film shows up in them); a changed genre likewise. An uploaded poster or
backdrop that was replaced is purged by URL, in every size the edge may hold.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.core.files.storage import default_storage
from django.db.models import QuerySet
from django.db.models.signals import m2m_changed, post_delete, post_init, post_save
from django.dispatch import receiver
from django.http import HttpRequest

from catalog.models import Genre, Movie
from cdn import admin as cdn_admin
from cdn import services as cdn
from streamsite import edge_tags

# The cached views whose answers list movies: any movie change may add to them or reorder
# them. (Detail answers are reached through the movie's own tag.)
LIST_VIEW_TAGS = (
    "catalog-home",
    "catalog-browse",
    "catalog-movie-list",
    "catalog-movie-search",
    "catalog-genre-list",
)
ARTWORK_FIELDS = ("poster_file", "backdrop_file")


def movie_tag(movie_id: int) -> str:
    return f"movie-{movie_id}"


def genre_tag(genre_id: int) -> str:
    return f"genre-{genre_id}"


# --- Tags -----------------------------------------------------------------------------------


@receiver(post_init, sender=Movie, dispatch_uid="catalog-edge-movie-loaded")
def _movie_loaded(sender: type, instance: Movie, **kwargs: Any) -> None:
    if instance.pk is None:
        return
    edge_tags.add(movie_tag(instance.pk))
    # The artwork files it was loaded with, to purge them if a save replaces them.
    instance._edge_files = tuple(_file_name(instance, name) for name in ARTWORK_FIELDS)


@receiver(post_init, sender=Genre, dispatch_uid="catalog-edge-genre-loaded")
def _genre_loaded(sender: type, instance: Genre, **kwargs: Any) -> None:
    if instance.pk is not None:
        edge_tags.add(genre_tag(instance.pk))


def _file_name(movie: Movie, field: str) -> str | None:
    """The stored name of an artwork field without loading a deferred one (None then)."""
    value = movie.__dict__.get(field)
    if value is None:
        return None
    return str(getattr(value, "name", value) or "")


# --- Purges ---------------------------------------------------------------------------------


def movie_targets(movie_ids: list[int]) -> list[str]:
    return [*(movie_tag(pk) for pk in movie_ids), *LIST_VIEW_TAGS]


def genre_targets(genre_ids: list[int]) -> list[str]:
    return [*(genre_tag(pk) for pk in genre_ids), *LIST_VIEW_TAGS]


def _replaced_artwork(movie: Movie) -> list[str]:
    # Unknown for a movie created in this process: nothing of it was handed out before.
    loaded = getattr(movie, "_edge_files", (None,) * len(ARTWORK_FIELDS))
    urls: list[str] = []
    for field, before in zip(ARTWORK_FIELDS, loaded, strict=True):
        now = _file_name(movie, field)
        if before and now is not None and now != before:
            urls += cdn.image_urls(default_storage.url(before))
    # What the movie is saved with now counts as loaded for its next save.
    movie._edge_files = tuple(_file_name(movie, name) for name in ARTWORK_FIELDS)
    return urls


@receiver(post_save, sender=Movie, dispatch_uid="catalog-edge-movie-saved")
def _movie_saved(sender: type, instance: Movie, created: bool, **kwargs: Any) -> None:
    verb = "added" if created else "changed"
    cdn.purge_on_commit(
        tags=movie_targets([instance.pk]),
        urls=_replaced_artwork(instance),
        reason=f"movie {instance.pk} “{instance.title}” {verb}",
    )


@receiver(post_delete, sender=Movie, dispatch_uid="catalog-edge-movie-deleted")
def _movie_deleted(sender: type, instance: Movie, **kwargs: Any) -> None:
    artwork: list[str] = []
    for field in ARTWORK_FIELDS:
        if name := _file_name(instance, field):
            artwork += cdn.image_urls(default_storage.url(name))
    cdn.purge_on_commit(
        tags=movie_targets([instance.pk]),
        urls=artwork,
        reason=f"movie {instance.pk} “{instance.title}” deleted",
    )


@receiver(post_save, sender=Genre, dispatch_uid="catalog-edge-genre-saved")
@receiver(post_delete, sender=Genre, dispatch_uid="catalog-edge-genre-deleted")
def _genre_changed(sender: type, instance: Genre, **kwargs: Any) -> None:
    verb = "deleted" if "created" not in kwargs else "added" if kwargs["created"] else "changed"
    cdn.purge_on_commit(
        tags=genre_targets([instance.pk]),
        reason=f"genre {instance.pk} “{instance.name}” {verb}",
    )


@receiver(m2m_changed, sender=Movie.genres.through, dispatch_uid="catalog-edge-movie-genres")
def _movie_genres_changed(
    sender: type, instance: Any, action: str, reverse: bool, pk_set: set[int] | None, **kwargs: Any
) -> None:
    if action not in {"post_add", "post_remove", "post_clear"}:
        return
    if reverse:  # genre.movies.add(...): the genre and the movies named
        movies, genres = sorted(pk_set or ()), [instance.pk]
    else:
        movies, genres = [instance.pk], sorted(pk_set or ())
    cdn.purge_on_commit(
        tags=[*movie_targets(movies), *(genre_tag(pk) for pk in genres)],
        reason=f"genres of movie {movies[0] if len(movies) == 1 else movies} changed",
    )


# --- Admin actions ----------------------------------------------------------------------------


@admin.action(description="Purge selected movies from the CDN", permissions=["change"])
def purge_movies(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet) -> None:
    movies = list(queryset.only("pk", *ARTWORK_FIELDS))
    artwork = [
        url
        for movie in movies
        for field in ARTWORK_FIELDS
        if (name := _file_name(movie, field))
        for url in cdn.image_urls(default_storage.url(name))
    ]
    noun = "movie" if len(movies) == 1 else "movies"
    cdn_admin.request_purge(
        modeladmin,
        request,
        tags=movie_targets([movie.pk for movie in movies]),
        urls=artwork,
        what=f"{len(movies)} {noun}",
    )


@admin.action(description="Purge selected genres from the CDN", permissions=["change"])
def purge_genres(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet) -> None:
    ids = list(queryset.values_list("pk", flat=True))
    noun = "genre" if len(ids) == 1 else "genres"
    cdn_admin.request_purge(modeladmin, request, tags=genre_targets(ids), what=f"{len(ids)} {noun}")
