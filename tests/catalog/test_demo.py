"""The demo catalog and first-run admin account that `make run` sets up."""

from __future__ import annotations

import re
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from catalog.models import Genre, Movie

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]


def test_demo_catalog_has_real_films_with_artwork_and_our_overviews():
    call_command("load_demo", verbosity=0)

    published = Movie.objects.published()
    assert published.count() >= 60
    for tmdb_id, title, year in (
        (550, "Fight Club", 1999),
        (680, "Pulp Fiction", 1994),
        (13, "Forrest Gump", 1994),
    ):
        movie = published.get(tmdb_id=tmdb_id)
        assert (movie.title, movie.year) == (title, year)
        assert movie.runtime and movie.overview and movie.genres.exists()
        assert movie.poster_url().endswith("/poster.svg")
    assert published.featured().exists()
    # Enough genres with enough films for the home page's genre rows.
    assert sum(1 for genre in Genre.objects.all() if genre.movies.count() >= 4) >= 4


def test_loading_the_demo_twice_adds_nothing(client):
    call_command("load_demo", verbosity=0)
    count = Movie.objects.count()

    output = StringIO()
    call_command("load_demo", "--if-empty", stdout=output)
    call_command("load_demo", verbosity=0)

    assert Movie.objects.count() == count
    assert "already has movies" in output.getvalue()


def test_generated_poster_is_an_svg_image(client):
    call_command("load_demo", verbosity=0)

    response = client.get(Movie.objects.get(tmdb_id=550).poster_url())

    assert response.status_code == 200
    assert response["Content-Type"].startswith("image/svg+xml")
    assert b"Fight Club" in response.content


def test_ensure_admin_prints_a_random_password_once():
    first, second = StringIO(), StringIO()

    call_command("ensure_admin", stdout=first)
    call_command("ensure_admin", stdout=second)

    password = re.search(r"password: (\S+)", first.getvalue()).group(1)
    admin = get_user_model().objects.get(username="admin")
    assert admin.is_superuser and admin.check_password(password)
    assert len(password) >= 12
    assert "password:" not in second.getvalue()


def test_fresh_sqlite_setup_works_with_no_services(tmp_path):
    """What `make run` does on a fresh checkout, minus the server: no PostgreSQL, no Redis."""
    env = {"PATH": "/usr/bin:/bin", "DATABASE_URL": f"sqlite:///{tmp_path / 'demo.sqlite3'}"}

    for command in (["migrate", "--noinput"], ["load_demo", "--if-empty"], ["ensure_admin"]):
        result = subprocess.run(
            [sys.executable, "manage.py", *command],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert result.returncode == 0, result.stderr

    assert "This password is shown only once." in result.stdout
