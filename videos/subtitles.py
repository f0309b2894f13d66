"""Subtitle files an editor uploads, made into the WebVTT that browsers render.

``to_webvtt`` takes the bytes of an ``.srt`` or ``.vtt`` file and returns UTF-8 WebVTT text,
or raises :class:`SubtitleError` naming the line that is wrong: a file that would load but show
nothing (or the wrong cue at the wrong time) is refused here rather than discovered by a viewer.

Encodings: UTF-8, with or without a byte order mark, and UTF-16 with its byte order mark (what
Windows tools write as "Unicode"). Nothing else is guessed. A legacy 8-bit file (Windows-1252,
Windows-1251, ISO-8859-x...) carries no mark of which one it is, and decoding it with the wrong
table silently turns every accented letter into another one, so it is refused with the line of
its first byte that is not UTF-8; any text editor re-saves it as UTF-8.

``save_subtitle`` writes the WebVTT file under the asset's directory and creates or updates its
``Subtitle`` row; the file appears whole or not at all (written aside, then renamed).
"""

from __future__ import annotations

import codecs
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from django.db import transaction

from streamsite import clock
from videos.models import Subtitle, VideoAsset

# A film's subtitles are a few hundred kilobytes; anything this large is not a subtitle file.
MAX_BYTES = 5 * 1024 * 1024
# BCP 47 in the shape the menu and the file name need: "en", "pt-BR", "zh-Hant", "es-419".
LANGUAGE = re.compile(r"[A-Za-z]{2,3}(?:-[A-Za-z0-9]{2,8})*")
LANGUAGE_MAX = 16
LABEL_MAX = 64

_SRT_TIME = r"(\d+):(\d{2}):(\d{2})[,.](\d{3})"
SRT_TIMING = re.compile(rf"{_SRT_TIME}\s*-->\s*{_SRT_TIME}(?:\s.*)?")
_VTT_TIME = r"(?:(\d{2,}):)?(\d{2}):(\d{2})\.(\d{3})"
VTT_TIMING = re.compile(rf"{_VTT_TIME}[ \t]+-->[ \t]+{_VTT_TIME}(?:[ \t]+(.*))?")
VTT_SETTINGS = frozenset({"vertical", "line", "position", "size", "align", "region"})
SRT_EXAMPLE = "00:01:02,500 --> 00:01:04,000"
VTT_EXAMPLE = "00:01:02.500 --> 00:01:04.000"

# SRT's styling: <b>, <i> and <u> mean the same in WebVTT; <font> has no WebVTT equivalent;
# {\an8}-style overrides come from SSA/ASS tools and would show as text.
_SRT_TAG = re.compile(r"<(/?)([A-Za-z]+)\b[^>]*>")
_SSA_OVERRIDE = re.compile(r"\{\\[^}]*\}")
_ENTITY = re.compile(r"&(?:#\d+|#[xX][0-9a-fA-F]+|[A-Za-z]+);")
KEPT_TAGS = frozenset({"b", "i", "u"})


class SubtitleError(ValueError):
    """A subtitle file that cannot be used; ``line`` is 1-based, None when no line is at fault."""

    def __init__(self, message: str, *, line: int | None = None) -> None:
        self.line = line
        super().__init__(f"Line {line}: {message}" if line is not None else message)


@dataclass(frozen=True)
class Cue:
    identifier: str
    start: int  # milliseconds
    end: int
    text: str


def to_webvtt(data: bytes, *, filename: str) -> str:
    """The WebVTT text of an ``.srt`` or ``.vtt`` file; raises :class:`SubtitleError`."""
    kind = Path(filename).suffix.lower()
    if kind not in {".srt", ".vtt"}:
        raise SubtitleError(f"{Path(filename).name!r} is not a subtitle file: use .srt or .vtt")
    if len(data) > MAX_BYTES:
        raise SubtitleError(f"the file is larger than {MAX_BYTES // (1024 * 1024)} MB")
    lines = _decode(data).replace("\r\n", "\n").replace("\r", "\n").split("\n")
    while lines and not lines[-1].strip():
        lines.pop()
    if not lines:
        raise SubtitleError("the file is empty")
    if kind == ".srt":
        return _srt_to_webvtt(lines)
    return _checked_webvtt(lines)


def save_subtitle(*, asset: VideoAsset, language: str, label: str, vtt: str) -> Subtitle:
    """Store ``vtt`` as the asset's subtitles in ``language``, shown in menus as ``label``.

    Raises ``ValueError`` for a language or label the menu cannot use, and
    :class:`SubtitleError` (a ``ValueError`` too) for text that is not valid WebVTT.
    """
    if not LANGUAGE.fullmatch(language) or len(language) > LANGUAGE_MAX:
        raise ValueError(f"{language!r} is not a language code such as en, fr or pt-BR")
    label = label.strip()
    if not label or len(label) > LABEL_MAX:
        raise ValueError(f"a subtitle label needs 1 to {LABEL_MAX} characters")
    # Whoever made the text, the file we serve is WebVTT a browser will take.
    text = to_webvtt(vtt.encode(), filename=f"{language}.vtt")
    target = asset.directory / Subtitle(asset=asset, language=language).filename
    target.parent.mkdir(parents=True, exist_ok=True)
    aside = _write_aside(target, text)
    try:
        with transaction.atomic():
            subtitle, _ = Subtitle.objects.update_or_create(
                asset=asset, language=language, defaults={"label": label}
            )
            # Last, inside the transaction: a failed rename rolls the row back, and a rename is
            # atomic, so a player reading the file sees the old text or the new, never half.
            os.replace(aside, target)
    except BaseException:
        aside.unlink(missing_ok=True)
        raise
    return subtitle


def _write_aside(target: Path, text: str) -> Path:
    """``text`` in a new file beside ``target`` (a name nothing serves), flushed to disk."""
    handle, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    path = Path(name)
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="\n") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        path.chmod(0o644)  # mkstemp makes it private; the web server must read it
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path


def _decode(data: bytes) -> str:
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
    elif data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return _without_nul(data.decode("utf-16"))
        except UnicodeDecodeError as error:
            raise SubtitleError("the file says it is UTF-16 but is not") from error
    try:
        return _without_nul(data.decode("utf-8"))
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        byte = data[error.start]
        raise SubtitleError(
            f"byte 0x{byte:02X} is not UTF-8. Save the file as UTF-8 and upload it again",
            line=line,
        ) from error


def _without_nul(text: str) -> str:
    if "\x00" in text:
        raise SubtitleError(
            "the file contains NUL characters", line=text[: text.index("\x00")].count("\n") + 1
        )
    return text


def _blocks(lines: list[str], first: int = 0) -> list[tuple[int, list[str]]]:
    """Runs of non-blank lines from ``lines[first:]``, each with its 1-based line number."""
    blocks: list[tuple[int, list[str]]] = []
    current: list[str] = []
    start = 0
    for number, line in enumerate(lines[first:], start=first + 1):
        if line.strip():
            if not current:
                start = number
            current.append(line)
        elif current:
            blocks.append((start, current))
            current = []
    if current:
        blocks.append((start, current))
    return blocks


def _milliseconds(hours: str | None, minutes: str, seconds: str, millis: str, line: int) -> int:
    if int(minutes) > 59 or int(seconds) > 59:
        raise SubtitleError(f"{minutes}:{seconds} has more than 59 minutes or seconds", line=line)
    return ((int(hours or 0) * 60 + int(minutes)) * 60 + int(seconds)) * 1000 + int(millis)


def _timing(groups: tuple[str | None, ...], line: int) -> tuple[int, int]:
    start = _milliseconds(*groups[0:4], line=line)
    end = _milliseconds(*groups[4:8], line=line)
    if end <= start:
        raise SubtitleError(
            f"the cue ends ({clock.webvtt(end)}) before it starts ({clock.webvtt(start)})",
            line=line,
        )
    return start, end


def _in_order(start: int, previous: int, line: int) -> None:
    if start < previous:
        raise SubtitleError(
            f"this cue starts at {clock.webvtt(start)}, before the cue above it "
            f"({clock.webvtt(previous)}); cues must be in time order",
            line=line,
        )


# --- SRT -------------------------------------------------------------------------------------


def _srt_to_webvtt(lines: list[str]) -> str:
    cues: list[Cue] = []
    for number, block in _blocks(lines):
        first = block[0].strip()
        if SRT_TIMING.fullmatch(first):
            identifier, timing_at = "", 0
        elif first.isdigit() and len(block) > 1:
            identifier, timing_at = first, 1
        else:
            raise SubtitleError(
                f"expected a cue number or a timing line such as {SRT_EXAMPLE}, found {first!r}",
                line=number,
            )
        timing_line = number + timing_at
        timing = SRT_TIMING.fullmatch(block[timing_at].strip())
        if timing is None:
            raise SubtitleError(
                f"{block[timing_at].strip()!r} is not a timing line such as {SRT_EXAMPLE}",
                line=timing_line,
            )
        start, end = _timing(timing.groups(), timing_line)
        _in_order(start, cues[-1].start if cues else 0, timing_line)
        text = block[timing_at + 1 :]
        for offset, line in enumerate(text, start=timing_line + 1):
            if SRT_TIMING.fullmatch(line.strip()):
                raise SubtitleError(
                    "a timing line inside the text of the cue above: is a blank line missing "
                    "before this cue?",
                    line=offset,
                )
        converted = [_srt_text(line) for line in text]
        converted = [line for line in converted if line.strip()]
        if converted:  # a cue with nothing to show is dropped, not shown empty
            cues.append(Cue(identifier, start, end, "\n".join(converted)))
    if not cues:
        raise SubtitleError("the file has no cues")
    parts = ["WEBVTT"]
    for cue in cues:
        head = f"{cue.identifier}\n" if cue.identifier else ""
        parts.append(f"{head}{clock.webvtt(cue.start)} --> {clock.webvtt(cue.end)}\n{cue.text}")
    return "\n\n".join(parts) + "\n"


def _srt_text(line: str) -> str:
    """One line of SRT cue text as WebVTT cue text: b/i/u kept, other tags dropped, and the
    characters WebVTT gives a meaning to (``&``, ``<``, ``>``, so also ``-->``) escaped."""
    line = _SSA_OVERRIDE.sub("", line).strip()
    pieces: list[str] = []
    last = 0
    for tag in _SRT_TAG.finditer(line):
        pieces.append(_escape(line[last : tag.start()]))
        name = tag.group(2).lower()
        if name in KEPT_TAGS:
            pieces.append(f"<{tag.group(1)}{name}>")
        last = tag.end()
    pieces.append(_escape(line[last:]))
    return "".join(pieces)


def _escape(text: str) -> str:
    escaped: list[str] = []
    last = 0
    for entity in _ENTITY.finditer(text):  # an entity already written stays one
        escaped.append(_escape_plain(text[last : entity.start()]))
        escaped.append(entity.group(0))
        last = entity.end()
    escaped.append(_escape_plain(text[last:]))
    return "".join(escaped)


def _escape_plain(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# --- WebVTT ----------------------------------------------------------------------------------


def _checked_webvtt(lines: list[str]) -> str:
    """The file's own text (line endings normalised) once every block has been checked."""
    header = lines[0]
    if not (header == "WEBVTT" or header.startswith(("WEBVTT ", "WEBVTT\t"))):
        raise SubtitleError('a WebVTT file starts with a line "WEBVTT"', line=1)
    body_at = 1
    while body_at < len(lines) and lines[body_at].strip():
        if "-->" in lines[body_at]:
            raise SubtitleError(
                "a blank line must separate the WEBVTT header from the first cue", line=body_at + 1
            )
        body_at += 1
    previous: int | None = None
    for number, block in _blocks(lines, body_at):
        keyword = block[0].split(maxsplit=1)[0] if block[0].split() else ""
        if keyword == "NOTE" and block[0].startswith("NOTE"):
            _check_no_arrow(block, number, "a NOTE")
            continue
        if keyword in {"STYLE", "REGION"} and block[0].startswith(keyword):
            if previous is not None:
                raise SubtitleError(
                    f"a {keyword} block must come before the first cue", line=number
                )
            _check_no_arrow(block, number, f"a {keyword} block")
            continue
        timing_at = 0 if "-->" in block[0] else 1
        if timing_at >= len(block) or "-->" not in block[timing_at]:
            raise SubtitleError(
                f"expected a cue identifier and a timing line such as {VTT_EXAMPLE}",
                line=number,
            )
        timing_line = number + timing_at
        timing = VTT_TIMING.fullmatch(block[timing_at].strip())
        if timing is None:
            raise SubtitleError(
                f"{block[timing_at].strip()!r} is not a timing line such as {VTT_EXAMPLE}",
                line=timing_line,
            )
        start, _ = _timing(timing.groups()[:8], timing_line)
        _check_settings(timing.group(9) or "", timing_line)
        _in_order(start, previous or 0, timing_line)
        previous = start
        _check_no_arrow(block[timing_at + 1 :], timing_line + 1, "cue text")
    if previous is None:
        raise SubtitleError("the file has no cues")
    return "\n".join(line.rstrip() for line in lines) + "\n"


def _check_settings(settings: str, line: int) -> None:
    for setting in settings.split():
        name, colon, value = setting.partition(":")
        if not colon or not value or name not in VTT_SETTINGS:
            raise SubtitleError(
                f"{setting!r} is not a cue setting (vertical, line, position, size, align, region)",
                line=line,
            )


def _check_no_arrow(block: list[str], first_line: int, what: str) -> None:
    for number, line in enumerate(block, start=first_line):
        if "-->" in line:
            raise SubtitleError(
                f'{what} cannot contain "-->": is a blank line missing before this cue?',
                line=number,
            )
