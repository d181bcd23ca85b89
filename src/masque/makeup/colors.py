"""Colour words and hex codes -> sRGB shades (the vocabulary `masque.makeup.prompt` reads shades with).

A prompt with no colour word is normal ("lipstick": the product's default shade); only an *explicit* colour that
cannot be read (a malformed hex code) is an error.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from ..errors import InputError

# Makeup shades (sRGB hex), chosen as typical cosmetic tones rather than pure web colours: "red" lipstick is a
# blue-leaning red, "nude" a muted rosy beige (a beige without pink reads as concealer on the lips), "gold" a metallic
# eyeshadow tone, "smoky" a warm charcoal (a neutral grey reads teal beside skin).
NAMED_COLORS: Mapping[str, str] = {
    "red": "#b3122e", "scarlet": "#c21a1a", "crimson": "#a3122f", "cherry": "#9b1028", "ruby": "#9b111e",
    "wine": "#6e1423", "burgundy": "#6d1a2a", "maroon": "#6b1c23", "oxblood": "#4a1016",
    "plum": "#7a2e4f", "berry": "#8a1f4b", "purple": "#6a2c70", "violet": "#7b3f9e", "lilac": "#b58db6",
    "lavender": "#a88fc7", "mauve": "#a0667c", "magenta": "#b0226e", "fuchsia": "#c01f7a",
    "pink": "#d4667f", "rose": "#b8556a", "blush": "#d98c8c", "coral": "#e0654f", "peach": "#e89a7a",
    "orange": "#d9541e", "nude": "#c27d74", "beige": "#c9a58a", "tan": "#b98463", "caramel": "#a8683c",
    "brown": "#6b4030", "chocolate": "#4e2a1e", "bronze": "#8c5a2b", "copper": "#a0522d", "taupe": "#7d6559",
    "black": "#1b1416", "gray": "#6b6b6b", "grey": "#6b6b6b", "charcoal": "#3a3838", "silver": "#a8a9ad",
    "white": "#efe9e4", "gold": "#c69a3c", "yellow": "#d8b83a", "green": "#2f7a4a", "emerald": "#1f7a55",
    "olive": "#6b6b2f", "teal": "#1f6f70", "turquoise": "#2fa0a0", "blue": "#2a4f9a", "navy": "#1f2c5a",
    # eyeshadow and skin-tone words
    "smoky": "#3f3430", "smokey": "#3f3430", "champagne": "#d8bd98", "mocha": "#6f4e3d", "espresso": "#3d2a22",
    "ivory": "#ecd9c4", "porcelain": "#f0ddd0", "sand": "#d4b08c", "honey": "#c68e5a", "golden": "#c69a3c",
    "olive-tan": "#a57d58", "ebony": "#5a3a2a",
}

# Lightness modifiers: how far (in sRGB, toward black or white) "dark red" / "light pink" move the shade.
_SHADE_MODIFIERS: Mapping[str, float] = {
    "dark": -0.35, "deep": -0.3, "darker": -0.35, "light": 0.35, "pale": 0.45, "lighter": 0.35, "soft": 0.2,
    "bright": 0.12,
}
_HEX = re.compile(r"#([0-9a-fA-F]{6}|[0-9a-fA-F]{3})(?![0-9a-zA-Z])")
_HEX_LIKE = re.compile(r"#\w+")
_WORD = re.compile(r"[a-z]+")


@dataclass(frozen=True)
class MakeupColor:
    """A resolved pigment: ``rgb`` in sRGB [0, 1]; ``name`` what the user (or the default) called it."""

    name: str
    rgb: tuple[float, float, float]
    source: str  # "prompt" or "default"

    @property
    def hex(self) -> str:
        return "#" + "".join(f"{round(c * 255):02x}" for c in self.rgb)


def hex_to_rgb(code: str) -> tuple[float, float, float]:
    h = code.lstrip("#")
    if len(h) == 3:
        h = "".join(c * 2 for c in h)
    return tuple(int(h[i : i + 2], 16) / 255.0 for i in (0, 2, 4))  # type: ignore[return-value]


def _apply_modifier(rgb: tuple[float, float, float], amount: float) -> tuple[float, float, float]:
    target = 1.0 if amount > 0 else 0.0
    a = abs(amount)
    return tuple(c + a * (target - c) for c in rgb)  # type: ignore[return-value]


def find_color(text: str) -> MakeupColor | None:
    """The first colour named in ``text`` (hex code or colour word, with an optional dark/light modifier), else None.

    Raises InputError for a ``#...`` token that is not a valid ``#rrggbb``/``#rgb`` code: that is an explicit colour
    the user meant and we cannot read.
    """
    hex_match = _HEX.search(text)
    for token in _HEX_LIKE.findall(text):
        if not _HEX.fullmatch(token):
            raise InputError(f"`prompt` colour {token!r} is not a hex colour: write it as #rrggbb (for example "
                             f"#b3122e) or use a colour name such as {', '.join(list(NAMED_COLORS)[:6])}.")
    words = [(m.start(), m.group()) for m in _WORD.finditer(text.lower())]
    named = next(((i, pos, w) for i, (pos, w) in enumerate(words) if w in NAMED_COLORS), None)
    if hex_match is not None and (named is None or hex_match.start() < named[1]):
        return MakeupColor(hex_match.group(0).lower(), hex_to_rgb(hex_match.group(0)), "prompt")
    if named is None:
        return None
    i, _, word = named
    rgb = hex_to_rgb(NAMED_COLORS[word])
    name = word
    if i > 0 and words[i - 1][1] in _SHADE_MODIFIERS:
        rgb = _apply_modifier(rgb, _SHADE_MODIFIERS[words[i - 1][1]])
        name = f"{words[i - 1][1]} {word}"
    return MakeupColor(name, rgb, "prompt")

