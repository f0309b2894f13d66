"""Generated SVG artwork, so a movie without TMDb images still gets a poster and a backdrop.

Everything here is a pure function of its arguments: the same movie always gets the same
picture, which keeps the artwork cacheable and lets a fresh install look finished without
network access. Colours and shapes come from a SHA-256 stream seeded with the movie's id
(not ``random``), so they are stable across processes, Python versions and machines.
"""

from __future__ import annotations

import colorsys
import hashlib
import re
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from django.utils.html import escape

POSTER_WIDTH, POSTER_HEIGHT = 500, 750
BACKDROP_WIDTH, BACKDROP_HEIGHT = 1280, 720

# Common sans-serif faces first; the CJK entries keep Japanese, Chinese and Korean titles
# from falling back to tofu on systems that have those fonts.
FONT_STACK = (
    "Inter, 'Helvetica Neue', Helvetica, Arial, 'Noto Sans', 'Noto Sans CJK JP', "
    "'Hiragino Sans', 'Yu Gothic', 'Apple SD Gothic Neo', 'Malgun Gothic', "
    "'PingFang TC', 'Microsoft JhengHei', sans-serif"
)

TITLE_SIZES = (84, 76, 68, 60, 54, 48, 42, 38, 34)
TITLE_MAX_LINES = 4
TITLE_MARGIN = 40
TITLE_BASELINE = 652  # baseline of the title's last line; the block grows upwards from here
LINE_HEIGHT = 1.06
ELLIPSIS = "…"

# XML 1.0 forbids most control characters; a stray one in a title would break the image.
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


@dataclass(frozen=True)
class Palette:
    deep: str  # near-black base
    dark: str  # dark, saturated background colour
    mid: str  # a step lighter than ``dark``, for layered shapes
    accent: str  # bright colour for glows and highlights
    contrast: str  # muted opposite hue, so the pictures are not monochrome


def poster_svg(*, title: str, year: int | None, genres: list[str], seed: int) -> str:
    """A 2:3 poster: dark gradient, abstract shapes, the title large, year and genre small."""
    title = _clean(title) or "Untitled"
    palette = _palette(seed)
    rng = _units(seed, "poster")
    uid = _uid(seed, "p")
    caption = f"{title} ({year})" if year else title
    size, lines = _fit_title(title.upper(), POSTER_WIDTH - 2 * TITLE_MARGIN)
    meta = " · ".join(part for part in (str(year) if year else "", _first_genre(genres)) if part)
    body = [
        _poster_defs(uid, palette),
        f'<rect width="{POSTER_WIDTH}" height="{POSTER_HEIGHT}" fill="url(#{uid}-bg)"/>',
        *_pick_motif(rng)(rng, palette, uid),
        *_dust(rng, POSTER_WIDTH, POSTER_HEIGHT * 0.55, count=16),
        f'<rect width="{POSTER_WIDTH}" height="{POSTER_HEIGHT}" fill="url(#{uid}-shade)"/>',
        # A hairline inset frame reads as "printed poster" rather than "coloured box".
        f'<rect x="14" y="14" width="{POSTER_WIDTH - 28}" height="{POSTER_HEIGHT - 28}" '
        'fill="none" stroke="#ffffff" stroke-opacity="0.09" stroke-width="1.5"/>',
        _title_text(lines, size),
        _meta_text(meta, palette),
    ]
    return _svg(POSTER_WIDTH, POSTER_HEIGHT, caption, body)


def backdrop_svg(*, title: str, seed: int) -> str:
    """A 16:9 backdrop: wide gradient, soft glows and hills, no text (pages add their own)."""
    title = _clean(title) or "Untitled"
    palette = _palette(seed)  # same palette as the poster, so a movie's artwork matches
    rng = _units(seed, "backdrop")
    uid = _uid(seed, "b")
    glows = [_backdrop_glow(rng, uid, index) for index in range(3)]
    body = [
        _backdrop_defs(uid, palette),
        f'<rect width="{BACKDROP_WIDTH}" height="{BACKDROP_HEIGHT}" fill="url(#{uid}-bg)"/>',
        *glows,
        _lens_streak(rng, palette),
        *_dust(rng, BACKDROP_WIDTH, BACKDROP_HEIGHT * 0.6, count=28),
        *_hills(rng, palette),
        # Scrims on the left and bottom keep overlaid page text readable on any palette.
        f'<rect width="{BACKDROP_WIDTH}" height="{BACKDROP_HEIGHT}" fill="url(#{uid}-left)"/>',
        f'<rect width="{BACKDROP_WIDTH}" height="{BACKDROP_HEIGHT}" fill="url(#{uid}-bottom)"/>',
    ]
    return _svg(BACKDROP_WIDTH, BACKDROP_HEIGHT, title, body)


# --- Deterministic randomness and colour ---------------------------------------------------


def _units(seed: int, salt: str) -> Iterator[float]:
    """An endless stream of floats in [0, 1) derived from ``seed``, via SHA-256 blocks."""
    counter = 0
    while True:
        block = hashlib.sha256(f"{salt}:{seed}:{counter}".encode()).digest()
        for offset in range(0, len(block), 2):
            yield int.from_bytes(block[offset : offset + 2], "big") / 65536
        counter += 1


def _between(rng: Iterator[float], low: float, high: float) -> float:
    return low + next(rng) * (high - low)


def _uid(seed: int, kind: str) -> str:
    # Ids only need to be unique within one document, but a per-movie prefix keeps them
    # from clashing should several SVGs ever be inlined into the same page.
    return kind + hashlib.sha256(str(seed).encode()).hexdigest()[:8]


def _hex(hue: float, saturation: float, lightness: float) -> str:
    # Hex rather than hsl(): every SVG renderer understands it, including older librsvg.
    red, green, blue = colorsys.hls_to_rgb((hue % 360) / 360, lightness, saturation)
    return f"#{round(red * 255):02x}{round(green * 255):02x}{round(blue * 255):02x}"


def _palette(seed: int) -> Palette:
    rng = _units(seed, "palette")
    hue = _between(rng, 0, 360)
    # A neighbouring hue for the accent gives harmony; the contrast hue sits opposite.
    accent_hue = hue + _between(rng, 20, 70) * (1 if next(rng) < 0.5 else -1)
    saturation = _between(rng, 0.45, 0.7)
    return Palette(
        deep=_hex(hue, saturation, _between(rng, 0.035, 0.06)),
        dark=_hex(hue, saturation, _between(rng, 0.12, 0.18)),
        mid=_hex(hue, saturation * 0.9, _between(rng, 0.22, 0.3)),
        accent=_hex(accent_hue, _between(rng, 0.65, 0.85), _between(rng, 0.55, 0.66)),
        contrast=_hex(hue + 180, 0.35, _between(rng, 0.4, 0.55)),
    )


def _fmt(value: float) -> str:
    # One decimal place is sub-pixel at these sizes and keeps the documents small.
    return f"{value:.1f}".rstrip("0").rstrip(".")


# --- Document scaffolding ------------------------------------------------------------------


def _svg(width: int, height: int, caption: str, body: list[str]) -> str:
    inner = "\n".join(part for part in body if part)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" preserveAspectRatio="xMidYMid slice">\n'
        f"<title>{escape(caption)}</title>\n{inner}\n</svg>\n"
    )


def _clean(text: str) -> str:
    """Drop characters XML cannot carry and collapse runs of whitespace."""
    return " ".join(_XML_INVALID.sub("", unicodedata.normalize("NFC", text)).split())


def _first_genre(genres: list[str]) -> str:
    return _clean(genres[0]).upper() if genres else ""


def _radial(uid: str, colour: str, stops: tuple[float, float, float]) -> str:
    inner, middle, outer = stops
    return (
        f'<radialGradient id="{uid}">'
        f'<stop offset="0" stop-color="{colour}" stop-opacity="{inner}"/>'
        f'<stop offset="0.45" stop-color="{colour}" stop-opacity="{middle}"/>'
        f'<stop offset="1" stop-color="{colour}" stop-opacity="{outer}"/>'
        "</radialGradient>"
    )


def _poster_defs(uid: str, palette: Palette) -> str:
    return (
        "<defs>"
        f'<linearGradient id="{uid}-bg" x1="0" y1="0" x2="0.45" y2="1">'
        f'<stop offset="0" stop-color="{palette.dark}"/>'
        f'<stop offset="1" stop-color="{palette.deep}"/>'
        "</linearGradient>"
        + _radial(f"{uid}-glow", palette.accent, (0.9, 0.3, 0))
        + _radial(f"{uid}-haze", palette.contrast, (0.45, 0.15, 0))
        # Darkens the lower half so the title stays legible whatever the shapes did.
        + f'<linearGradient id="{uid}-shade" x1="0" y1="0" x2="0" y2="1">'
        '<stop offset="0.4" stop-color="#000" stop-opacity="0"/>'
        '<stop offset="0.78" stop-color="#000" stop-opacity="0.62"/>'
        '<stop offset="1" stop-color="#000" stop-opacity="0.88"/>'
        "</linearGradient>"
        "</defs>"
    )


def _backdrop_defs(uid: str, palette: Palette) -> str:
    return (
        "<defs>"
        f'<linearGradient id="{uid}-bg" x1="0" y1="0" x2="1" y2="0.35">'
        f'<stop offset="0" stop-color="{palette.deep}"/>'
        f'<stop offset="0.55" stop-color="{palette.dark}"/>'
        f'<stop offset="1" stop-color="{palette.mid}"/>'
        "</linearGradient>"
        + _radial(f"{uid}-glow0", palette.accent, (0.75, 0.25, 0))
        + _radial(f"{uid}-glow1", palette.contrast, (0.5, 0.16, 0))
        + _radial(f"{uid}-glow2", palette.accent, (0.4, 0.12, 0))
        + f'<linearGradient id="{uid}-left" x1="0" y1="0" x2="1" y2="0">'
        f'<stop offset="0" stop-color="{palette.deep}" stop-opacity="0.92"/>'
        f'<stop offset="0.55" stop-color="{palette.deep}" stop-opacity="0"/>'
        "</linearGradient>"
        f'<linearGradient id="{uid}-bottom" x1="0" y1="0" x2="0" y2="1">'
        f'<stop offset="0.55" stop-color="{palette.deep}" stop-opacity="0"/>'
        f'<stop offset="1" stop-color="{palette.deep}" stop-opacity="0.95"/>'
        "</linearGradient>"
        "</defs>"
    )


# --- Poster motifs -------------------------------------------------------------------------

Motif = Callable[[Iterator[float], Palette, str], list[str]]


def _pick_motif(rng: Iterator[float]) -> Motif:
    motifs: tuple[Motif, ...] = (_orb_motif, _bands_motif, _peaks_motif, _ripple_motif)
    return motifs[int(next(rng) * len(motifs))]


def _orb_motif(rng: Iterator[float], palette: Palette, uid: str) -> list[str]:
    """A glowing sun with thin orbit rings."""
    cx, cy = _between(rng, 130, 370), _between(rng, 170, 330)
    radius = _between(rng, 150, 220)
    rings = [
        f'<circle cx="{_fmt(cx)}" cy="{_fmt(cy)}" r="{_fmt(radius * scale)}" fill="none" '
        f'stroke="{palette.accent}" stroke-opacity="{_fmt(_between(rng, 0.12, 0.3))}" '
        f'stroke-width="{_fmt(_between(rng, 1, 2.5))}"/>'
        for scale in (0.62, 0.84, 1.08, 1.4)
    ]
    return [
        _haze(rng, uid, POSTER_WIDTH, POSTER_HEIGHT),
        f'<circle cx="{_fmt(cx)}" cy="{_fmt(cy)}" r="{_fmt(radius * 1.5)}" '
        f'fill="url(#{uid}-glow)"/>',
        f'<circle cx="{_fmt(cx)}" cy="{_fmt(cy)}" r="{_fmt(radius * 0.42)}" '
        f'fill="{palette.accent}" fill-opacity="0.92"/>',
        *rings,
    ]


def _bands_motif(rng: Iterator[float], palette: Palette, uid: str) -> list[str]:
    """Bold diagonal bands, like light through blinds."""
    angle = _between(rng, -38, -18)
    shapes = [_haze(rng, uid, POSTER_WIDTH, POSTER_HEIGHT)]
    y = _between(rng, 60, 140)
    for index in range(5):
        height = _between(rng, 26, 120)
        colour = palette.accent if index % 2 == 0 else palette.contrast
        shapes.append(
            f'<rect x="-300" y="{_fmt(y)}" width="1100" height="{_fmt(height)}" '
            f'fill="{colour}" fill-opacity="{_fmt(_between(rng, 0.1, 0.42))}" '
            f'transform="rotate({_fmt(angle)} 250 375)"/>'
        )
        y += height + _between(rng, 20, 90)
    return shapes


def _peaks_motif(rng: Iterator[float], palette: Palette, uid: str) -> list[str]:
    """A low sun behind layered ridges, each ridge darker as it comes forward."""
    sun_x, sun_y = _between(rng, 120, 380), _between(rng, 230, 330)
    shapes = [
        f'<circle cx="{_fmt(sun_x)}" cy="{_fmt(sun_y)}" r="230" fill="url(#{uid}-glow)"/>',
        f'<circle cx="{_fmt(sun_x)}" cy="{_fmt(sun_y)}" r="{_fmt(_between(rng, 55, 85))}" '
        f'fill="{palette.accent}" fill-opacity="0.95"/>',
    ]
    fills = (palette.contrast, palette.mid, palette.dark, palette.deep)
    for layer, fill in enumerate(fills):
        base = 360 + layer * 70
        points = [(0.0, float(POSTER_HEIGHT)), (0.0, base + _between(rng, -30, 40))]
        x = 0.0
        while x < POSTER_WIDTH:
            x += _between(rng, 70, 150)
            points.append((min(x, POSTER_WIDTH), base + _between(rng, -90, 40)))
        points.append((float(POSTER_WIDTH), float(POSTER_HEIGHT)))
        coords = " ".join(f"{_fmt(px)},{_fmt(py)}" for px, py in points)
        opacity = 0.55 if layer == 0 else 0.95
        shapes.append(f'<polygon points="{coords}" fill="{fill}" fill-opacity="{opacity}"/>')
    return shapes


def _ripple_motif(rng: Iterator[float], palette: Palette, uid: str) -> list[str]:
    """Concentric rings spreading from an off-canvas corner, like sound or water."""
    cx = -60 if next(rng) < 0.5 else POSTER_WIDTH + 60
    cy = _between(rng, 80, 360)
    shapes = [
        _haze(rng, uid, POSTER_WIDTH, POSTER_HEIGHT),
        f'<circle cx="{cx}" cy="{_fmt(cy)}" r="330" fill="url(#{uid}-glow)"/>',
    ]
    radius = _between(rng, 60, 110)
    for index in range(9):
        colour = palette.accent if index % 3 else palette.contrast
        width = _between(rng, 6, 30)
        shapes.append(
            f'<circle cx="{cx}" cy="{_fmt(cy)}" r="{_fmt(radius)}" fill="none" stroke="{colour}" '
            f'stroke-opacity="{_fmt(_between(rng, 0.08, 0.3))}" stroke-width="{_fmt(width)}"/>'
        )
        radius += width + _between(rng, 18, 48)
    return shapes


def _haze(rng: Iterator[float], uid: str, width: float, height: float) -> str:
    """A broad, faint glow in the contrast colour, so backgrounds are never flat."""
    cx, cy = _between(rng, 0, width), _between(rng, 0, height * 0.6)
    return (
        f'<circle cx="{_fmt(cx)}" cy="{_fmt(cy)}" r="{_fmt(width * 0.7)}" fill="url(#{uid}-haze)"/>'
    )


def _dust(rng: Iterator[float], width: float, height: float, *, count: int) -> list[str]:
    """A sprinkle of tiny specks: film grain in spirit, without a costly noise filter."""
    specks = []
    for _ in range(count):
        x, y = _between(rng, 0, width), _between(rng, 0, height)
        radius, opacity = _between(rng, 0.6, 2.2), _between(rng, 0.15, 0.55)
        specks.append(
            f'<circle cx="{_fmt(x)}" cy="{_fmt(y)}" r="{_fmt(radius)}" fill="#ffffff" '
            f'fill-opacity="{_fmt(opacity)}"/>'
        )
    return specks


# --- Backdrop shapes -----------------------------------------------------------------------


def _backdrop_glow(rng: Iterator[float], uid: str, index: int) -> str:
    # Glows lean to the right half, away from where pages put their headline text.
    cx = _between(rng, 420, 1200)
    cy = _between(rng, 80, 420)
    rx, ry = _between(rng, 280, 560), _between(rng, 170, 340)
    return (
        f'<ellipse cx="{_fmt(cx)}" cy="{_fmt(cy)}" rx="{_fmt(rx)}" ry="{_fmt(ry)}" '
        f'fill="url(#{uid}-glow{index})"/>'
    )


def _lens_streak(rng: Iterator[float], palette: Palette) -> str:
    """A thin horizontal flare, the tell-tale of an anamorphic lens."""
    cx, cy = _between(rng, 600, 1050), _between(rng, 170, 380)
    return (
        f'<ellipse cx="{_fmt(cx)}" cy="{_fmt(cy)}" rx="{_fmt(_between(rng, 380, 620))}" ry="2.5" '
        f'fill="{palette.accent}" fill-opacity="0.45"/>'
    )


def _hills(rng: Iterator[float], palette: Palette) -> list[str]:
    """Three soft, overlapping horizon curves across the lower third."""
    layers = []
    for layer, fill in enumerate((palette.mid, palette.dark, palette.deep)):
        base = 470 + layer * 70
        left, right = base + _between(rng, -50, 50), base + _between(rng, -50, 50)
        c1x, c1y = _between(rng, 200, 560), base + _between(rng, -140, 60)
        c2x, c2y = _between(rng, 720, 1080), base + _between(rng, -140, 60)
        layers.append(
            f'<path d="M0 {_fmt(left)} C{_fmt(c1x)} {_fmt(c1y)} {_fmt(c2x)} {_fmt(c2y)} '
            f"{BACKDROP_WIDTH} {_fmt(right)} L{BACKDROP_WIDTH} {BACKDROP_HEIGHT} "
            f'L0 {BACKDROP_HEIGHT} Z" fill="{fill}" fill-opacity="{0.6 + layer * 0.15:.2f}"/>'
        )
    return layers


# --- Title typography ----------------------------------------------------------------------


def _title_text(lines: list[str], size: int) -> str:
    step = size * LINE_HEIGHT
    first_baseline = TITLE_BASELINE - step * (len(lines) - 1)
    spans = "".join(
        f'<tspan x="{TITLE_MARGIN}" y="{_fmt(first_baseline + index * step)}">'
        f"{escape(line)}</tspan>"
        for index, line in enumerate(lines)
    )
    return (
        # The soft dark outline, painted under the fill, keeps the title legible where it
        # crosses a bright shape; it is far cheaper to render than a blur filter.
        f'<text font-family="{FONT_STACK}" font-size="{size}" font-weight="800" '
        f'fill="#f7f4ee" stroke="#000000" stroke-opacity="0.35" '
        f'stroke-width="{_fmt(size * 0.07)}" stroke-linejoin="round" paint-order="stroke">'
        f"{spans}</text>"
    )


def _meta_text(meta: str, palette: Palette) -> str:
    if not meta:
        return ""
    rule_y = TITLE_BASELINE + 22
    return (
        f'<rect x="{TITLE_MARGIN}" y="{rule_y}" width="36" height="3" fill="{palette.accent}"/>'
        f'<text x="{TITLE_MARGIN}" y="{rule_y + 36}" font-family="{FONT_STACK}" font-size="17" '
        f'font-weight="600" letter-spacing="3" fill="#f7f4ee" fill-opacity="0.78">'
        f"{escape(meta)}</text>"
    )


# Advances of Latin capitals in a Helvetica/Arial-style bold face, in em. Titles are set in
# capitals, so this small table is most of what the width estimate needs.
_CAPITAL_WIDTHS = {
    **dict.fromkeys("I", 0.28),
    **dict.fromkeys("J", 0.56),
    **dict.fromkeys("FLTZ", 0.61),
    **dict.fromkeys("EPSVXY", 0.67),
    **dict.fromkeys("ABCDHKNRU", 0.72),
    **dict.fromkeys("GOQ", 0.78),
    **dict.fromkeys("M", 0.83),
    **dict.fromkeys("W", 0.94),
}
# Other faces in the stack (Inter especially) run a little wider than Helvetica.
WIDTH_MARGIN = 1.05


def _char_width(char: str) -> float:
    """Approximate advance of one character in em, for a bold sans-serif in capitals.

    Renderers do the real layout, so this only has to err on the wide side: a line that is
    a little short looks fine, one that runs off the poster does not.
    """
    if unicodedata.east_asian_width(char) in ("W", "F"):
        return 1.0
    base = unicodedata.normalize("NFKD", char)[:1] or char  # "É" measures like "E"
    if base in _CAPITAL_WIDTHS:
        return _CAPITAL_WIDTHS[base] * WIDTH_MARGIN
    if char == " ":
        return 0.28
    if char in "!.,:;'’|·-()[]":
        return 0.36
    if char in "ŒÆ@%&":
        return 0.96
    if char.isdigit():
        return 0.6
    return 0.76


def _text_width(text: str, size: int) -> float:
    return sum(_char_width(char) for char in text) * size


def _tokens(title: str) -> list[tuple[str, str]]:
    """Split a title into (separator, chunk) pairs that a line may break between.

    Words break at spaces. CJK text has no spaces and may break between any two
    characters, so each wide character becomes a chunk of its own.
    """
    tokens: list[tuple[str, str]] = []
    for word in title.split(" "):
        separator = " "
        chunk = ""
        for char in word:
            if unicodedata.east_asian_width(char) in ("W", "F"):
                if chunk:
                    tokens.append((separator, chunk))
                    separator, chunk = "", ""
                tokens.append((separator, char))
                separator = ""
            else:
                chunk += char
        if chunk:
            tokens.append((separator, chunk))
    return tokens


def _wrap(tokens: list[tuple[str, str]], size: int, max_width: float) -> list[str] | None:
    """Greedy line breaking; None when a single chunk is wider than the line at this size."""
    lines: list[str] = []
    for separator, chunk in tokens:
        if _text_width(chunk, size) > max_width:
            return None
        candidate = lines[-1] + separator + chunk if lines else chunk
        if lines and _text_width(candidate, size) <= max_width:
            lines[-1] = candidate
        else:
            lines.append(chunk)
    return lines


def _fit_title(title: str, max_width: float) -> tuple[int, list[str]]:
    """The best-looking size and line breaks that fit the title into at most four lines.

    If even the smallest size will not do, long words and the fourth line are cut short
    with an ellipsis instead, so the title never overflows the poster.
    """
    tokens = _tokens(title)
    best: tuple[float, int, list[str]] | None = None
    for size in TITLE_SIZES:
        lines = _wrap(tokens, size, max_width)
        if lines is None or len(lines) > TITLE_MAX_LINES:
            continue
        score = _layout_score(size, lines)
        if best is None or score > best[0]:
            best = (score, size, lines)
    if best is not None:
        return best[1], best[2]
    size = TITLE_SIZES[-1]
    shortened = [(sep, _ellipsize(chunk, size, max_width)) for sep, chunk in tokens]
    lines = _wrap(shortened, size, max_width) or [ELLIPSIS]
    if len(lines) > TITLE_MAX_LINES:
        last = _ellipsize(lines[TITLE_MAX_LINES - 1], size, max_width, force=True)
        lines = [*lines[: TITLE_MAX_LINES - 1], last]
    return size, lines


def _layout_score(size: int, lines: list[str]) -> float:
    """Bigger type is better, but not at any price.

    Each extra line costs a tenth, so "MAD MAX: / FURY ROAD" beats four one-word lines set
    a little larger, and a stranded stub such as "2:" or "A" on a line of its own costs more.
    """
    score = size * (1 - 0.1 * (len(lines) - 1))
    if len(lines) > 1 and any(len(line) <= 2 for line in lines):
        score *= 0.85
    return score


def _ellipsize(text: str, size: int, max_width: float, *, force: bool = False) -> str:
    """``text`` cut down to fit ``max_width`` with a trailing ellipsis, if it is too wide.

    ``force`` adds the ellipsis even when the text fits, to show that more lines followed.
    """
    if not force and _text_width(text, size) <= max_width:
        return text
    while text and _text_width(text.rstrip(" .,:;") + ELLIPSIS, size) > max_width:
        text = text[:-1]
    return text.rstrip(" .,:;") + ELLIPSIS
