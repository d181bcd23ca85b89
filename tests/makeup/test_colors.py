"""Prompt -> pigment colour."""

from __future__ import annotations

import pytest

from masque.errors import InputError
from masque.makeup.colors import NAMED_COLORS, find_color


@pytest.mark.parametrize("word", ["red", "plum", "nude", "coral", "pink", "brown", "black", "gold", "berry"])
def test_named_colours_from_prompt(word):
    c = find_color(f"{word} lipstick")
    assert c is not None and c.name == word and c.source == "prompt"
    assert c.hex == NAMED_COLORS[word]


def test_red_is_red():
    r, g, b = find_color("Red Lipstick").rgb
    assert r > 0.5 and r > 3 * g and r > 2 * b


@pytest.mark.parametrize("code, rgb", [("#ff0000", (1.0, 0.0, 0.0)), ("#8E2F4A", (0x8E / 255, 0x2F / 255, 0x4A / 255)),
                                       ("#0f0", (0.0, 1.0, 0.0))])
def test_hex_codes(code, rgb):
    c = find_color(f"lipstick in {code} please")
    assert c.rgb == pytest.approx(rgb)
    assert c.name == code.lower()


def test_first_colour_wins():
    assert find_color("#123456 or red lips").name == "#123456"
    assert find_color("red or #123456 lips").name == "red"


@pytest.mark.parametrize("bad", ["#12345g lipstick", "#1234 lips", "#red lips"])
def test_malformed_hex_is_an_error(bad):
    with pytest.raises(InputError, match="hex colour"):
        find_color(bad)


def test_no_colour_word_is_not_an_error():
    assert find_color("lipstick") is None
    assert find_color("a face of a human with makeup") is None


def test_modifiers_change_lightness():
    red = sum(find_color("red").rgb)
    assert sum(find_color("dark red").rgb) < red < sum(find_color("light red").rgb)
    assert find_color("dark red").name == "dark red"

