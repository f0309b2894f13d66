"""URLconf for the player tests: the whole site plus a bare page around static/js/player.js.

The page is the player script's contract and nothing else: a player element with the data
attributes it reads, holding either a <video> of a file made by ffmpeg for the test, or the
iframe of a fake provider. Used through ``@pytest.mark.urls("tests.progress.player_site")``.
"""

from __future__ import annotations

import re
from pathlib import Path

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, HttpRequest, HttpResponse
from django.template import engines
from django.urls import path

from progress import buffer
from progress.services import playback_token
from streamsite.urls import urlpatterns as site_urlpatterns

PAGE = engines["django"].from_string(
    """{% load static %}<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Player</title></head>
<body>
  <div id="player" data-movie-id="{{ movie_id }}"
       data-progress-url="/api/streaming/progress/{{ movie_id }}"
       data-session-url="/api/streaming/sessions"
       data-csrf-token="{{ csrf_token }}"
       {% if progress_token %}data-progress-token="{{ progress_token }}"{% endif %}
       data-provider-origin="{{ provider_origin }}"
       {% if start %}data-start="{{ start }}"{% endif %}>
    {% if provider_url %}<iframe id="provider" src="{{ provider_url }}"></iframe>
    {% else %}<video src="/player-test/video.webm" muted playsinline preload="auto"></video>
    {% endif %}
  </div>
  {% if impostor_url %}<iframe id="impostor" src="{{ impostor_url }}"></iframe>{% endif %}
  <script src="{% static 'js/player.js' %}"></script>
</body></html>"""
)


@login_required
def player_page(request: HttpRequest, movie_id: int) -> HttpResponse:
    progress = buffer.get_progress(user_id=request.user.pk, movie_id=movie_id)
    provider_url = request.GET.get("provider", "")
    impostor_url = request.GET.get("impostor", "")
    context = {
        "movie_id": movie_id,
        "start": progress.resume_position() if progress else 0,
        "provider_url": provider_url,
        "provider_origin": request.GET.get("origin", ""),
        "impostor_url": impostor_url,
        # ?token=1: the playback token the watch page gives signed-in viewers.
        "progress_token": (
            playback_token(user_id=request.user.pk, movie_id=movie_id)
            if request.GET.get("token")
            else ""
        ),
    }
    response = HttpResponse(PAGE.render(context, request))
    if provider_url:
        # The site's policy frames only enabled providers' origins; this page frames its own.
        frames = " ".join(filter(None, ["'self'", _origin(provider_url), _origin(impostor_url)]))
        response["Content-Security-Policy"] = (
            f"default-src 'self'; script-src 'self'; frame-src {frames}"
        )
    return response


def _origin(url: str) -> str:
    match = re.match(r"^https?://[^/]+", url)
    return match.group(0) if match else ""


def video(request: HttpRequest) -> HttpResponse:
    """The test video, with byte ranges so Chromium can seek in it."""
    file = Path(settings.PLAYER_TEST_VIDEO)
    size = file.stat().st_size
    match = re.fullmatch(r"bytes=(\d+)-(\d*)", request.headers.get("Range", ""))
    if not match:
        response: HttpResponse = FileResponse(file.open("rb"), content_type="video/webm")
    else:
        start = int(match.group(1))
        end = min(int(match.group(2) or size - 1), size - 1)
        with file.open("rb") as handle:
            handle.seek(start)
            chunk = handle.read(end - start + 1)
        response = HttpResponse(chunk, status=206, content_type="video/webm")
        response["Content-Range"] = f"bytes {start}-{end}/{size}"
    response["Accept-Ranges"] = "bytes"
    return response


urlpatterns = [
    path("player-test/video.webm", video),
    path("player-test/<int:movie_id>/", player_page),
    *site_urlpatterns,
]
