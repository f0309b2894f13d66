"""The editors' viewing statistics page and the progress admin."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.test import Client
from django.utils import timezone

from catalog.models import Movie
from progress import statistics
from progress.models import ViewingSession, WatchProgress
from tests.conftest import MovieFactory

pytestmark = pytest.mark.django_db

URL = "/admin/progress/viewingsession/statistics/"


def watch(
    user: Any,
    movie: Movie,
    *,
    days_ago: float,
    completed: bool = False,
    resumed_from: float = 0.0,
    position: float = 600.0,
) -> None:
    moment = timezone.now() - dt.timedelta(days=days_ago)
    ViewingSession.objects.create(
        user=user, movie=movie, started_at=moment, last_seen_at=moment, resumed_from=resumed_from
    )
    WatchProgress.objects.update_or_create(
        user=user,
        movie=movie,
        defaults={
            "position": 7000.0 if completed else position,
            "duration": 7200.0,
            "completed": completed,
            "client_ts": moment,
            "updated_at": moment,
        },
    )


@pytest.fixture
def audience(db: None) -> list[Any]:
    user_model = get_user_model()
    return [user_model.objects.create_user(f"fan{n}") for n in range(4)]


@pytest.fixture
def watched(make_movie: MovieFactory, audience: list[Any]) -> dict[str, Movie]:
    alien = make_movie("Alien", genres=("Horror", "Science Fiction"))
    heat = make_movie("Heat", genres=("Crime",))
    old = make_movie("Forgotten", genres=("Crime",))
    watch(audience[0], alien, days_ago=1, completed=True)
    watch(audience[1], alien, days_ago=2, resumed_from=1200.0)
    watch(audience[2], alien, days_ago=20)
    watch(audience[3], alien, days_ago=25, completed=True, resumed_from=300.0)
    watch(audience[0], heat, days_ago=10, resumed_from=60.0)
    watch(audience[1], old, days_ago=45)  # outside both windows
    return {"alien": alien, "heat": heat, "old": old}


def cells(html: str, label: str) -> list[str]:
    """The cells of the first table row headed ``label``."""
    row = re.search(rf"<th scope=\"row\">{re.escape(label)}</th>(.*?)</tr>", html, re.DOTALL)
    assert row, f"no row for {label}"
    return [cell.strip() for cell in re.findall(r"<td[^>]*>(.*?)</td>", row.group(1), re.DOTALL)]


def test_statistics_show_views_and_completion_per_movie_over_7_and_30_days(
    admin_client: Client, watched: dict[str, Movie]
) -> None:
    response = admin_client.get(URL)

    assert response.status_code == 200
    html = response.content.decode()
    # views 7 d, views 30 d, viewers 30 d, completion 7 d, completion 30 d
    assert cells(html, "Alien") == ["2", "4", "4", "50.0 %", "50.0 %"]
    assert cells(html, "Heat") == ["0", "1", "1", "—", "0.0 %"]
    assert "Forgotten" not in html


def test_statistics_group_by_genre(admin_client: Client, watched: dict[str, Movie]) -> None:
    html = admin_client.get(URL).content.decode()

    assert cells(html, "Science Fiction") == ["2", "4", "4", "50.0 %", "50.0 %"]
    assert cells(html, "Horror") == ["2", "4", "4", "50.0 %", "50.0 %"]
    assert cells(html, "Crime") == ["0", "1", "1", "—", "0.0 %"]


def test_statistics_list_the_most_resumed_titles(
    admin_client: Client, watched: dict[str, Movie]
) -> None:
    html = admin_client.get(URL).content.decode()

    table = html[html.index('id="most-resumed"') :]
    assert cells(table, "Alien") == ["1", "2"]
    assert cells(table, "Heat") == ["0", "1"]
    assert table.index("Alien") < table.index("Heat")


def test_statistics_chart_draws_a_bar_per_movie_scaled_to_the_most_viewed(
    admin_client: Client, watched: dict[str, Movie]
) -> None:
    html = admin_client.get(URL).content.decode()

    widths = re.findall(r'<rect class="views" x="200" y="2" width="([\d.]+)"', html)
    assert [float(w) for w in widths] == [statistics.CHART_WIDTH, statistics.CHART_WIDTH / 4]
    assert "<script" not in html[html.index("<svg") : html.index("</svg>")]


def test_statistics_are_aggregated_in_a_fixed_number_of_queries(
    admin_client: Client,
    make_movie: MovieFactory,
    audience: list[Any],
    django_assert_max_num_queries: Any,
) -> None:
    for n in range(12):
        film = make_movie(f"Film {n}", genres=(f"Genre {n % 3}",))
        for user in audience:
            watch(user, film, days_ago=n + 1, completed=n % 2 == 0)

    # Session and user, then two GROUP BY queries per grouping (movies, genres), and two per
    # grouping of playback quality (films, sources).
    with django_assert_max_num_queries(10):
        assert admin_client.get(URL).status_code == 200


def test_statistics_need_view_permission_on_sessions(audience: list[Any]) -> None:
    editor = audience[0]
    editor.is_staff = True
    editor.save(update_fields=["is_staff"])
    client = Client()
    client.force_login(editor)

    assert client.get(URL).status_code == 403
    editor.user_permissions.add(Permission.objects.get(codename="view_viewingsession"))
    assert client.get(URL).status_code == 200


def test_viewers_are_sent_to_the_admin_login(client: Client) -> None:
    response = client.get(URL)

    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_sessions_list_links_to_the_statistics(admin_client: Client) -> None:
    html = admin_client.get("/admin/progress/viewingsession/").content.decode()

    assert f'href="{URL}"' in html


def test_progress_admin_lists_rows_with_position_and_percent(
    admin_client: Client, watched: dict[str, Movie]
) -> None:
    response = admin_client.get("/admin/progress/watchprogress/")

    assert response.status_code == 200
    assert "0:10:00" in response.content.decode()
    assert "8 %" in response.content.decode()
