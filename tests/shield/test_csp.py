"""Content-Security-Policy: our scripts only, and frames only from enabled providers."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from streaming.models import Provider

pytestmark = pytest.mark.django_db


def directives(response) -> dict[str, list[str]]:
    policy = response["Content-Security-Policy"]
    return {
        name: values
        for name, *values in (part.split() for part in policy.split(";") if part.strip())
    }


def test_pages_allow_only_our_own_scripts_and_frame_nothing(client):
    policy = directives(client.get("/"))

    assert policy["script-src"] == ["'self'"]
    assert policy["object-src"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["frame-src"] == ["'self'"]
    assert "https://image.tmdb.org" in policy["img-src"]


def test_the_watch_page_frames_exactly_the_enabled_providers(client, make_movie):
    movie = make_movie("Heat")
    # Seeded: VidKing enabled, two example fallbacks disabled.
    Provider.objects.filter(slug="fallback-embed").update(enabled=False)

    before = directives(client.get(movie.get_watch_url()))["frame-src"]
    fallback = Provider.objects.get(slug="fallback-embed")
    fallback.enabled = True
    fallback.save(update_fields=["enabled"])
    after = directives(client.get(movie.get_watch_url()))["frame-src"]
    vidking = Provider.objects.get(slug="vidking")
    vidking.enabled = False
    vidking.save(update_fields=["enabled"])
    without_vidking = directives(client.get(movie.get_watch_url()))["frame-src"]

    assert before == ["'self'", "https://www.vidking.net"]
    assert after == ["'self'", "https://embed.example.com", "https://www.vidking.net"]
    assert without_vidking == ["'self'", "https://embed.example.com"]


def test_only_the_watch_page_lets_hlsjs_feed_video_and_start_its_worker_from_blobs(
    client, make_movie
):
    movie = make_movie("Heat")

    watch_page = directives(client.get(movie.get_watch_url()))
    home = directives(client.get("/"))

    # Media Source Extensions give the <video> a blob: URL; hls.js starts its transmuxer worker
    # from one. Nothing else on the watch page changes: scripts stay our own files.
    assert watch_page["media-src"] == ["'self'", "blob:"]
    assert watch_page["worker-src"] == ["'self'", "blob:"]
    assert watch_page["script-src"] == ["'self'"]
    assert home["media-src"] == ["'self'"]
    assert home["worker-src"] == ["'self'"]


def test_api_docs_work_under_the_policy_without_inline_script():
    page = Client().get("/api/docs").content.decode()

    scripts = re.findall(r"<script([^>]*)>", page)
    assert scripts
    assert all("src=" in attributes for attributes in scripts)


def test_json_responses_carry_no_page_policy(client):
    assert "Content-Security-Policy" not in client.get("/api/genres")
