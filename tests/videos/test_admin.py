"""Editors upload on the movie's admin page, follow the transcode, redo a failed one and attach
subtitles; what cannot be used is refused on its field with the reason."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from videos.models import Subtitle, VideoAsset

pytestmark = pytest.mark.django_db


def management(prefix: str, total: int, initial: int = 0) -> dict[str, int]:
    return {
        f"{prefix}-TOTAL_FORMS": total,
        f"{prefix}-INITIAL_FORMS": initial,
        f"{prefix}-MIN_NUM_FORMS": 0,
        f"{prefix}-MAX_NUM_FORMS": 1000,
    }


def movie_form(movie: Any, **extra: Any) -> dict[str, Any]:
    """The movie's change form as the browser sends it, with one upload field."""
    return {
        "title": movie.title,
        "slug": movie.slug,
        "genres": [genre.pk for genre in movie.genres.all()],
        "is_published": "on",
        "tmdb_id": movie.tmdb_id,
        "popularity": "1",
        "vote_average": "0",
        "vote_count": "0",
        **management("credits", 0),
        **management("videos", 0),
        **management("videos-2", 1),
        **extra,
    }


def test_an_upload_larger_than_memory_streams_to_disk_and_becomes_ready(
    admin_client, make_movie, make_clip, video_root, settings, django_capture_on_commit_callbacks
):
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 64 * 1024
    clip = make_clip(seconds=4, bitrate="1M")
    assert clip.stat().st_size > settings.FILE_UPLOAD_MAX_MEMORY_SIZE
    movie = make_movie("Heat")

    with clip.open("rb") as upload, django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            f"/admin/catalog/movie/{movie.pk}/change/",
            movie_form(movie, **{"videos-2-0-source": upload}),
        )

    assert response.status_code == 302, response.content.decode()[-3000:]
    asset = VideoAsset.objects.get(movie=movie)
    assert asset.is_ready  # tasks run eagerly in the suite: queued after commit, done
    assert asset.source.read() == clip.read_bytes()
    assert [r.height for r in asset.renditions.all()] == [240]


def test_a_file_without_video_is_refused_on_its_field_and_nothing_is_kept(
    admin_client, make_movie, video_root
):
    movie = make_movie("Heat")
    upload = SimpleUploadedFile("trailer.mp4", b"this is text, not a film\n" * 200)

    response = admin_client.post(
        f"/admin/catalog/movie/{movie.pk}/change/",
        movie_form(movie, **{"videos-2-0-source": upload}),
    )

    assert response.status_code == 200
    assert "trailer.mp4 was refused: This is not a video file ffmpeg can read." in (
        response.content.decode()
    )
    assert not VideoAsset.objects.exists()
    assert not video_root.exists() or not any(p.is_file() for p in video_root.rglob("*"))


def test_the_upload_cap_is_enforced_with_its_size_named(
    admin_client, make_movie, make_clip, video_root, settings
):
    settings.VIDEO_UPLOAD_MAX_BYTES = 1000
    movie = make_movie("Heat")

    with make_clip(seconds=4).open("rb") as upload:
        response = admin_client.post(
            f"/admin/catalog/movie/{movie.pk}/change/",
            movie_form(movie, **{"videos-2-0-source": upload}),
        )

    assert "The file is larger than the 1000\xa0bytes allowed." in response.content.decode()
    assert not VideoAsset.objects.exists()


def test_progress_is_readable_live_by_staff_only(admin_client, client, make_movie, video_root):
    asset = VideoAsset.objects.create(
        movie=make_movie("Heat"), source="x.mp4", status="transcoding", percent=42
    )
    url = f"/admin/videos/videoasset/{asset.pk}/progress/"

    page = admin_client.get(f"/admin/catalog/movie/{asset.movie_id}/change/").content.decode()
    assert f'data-progress-url="{url}"' in page
    assert admin_client.get(url).json() == {
        "status": "transcoding",
        "label": "Transcoding",
        "percent": 42,
        "error": "",
        "done": False,
    }
    assert client.get(url).status_code == 302  # to the admin's sign-in page


def test_a_failed_video_offers_transcode_again(
    admin_client, make_movie, make_clip, video_root, django_capture_on_commit_callbacks
):
    asset = VideoAsset.objects.create(movie=make_movie("Heat"), source="missing.mp4")
    asset.source.save("clip.mp4", make_clip(seconds=4).open("rb"))
    VideoAsset.objects.filter(pk=asset.pk).update(status="failed", error="Conversion failed!")
    page = f"/admin/videos/videoasset/{asset.pk}/change/"

    assert "Transcode again" in admin_client.get(page).content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(f"/admin/videos/videoasset/{asset.pk}/transcode-again/")

    assert response.status_code == 302
    asset.refresh_from_db()
    assert asset.is_ready and asset.error == ""
    assert "Transcode again" not in admin_client.get(page).content.decode()


SRT = b"1\n00:00:00,500 --> 00:00:02,000\nHello there.\n\n2\n00:00:02,500 --> 00:00:04,000\nBye.\n"


def subtitle_form(**extra: Any) -> dict[str, Any]:
    return {**management("renditions", 0), **management("subtitles", 1), **extra}


def test_an_srt_subtitle_is_attached_as_webvtt(admin_client, make_movie, make_ready_asset):
    asset = make_ready_asset(make_movie("Heat"), seconds=4)

    response = admin_client.post(
        f"/admin/videos/videoasset/{asset.pk}/change/",
        subtitle_form(
            **{
                "subtitles-0-language": "en",
                "subtitles-0-label": "English",
                "subtitles-0-file": SimpleUploadedFile("heat.srt", SRT),
            }
        ),
    )

    assert response.status_code == 302, response.content.decode()[-3000:]
    subtitle = Subtitle.objects.get(asset=asset)
    vtt = (asset.directory / subtitle.filename).read_text(encoding="utf-8")
    assert vtt.startswith("WEBVTT")
    assert "00:00:00.500 --> 00:00:02.000\nHello there." in vtt


def test_a_malformed_subtitle_is_refused_with_the_line_that_is_wrong(
    admin_client, make_movie, make_ready_asset
):
    asset = make_ready_asset(make_movie("Heat"), seconds=4)
    broken = SRT.replace(b"00:00:02,500 --> 00:00:04,000", b"00:00:02,500 -> 00:00:04")

    response = admin_client.post(
        f"/admin/videos/videoasset/{asset.pk}/change/",
        subtitle_form(
            **{
                "subtitles-0-language": "en",
                "subtitles-0-label": "English",
                "subtitles-0-file": SimpleUploadedFile("heat.srt", broken),
            }
        ),
    )

    assert response.status_code == 200
    assert "heat.srt: Line 6:" in response.content.decode()
    assert not Subtitle.objects.exists()
    assert not (asset.directory / "subtitles" / "en.vtt").exists()
