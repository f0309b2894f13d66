"""Subtitle uploads: SRT and WebVTT in, WebVTT out, every refusal naming the line at fault, and
files that appear whole or not at all."""

from __future__ import annotations

import codecs
from pathlib import Path

import pytest

from videos.models import Subtitle, VideoAsset
from videos.subtitles import SubtitleError, save_subtitle, to_webvtt

SRT = """1
00:00:01,000 --> 00:00:04,500
Hello, <i>world</i>.

2
00:01:02,250 --> 00:01:05,000
Two lines,
the second one too.
"""

VTT = """WEBVTT - a film

NOTE written by hand

STYLE
::cue { color: yellow; }

intro
00:00:01.000 --> 00:00:04.500 line:10% align:start
<v Narrator>Hello</v>

01:02.250 --> 01:05.000
No hours, no identifier.
"""


def srt(text: str) -> str:
    return to_webvtt(text.encode(), filename="film.srt")


def refusal(data: str | bytes, filename: str = "film.srt") -> SubtitleError:
    raw = data.encode() if isinstance(data, str) else data
    with pytest.raises(SubtitleError) as caught:
        to_webvtt(raw, filename=filename)
    return caught.value


def test_srt_becomes_webvtt_with_its_cues_and_timings():
    assert srt(SRT) == (
        "WEBVTT\n\n"
        "1\n00:00:01.000 --> 00:00:04.500\nHello, <i>world</i>.\n\n"
        "2\n00:01:02.250 --> 00:01:05.000\nTwo lines,\nthe second one too.\n"
    )


def test_a_byte_order_mark_and_windows_line_endings_make_no_difference():
    with_bom = codecs.BOM_UTF8 + SRT.replace("\n", "\r\n").encode()

    assert to_webvtt(with_bom, filename="FILM.SRT") == srt(SRT)


def test_utf16_with_its_byte_order_mark_is_read():
    data = "1\n00:00:01,000 --> 00:00:02,000\nÇa va, Zoë?\n".encode("utf-16")

    assert to_webvtt(data, filename="film.srt").endswith("Ça va, Zoë?\n")


def test_a_legacy_encoding_is_refused_naming_the_line_of_its_first_foreign_byte():
    data = "1\n00:00:01,000 --> 00:00:02,000\nCafé\n".encode("cp1252")

    error = refusal(data)

    assert error.line == 3
    assert "0xE9 is not UTF-8" in str(error)
    assert str(error).startswith("Line 3: ")


def test_srt_markup_webvtt_does_not_know_is_dropped_and_its_special_characters_escaped():
    text = srt(
        "1\n00:00:01,000 --> 00:00:02,000\n"
        '{\\an8}<font color="#ffff00">Tom & Jerry</font> <B>say</B> 1 < 2 -> &amp; -->\n'
    )

    assert text.splitlines()[-1] == ("Tom &amp; Jerry <b>say</b> 1 &lt; 2 -&gt; &amp; --&gt;")


def test_srt_cues_without_numbers_or_text_and_trailing_coordinates_are_fine():
    text = srt(
        "00:00:01,000 --> 00:00:02,000 X1:10 X2:100 Y1:10 Y2:50\nFirst\n\n"
        "2\n00:00:03,000 --> 00:00:04,000\n\n"
        "3\n00:00:05,000 --> 00:00:06,000\nThird\n"
    )

    assert text == (
        "WEBVTT\n\n00:00:01.000 --> 00:00:02.000\nFirst\n\n"
        "3\n00:00:05.000 --> 00:00:06.000\nThird\n"
    )


@pytest.mark.parametrize(
    ("data", "line", "says"),
    [
        ("1\n00:00:01,000 -> 00:00:02,000\nHi\n", 2, "is not a timing line"),
        ("1\n00:00:01.5 --> 00:00:02,000\nHi\n", 2, "is not a timing line"),
        ("1\n00:61:01,000 --> 00:62:02,000\nHi\n", 2, "more than 59"),
        ("1\n00:00:05,000 --> 00:00:02,000\nHi\n", 2, "ends (00:00:02.000) before it starts"),
        ("1\n00:00:05,000 --> 00:00:05,000\nHi\n", 2, "before it starts"),
        ("Hello there\n00:00:01,000 --> 00:00:02,000\n", 1, "expected a cue number"),
        (SRT + "\n3\n00:00:30,000 --> 00:00:31,000\nBack in time\n", 11, "before the cue above"),
        ("1\n00:00:01,000 --> 00:00:02,000\nHi\n2\n00:00:03,000 --> 00:00:04,000\nThere\n", 5,
         "is a blank line missing"),
    ],
)  # fmt: skip
def test_a_broken_srt_is_refused_naming_the_line(data, line, says):
    error = refusal(data)

    assert error.line == line
    assert says in str(error)


def test_webvtt_is_checked_and_kept_as_written():
    assert to_webvtt(VTT.encode(), filename="film.vtt") == VTT


@pytest.mark.parametrize(
    ("data", "line", "says"),
    [
        ("1\n00:00:01.000 --> 00:00:02.000\nHi\n", 1, 'starts with a line "WEBVTT"'),
        ("WEBVTT\n00:00:01.000 --> 00:00:02.000\nHi\n", 2, "blank line must separate"),
        ("WEBVTT\n\n00:00:01,000 --> 00:00:02,000\nHi\n", 3, "is not a timing line"),
        ("WEBVTT\n\n0:00:01.000 --> 00:00:02.000\nHi\n", 3, "is not a timing line"),
        ("WEBVTT\n\n00:00:03.000 --> 00:00:02.000\nHi\n", 3, "before it starts"),
        ("WEBVTT\n\n00:00:01.000 --> 00:00:02.000 middle\nHi\n", 3, "is not a cue setting"),
        ("WEBVTT\n\nan identifier\nHi\n", 3, "expected a cue identifier and a timing line"),
        ("WEBVTT\n\n00:00:01.000 --> 00:00:02.000\nHi\n00:00:03.000 --> 00:00:04.000\n", 5,
         "blank line missing"),
        ("WEBVTT\n\n00:00:05.000 --> 00:00:06.000\nA\n\n00:00:01.000 --> 00:00:02.000\nB\n", 6,
         "before the cue above"),
        ("WEBVTT\n\n00:00:01.000 --> 00:00:02.000\nA\n\nSTYLE\n::cue { color: red }\n", 6,
         "must come before the first cue"),
    ],
)  # fmt: skip
def test_a_broken_webvtt_is_refused_naming_the_line(data, line, says):
    error = refusal(data, filename="film.vtt")

    assert error.line == line
    assert says in str(error)


@pytest.mark.parametrize(
    ("data", "filename", "says"),
    [
        ("", "film.srt", "empty"),
        ("\r\n  \n", "film.vtt", "empty"),
        ("WEBVTT\n\nNOTE nothing else\n", "film.vtt", "no cues"),
        ("1\n00:00:01,000 --> 00:00:02,000\n\n", "film.srt", "no cues"),
        ("[Script Info]\n", "film.ass", "use .srt or .vtt"),
    ],
)
def test_files_with_nothing_to_show_are_refused_without_a_line(data, filename, says):
    error = refusal(data, filename=filename)

    assert error.line is None
    assert says in str(error)


# --- Saving --------------------------------------------------------------------------------


@pytest.fixture
def asset(make_movie, settings, tmp_path: Path) -> VideoAsset:
    settings.HLS_ROOT = tmp_path / "hls"
    return VideoAsset.objects.create(movie=make_movie("Heat"), status=VideoAsset.Status.READY)


def files_under(directory: Path) -> list[str]:
    return sorted(str(path.relative_to(directory)) for path in directory.rglob("*"))


def test_a_saved_subtitle_is_a_file_under_the_asset_and_a_row(asset):
    vtt = srt(SRT)

    subtitle = save_subtitle(asset=asset, language="pt-BR", label="Português", vtt=vtt)

    assert (subtitle.language, subtitle.label) == ("pt-BR", "Português")
    assert (asset.directory / "subtitles" / "pt-BR.vtt").read_text(encoding="utf-8") == vtt
    assert files_under(asset.directory) == ["subtitles", "subtitles/pt-BR.vtt"]
    assert (asset.directory / "subtitles" / "pt-BR.vtt").stat().st_mode & 0o777 == 0o644


def test_saving_a_language_again_replaces_its_file_and_label(asset):
    save_subtitle(asset=asset, language="en", label="English", vtt=srt(SRT))
    newer = "WEBVTT\n\n00:00:01.000 --> 00:00:02.000\nNewer\n"

    save_subtitle(asset=asset, language="en", label="English (SDH)", vtt=newer)

    assert list(asset.subtitles.values_list("language", "label")) == [("en", "English (SDH)")]
    assert (asset.directory / "subtitles" / "en.vtt").read_text(encoding="utf-8") == newer
    assert files_under(asset.directory) == ["subtitles", "subtitles/en.vtt"]


def test_invalid_text_changes_neither_the_file_nor_the_row(asset):
    save_subtitle(asset=asset, language="en", label="English", vtt=srt(SRT))

    with pytest.raises(SubtitleError):
        save_subtitle(asset=asset, language="en", label="Broken", vtt="WEBVTT\n\nnonsense\n")

    assert asset.subtitles.get().label == "English"
    assert (asset.directory / "subtitles" / "en.vtt").read_text(encoding="utf-8") == srt(SRT)


def test_a_file_that_cannot_be_put_in_place_leaves_no_row_and_no_stray_file(asset):
    # Something that is not a file already holds the name: the rename fails at the very end.
    (asset.directory / "subtitles" / "en.vtt").mkdir(parents=True)

    with pytest.raises(OSError):
        save_subtitle(asset=asset, language="en", label="English", vtt=srt(SRT))

    assert not Subtitle.objects.filter(asset=asset).exists()
    assert files_under(asset.directory) == ["subtitles", "subtitles/en.vtt"]


@pytest.mark.parametrize("language", ["../../etc", "en/x", "", "e", "english-language-x"])
def test_a_language_that_is_not_a_code_is_refused_before_anything_is_written(asset, language):
    with pytest.raises(ValueError, match="is not a language code"):
        save_subtitle(asset=asset, language=language, label="Label", vtt=srt(SRT))

    assert not asset.directory.exists()
