"""The demo's own videos: made once by the real pipeline, with a subtitle track, then reused."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command

from catalog.models import Movie
from videos.models import VideoAsset

pytestmark = pytest.mark.django_db


def test_the_most_popular_films_get_a_playable_video_once(make_movie, video_root, capsys):
    popular = [make_movie(f"Film {n}", popularity=100 - n) for n in range(3)]

    call_command("demo_videos", films=2, seconds=6)
    first = capsys.readouterr().out
    call_command("demo_videos", films=2, seconds=6)
    second = capsys.readouterr().out

    assets = VideoAsset.objects.ready().order_by("movie__popularity")
    assert sorted(a.movie_id for a in assets) == sorted(m.pk for m in popular[:2])
    for asset in assets:
        assert [r.height for r in asset.renditions.all()] == [480, 360, 240]
        (subtitle,) = asset.subtitles.all()
        assert (subtitle.language, subtitle.label) == ("en", "English")
        vtt = (asset.directory / subtitle.filename).read_text()
        assert "00:00:05.000 --> 00:00:06.000\nStreamSite demo clip, second 5." in vtt
    assert not Movie.objects.exclude(poster_file="").exists()  # generated posters stay
    assert "(2 made now)" in first
    assert "(0 made now)" in second
    assert len(list((video_root / "demo").iterdir())) == 1  # one clip, reused


def test_bad_options_are_refused_in_words():
    with pytest.raises(CommandError, match="--films must be 1 to 20"):
        call_command("demo_videos", films=0)
