"""Cached sources follow edits: the sources namespace moves on when the edit commits."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, transaction

from streaming import sources


def ranked(movie_id: int) -> list[str]:
    resolution = sources.resolve(movie_id)
    assert resolution is not None
    return [ranked.source.provider for ranked in resolution.playable]


def read_in_another_request(movie_id: int) -> list[str]:
    """What a request served meanwhile by another thread (its own connection) is given."""
    seen: list[list[str]] = []

    def serve() -> None:
        try:
            seen.append(ranked(movie_id))
        finally:
            connection.close()

    reader = threading.Thread(target=serve)
    reader.start()
    reader.join()
    return seen[0]


@pytest.mark.django_db(transaction=True)
def test_a_reader_during_an_edit_cannot_refill_the_cache_from_the_rows_before_it(
    make_provider, make_movie, provider_server
):
    base = provider_server("healthy").base_url
    first = make_provider(base, priority=10)
    second = make_provider(base, priority=20)
    movie = make_movie()
    assert ranked(movie.pk) == [first.slug, second.slug]

    with transaction.atomic():
        second.priority = 1
        second.save()
        # Not committed yet: a reader meanwhile still sees, and may cache, the old order.
        assert read_in_another_request(movie.pk) == [first.slug, second.slug]

    assert ranked(movie.pk) == [second.slug, first.slug]


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_edit_leaves_the_cached_sources_in_place(
    make_provider, make_movie, provider_server, django_assert_num_queries
):
    provider = make_provider(provider_server("healthy").base_url)
    movie = make_movie()
    ranked(movie.pk)

    with pytest.raises(RuntimeError), transaction.atomic():
        provider.enabled = False
        provider.save()
        raise RuntimeError("the edit fails")

    with django_assert_num_queries(0):
        assert ranked(movie.pk) == [provider.slug]
