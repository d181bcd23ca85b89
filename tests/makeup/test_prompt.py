"""Prompt -> makeup plan, checked against a hand-written table (products and shade names)."""

from __future__ import annotations

import pytest

from masque.errors import InputError
from masque.makeup import PRODUCTS, resolve_plan

SKIN = "skin-matched"
# prompt -> {product: shade name}; written by hand from what a make-up artist would read in the prompt
EXPECTED = {
    "red lipstick": {"lipstick": "red"},
    "A face of a human with red lipstick": {"lipstick": "red"},
    "smoky eyeshadow": {"eyeshadow": "smoky"},
    "smoky eye": {"eyeshadow": "smoky", "eyeliner": "black"},
    "pink blush": {"blush": "pink"},
    "tan foundation": {"foundation": "tan"},
    "foundation": {"foundation": SKIN},
    "nude lips": {"lipstick": "nude"},
    "berry lipstick": {"lipstick": "berry"},
    "gold eyeshadow": {"eyeshadow": "gold"},
    "bronze eyeshadow and winged liner": {"eyeshadow": "bronze", "eyeliner": "black"},
    "#8e2f4a lips": {"lipstick": "#8e2f4a"},
    "dark red lipstick": {"lipstick": "dark red"},
    "red": {"lipstick": "red"},
    "bronzer": {"bronzer": "bronze"},
    "natural everyday look": {"foundation": SKIN, "blush": "peach", "eyeshadow": "taupe", "brows": "brown",
                              "lipstick": "nude"},
    "evening look": {"foundation": SKIN, "contour": SKIN, "highlight": SKIN, "blush": "rose", "eyeshadow": "smoky",
                     "eyeliner": "black", "brows": "brown", "lipstick": "berry"},
    "full glam": {"foundation": SKIN, "contour": SKIN, "highlight": SKIN, "bronzer": "bronze", "blush": "rose",
                  "eyeshadow": "bronze", "eyeliner": "black", "brows": "brown", "lipstick": "rose"},
    "full glam with berry lips": {"foundation": SKIN, "contour": SKIN, "highlight": SKIN, "bronzer": "bronze",
                                  "blush": "rose", "eyeshadow": "bronze", "eyeliner": "black", "brows": "brown",
                                  "lipstick": "berry"},
    "contoured": {"foundation": SKIN, "contour": SKIN, "highlight": SKIN, "bronzer": "bronze"},
    "contour and highlighter": {"contour": SKIN, "highlight": SKIN},
}


@pytest.mark.parametrize("prompt", list(EXPECTED))
def test_prompt_resolution_table(prompt):
    plan = resolve_plan(prompt)
    assert {p: s.name for p, s in plan.products.items()} == EXPECTED[prompt]
    assert list(plan.products) == [p for p in PRODUCTS if p in plan.products]  # canonical order
    assert plan.ignored == ()


def test_shades_carry_colours_and_sources():
    plan = resolve_plan("full glam with #123456 lips")
    assert plan.products["lipstick"].hex == "#123456" and plan.products["lipstick"].source == "prompt"
    assert plan.products["blush"].source == "look" and plan.products["contour"].rgb is None
    assert "full glam" in plan.looks
    d = plan.to_dict()
    assert d["products"]["lipstick"]["hex"] == "#123456" and d["strength"] == "natural"
    assert "lipstick #123456" in plan.describe()


def test_unknown_words_are_reported_in_one_line_pointing_to_the_vocabulary():
    plan = resolve_plan("sparkly unicorn lipstick")
    assert plan.ignored == ("sparkly", "unicorn")
    (note,) = plan.notes
    assert "sparkly, unicorn" in note and "`masque vocabulary`" in note and "cherry" not in note and len(note) < 120
    with pytest.raises(InputError, match="names no makeup we understand.*not understood: sparkly, unicorn.*full glam.*"
                                         "masque vocabulary") as exc:
        resolve_plan("sparkly unicorn")
    assert "\n" not in str(exc.value) and "cherry" not in str(exc.value)


@pytest.mark.parametrize("bad, match", [("", "empty"), ("#12345g lips", "hex colour")])
def test_bad_prompts_are_one_line_errors(bad, match):
    with pytest.raises(InputError, match=match):
        resolve_plan(bad)


def test_strength_is_checked():
    assert resolve_plan("full glam", "max").strength == "max"
    with pytest.raises(InputError, match="`strength` must be one of subtle, natural, bold, max"):
        resolve_plan("full glam", "extreme")


def test_regions_follow_products():
    assert resolve_plan("red lipstick").regions == ("lips",)
    assert resolve_plan("full glam").regions == ("lips", "eyes", "brows", "cheeks", "skin")
    assert resolve_plan("smoky eyeshadow").regions == ("eyes", "skin")
    assert resolve_plan("full glam", region="lips").regions == ("lips",)


@pytest.mark.parametrize(("prompt", "mostly"), [("purple unicorn sparkle", True), ("sparkly unicorn lipstick", True),
                                                ("red lipstick with sparkle", False), ("full glam unicorn", False),
                                                ("#123456 lips and a bold smoky eye", False)])
def test_mostly_unknown_counts_meaningful_words_only(prompt, mostly):
    """More than half of the words that carry meaning (filler, modifiers and strength names do not) unknown."""
    from masque.makeup.prompt import mostly_unknown

    assert mostly_unknown(resolve_plan(prompt)) is mostly
