"""Signing up and watching: sign-up (with its CSRF token), a film page, the watch page, the
viewing session, a heartbeat every ``--heartbeat-seconds`` while playing with pauses and seeks,
the page-hide beacon, then continue watching, and the next film.

The requests are the player's own (static/js/player.js): JSON heartbeats with the page's
playback token in ``X-Progress-Token`` and the CSRF token in ``X-CSRFToken``; the beacon a
form post carrying both in its body.
"""

from __future__ import annotations

import random
import re
import secrets
import time
import uuid
from typing import Any

import gevent
from locust import constant, task

from loadtest.locustfiles.common import Client, catalog, mix_weight

PLAYER_DATA = re.compile(r'data-(movie-id|session-id|progress-token|csrf-token|start)="([^"]*)"')
CSRF_INPUT = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


class Viewer(Client):
    journey = "viewer"
    weight = mix_weight("viewer")
    wait_time = constant(0)  # the journey paces itself: the player's clock

    def on_start(self) -> None:
        super().on_start()
        self.sign_up()

    def sign_up(self) -> None:
        page = self.client.get(
            "/accounts/signup/", name="/accounts/signup/", context=self.context()
        )
        token = CSRF_INPUT.search(page.text)
        password = secrets.token_urlsafe(12)
        self.client.post(
            "/accounts/signup/",
            data={
                "username": f"viewer-{secrets.token_hex(6)}",
                "password1": password,
                "password2": password,
                "csrfmiddlewaretoken": token.group(1) if token else "",
            },
            headers={"Origin": self.origin(), "Referer": f"{self.origin()}/accounts/signup/"},
            name="/accounts/signup/",
            context=self.context(),
        )

    @task
    def watch_a_film(self) -> None:
        options = self.environment.parsed_options
        movie = catalog().popular_movie()
        self.client.get(f"/movies/{movie['slug']}/", name="/movies/[slug]/", context=self.context())
        page = self.client.get(
            f"/watch/{movie['slug']}/", name="/watch/[slug]/", context=self.context()
        )
        player = dict(PLAYER_DATA.findall(page.text))
        if "progress-token" not in player:
            return  # no source to play, or the page failed (recorded as such)
        movie_id = player["movie-id"]
        headers = {
            "X-CSRFToken": player.get("csrf-token", ""),
            "X-Progress-Token": player["progress-token"],
            "Origin": self.origin(),
        }
        session = self.client.post(
            "/api/streaming/sessions",
            json={
                "movie_id": int(movie_id),
                "session_id": player.get("session-id") or str(uuid.uuid4()),
            },
            headers=headers,
            name="/api/streaming/sessions",
            context=self.context(),
        )
        session_id = session.json().get("session_id") if session.ok else None
        duration = float((movie.get("runtime") or 100) * 60)
        position = float(player.get("start") or 0)
        beats = max(
            1, round(random.expovariate(1 / options.watch_minutes) * 60 / options.heartbeat_seconds)
        )

        def beat(event: str) -> None:
            body: dict[str, Any] = {
                "position": min(position, duration),
                "duration": duration,
                "event": event,
                "client_ts": int(time.time() * 1000),
            }
            if session_id:
                body["session_id"] = session_id
            self.client.post(
                f"/api/streaming/progress/{movie_id}",
                json=body,
                headers=headers,
                name=f"/api/streaming/progress/[id] {event}",
                context=self.context(),
            )

        beat("play")
        for _ in range(beats):
            gevent.sleep(options.heartbeat_seconds)
            position += options.heartbeat_seconds
            beat("heartbeat")
            if random.random() < options.pause_share:
                beat("pause")
                gevent.sleep(random.uniform(5, 40))
                beat("play")
            elif random.random() < options.seek_share:
                position = max(0.0, position + random.choice((-1, 1)) * random.uniform(10, 600))
                beat("seek")
            if position >= duration:
                beat("ended")
                break
        # Leaving the page: the beacon, a form post with both tokens in its body.
        self.client.post(
            f"/api/streaming/progress/{movie_id}",
            data={
                "position": min(position, duration),
                "duration": duration,
                "event": "hide",
                "client_ts": int(time.time() * 1000),
                "session_id": session_id or "",
                "progress_token": player["progress-token"],
                "csrfmiddlewaretoken": player.get("csrf-token", ""),
            },
            headers={"Origin": self.origin()},
            name="/api/streaming/progress/[id] hide",
            context=self.context(),
        )
        # Back on the home page, where continue watching is read from the API.
        self.client.get("/", name="/ (signed in)", context=self.context())
        self.client.get(
            "/api/progress",
            headers={"X-CSRFToken": player.get("csrf-token", "")},
            name="/api/progress",
            context=self.context(),
        )
