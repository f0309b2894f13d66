"""The watch page: the best playable source in the player, the others one click away."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_safe

from catalog.models import Movie
from progress import services as progress
from shield.decorators import frames_players
from streaming import sources
from streaming.api import MAX_START_SECONDS
from streaming.providers.base import HLS, Source, Track
from streamsite import clock


@dataclass(frozen=True)
class Server:
    """One entry of the page's source switcher.

    ``url`` is what the player loads: an embed's page (with the start position in the
    provider's own parameter), or for our own HLS the signed master playlist, with its
    subtitle tracks signed alike.
    """

    number: int
    source: Source
    url: str
    subtitles: tuple[tuple[Track, str], ...] = ()
    thumbnails: str = ""  # the signed seek-preview track of our own HLS, if it has one

    @property
    def label(self) -> str:
        return f"Server {self.number}"

    @property
    def kind(self) -> str:
        return self.source.kind

    @property
    def is_hls(self) -> bool:
        return self.source.kind == HLS

    @property
    def timeout(self) -> float:
        """Seconds the page waits for this player to prove it plays before moving on."""
        return self.source.player_timeout or settings.WATCH_SOURCE_TIMEOUT


@frames_players  # its policy lets it frame the enabled providers (shield/csp.py)
@require_safe
def watch(request: HttpRequest, slug: str) -> HttpResponse:
    movie = get_object_or_404(Movie.objects.published().prefetch_related("genres"), slug=slug)
    resolution = sources.resolve(movie.pk)
    if resolution is None:  # unpublished between the two reads
        raise Http404
    # The one place the resume position is decided: ?t=<seconds> on the URL wins (?t=0 plays
    # from the start), else where the signed-in viewer stopped last time.
    start_position = requested_start(request)
    if start_position is None and "t" not in request.GET:
        start_position = saved_start(request, movie)
    servers = [
        Server(
            number,
            ranked.source,
            ranked.source.url(start=start_position),
            tuple(ranked.source.subtitles()),
            ranked.source.thumbnails_url(),
        )
        for number, ranked in enumerate(resolution.playable, start=1)
    ]
    context = {
        "movie": movie,
        "servers": servers,
        "current": servers[0] if servers else None,
        # The player elements the page may need: a <video> for our HLS, an iframe for embeds.
        "hls_server": next((server for server in servers if server.is_hls), None),
        "embed_server": next((server for server in servers if not server.is_hls), None),
        "start_position": start_position,
        "start_label": clock.position(start_position) if start_position else "",
        "progress_token": (
            progress.playback_token(user_id=request.user.pk, movie_id=movie.pk)
            if request.user.is_authenticated
            else ""
        ),
        "load_timeout": settings.WATCH_SOURCE_TIMEOUT,
        # The viewing session this page will start when playback does (signed-in viewers).
        "session_id": uuid.uuid4() if request.user.is_authenticated else None,
        "retry_after": None if servers else resolution.retry_after(),
        # Every provider is down (come back later) or none is set up (nothing to wait for).
        "providers_down": bool(resolution.skipped),
    }
    response = render(request, "streaming/watch.html", context, status=200 if servers else 503)
    if not servers:
        response["Retry-After"] = str(context["retry_after"])
    return response


def requested_start(request: HttpRequest) -> int | None:
    """``?t=90`` → 90. Anything else (missing, negative, not a whole number) plays from 0."""
    raw = request.GET.get("t", "")
    if not raw.isdigit():
        return None
    seconds = int(raw)
    return seconds if 0 < seconds <= MAX_START_SECONDS else None


def saved_start(request: HttpRequest, movie: Movie) -> int | None:
    """The viewer's saved resume position in whole seconds (None: start at the beginning)."""
    user_id = request.user.pk if request.user.is_authenticated else None
    seconds = int(progress.resume_position(user_id=user_id, movie_id=movie.pk))
    return seconds if 0 < seconds <= MAX_START_SECONDS else None
