"""Cached API answers go through the same steps as uncached ones: DRF's authentication,
permissions and content negotiation, then the cache."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.conftest import MovieFactory

pytestmark = pytest.mark.django_db


def test_a_client_that_takes_only_html_gets_a_406_on_a_hit_as_on_a_miss(
    make_movie: MovieFactory,
) -> None:
    url = f"/api/movies/{make_movie('Alien').pk}"

    miss = Client().get(url, HTTP_ACCEPT="text/html")
    filled = Client().get(url)
    hit = Client().get(url, HTTP_ACCEPT="text/html")
    json_hit = Client().get(url, HTTP_ACCEPT="application/json")

    assert (miss.status_code, hit.status_code) == (406, 406)
    assert miss.json() == hit.json()
    assert hit.json()["error"] == "not_acceptable"
    assert (filled.status_code, filled["X-Cache"]) == (200, "MISS")
    assert (json_hit.status_code, json_hit["X-Cache"]) == (200, "HIT")
    assert json_hit.content == filled.content


def test_a_wrong_api_key_is_refused_on_a_hit_as_on_a_miss(make_movie: MovieFactory) -> None:
    url = f"/api/movies/{make_movie('Alien').pk}"
    wrong = {"HTTP_AUTHORIZATION": "Api-Key not-a-key"}

    miss = Client().get(url, **wrong)
    assert Client().get(url)["X-Cache"] == "MISS"
    hit = Client().get(url, **wrong)

    assert (miss.status_code, hit.status_code) == (401, 401)
    assert miss.json() == hit.json()
