"""Cache invalidation, and nothing else: any change to a movie, a genre, a credit or a person
bumps the catalog namespace once the transaction commits, so no list, page or detail outlives
an edit.

Commit time matters twice: a rolled-back edit invalidates nothing, and a reader cannot refill
the cache from the old rows between the bump and the commit. Bulk ``QuerySet.update()`` and
``bulk_create()`` send no signals; writers use ``catalog.services``, which saves row by row.
"""

from __future__ import annotations

from typing import Any

from django.db.models.signals import m2m_changed, post_delete, post_save
from django.dispatch import receiver

from catalog.models import Credit, Genre, Movie, Person
from streamsite import cache

CATALOG_NAMESPACE = "catalog"


@receiver(post_save, sender=Movie, dispatch_uid="catalog-cache-movie-saved")
@receiver(post_delete, sender=Movie, dispatch_uid="catalog-cache-movie-deleted")
@receiver(post_save, sender=Genre, dispatch_uid="catalog-cache-genre-saved")
@receiver(post_delete, sender=Genre, dispatch_uid="catalog-cache-genre-deleted")
@receiver(post_save, sender=Credit, dispatch_uid="catalog-cache-credit-saved")
@receiver(post_delete, sender=Credit, dispatch_uid="catalog-cache-credit-deleted")
@receiver(post_save, sender=Person, dispatch_uid="catalog-cache-person-saved")
@receiver(post_delete, sender=Person, dispatch_uid="catalog-cache-person-deleted")
def invalidate_on_change(sender: type, **kwargs: Any) -> None:
    cache.bump_on_commit(CATALOG_NAMESPACE, using=kwargs.get("using"))


@receiver(m2m_changed, sender=Movie.genres.through, dispatch_uid="catalog-cache-movie-genres")
def invalidate_on_genres_change(sender: type, action: str, **kwargs: Any) -> None:
    if action in {"post_add", "post_remove", "post_clear"}:
        cache.bump_on_commit(CATALOG_NAMESPACE, using=kwargs.get("using"))
