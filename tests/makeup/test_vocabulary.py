"""The one vocabulary, walked through both engines: a word means the same to each (same products, same regions in
the sidecar) or is refused in one line by the engine that cannot paint it."""

from __future__ import annotations

import pytest

from masque.embedders import create_embedder
from masque.engines.base import check_prompt
from masque.engines.diffusion.engine import DiffusionEngine
from masque.engines.parametric import ParametricConfig, ParametricEngine
from masque.errors import InputError
from masque.makeup.prompt import resolve_plan
from masque.makeup.vocabulary import COLOR_IMPLIES, EFFECT_REGIONS, EFFECT_WORDS, PRODUCT_REGIONS, product_of_word

EYE_AREA, BLUSH_AREA, SKIN = ("eyes", "skin"), ("cheeks", "skin"), ("skin",)
# Every word with the regions it names, written out by hand (an independent reference for `vocabulary`): a word
# remapped to another product or region fails here.
WORDS = {
    ("lips",): "lipstick, lip gloss, lipgloss, gloss, lip liner, lipliner, lip stain, lip tint, lip, lips, mouth",
    EYE_AREA: "eyeshadow, eye shadow, shadow, eyelid, eyelids, lid, lids, eye, eyes, eyeliner, eye liner, liner, kohl, "
              "wing, winged, cat eye, mascara, lash, lashes, eyelash, eyelashes",
    ("brows",): "eyebrow, eyebrows, brow, brows, brow pencil, brow gel",
    BLUSH_AREA: "blush, blusher, rouge, cheek, cheeks",
    SKIN: "highlighter, highlight, glow, strobing, cheekbone, cheekbones, bronzer, bronzed, sun-kissed, sunkissed, "
          "tanned, suntan, sun tan, tan, contour, contouring, sculpt, sculpted, foundation, concealer, powder, "
          "skin tint, complexion, skin, base, bb cream, freckles, freckle, freckled",
}
HAND_TABLE = sorted((w.strip(), regions) for regions, words in WORDS.items() for w in words.split(","))
EFFECTS = {"freckles", "freckle", "freckled"}  # drawn by the diffusion model only


@pytest.fixture(scope="module")
def engines():
    """Both engines as built for a run; the diffusion engine without any weights (its plan must read none)."""
    parametric = ParametricEngine([create_embedder("tiny-random")], ParametricConfig(strength="bold"))
    diffusion = DiffusionEngine(pipeline=None, embedders=[])
    return {"parametric": parametric, "diffusion": diffusion}


def test_the_vocabulary_is_the_hand_table():
    words = {w: PRODUCT_REGIONS[p] for w, p in product_of_word().items()}
    words |= {w: EFFECT_REGIONS[e] for w, e in EFFECT_WORDS.items()}
    words |= {w: PRODUCT_REGIONS[p] for w, p in COLOR_IMPLIES.items() if w == "tan"}  # "a tan": bronzer
    assert sorted(words.items()) == HAND_TABLE


@pytest.mark.parametrize(("word", "regions"), HAND_TABLE)
def test_every_word_means_the_same_to_both_engines_or_is_refused(word, regions, engines):
    prompt = f"A face of a human with {word}"
    diffusion = engines["diffusion"].plan(prompt)
    assert diffusion.regions == regions
    if word in EFFECTS:
        with pytest.raises(InputError, match=r"asks for freckles, which the parametric engine cannot paint.*"
                                             r"--engine diffusion") as exc:
            engines["parametric"].plan(prompt)
        assert "\n" not in str(exc.value)
        return
    parametric = engines["parametric"].plan(prompt)
    assert parametric.regions == regions
    assert list(parametric.products) == list(diffusion.products) and len(parametric.products) == 1
    assert parametric.to_dict()["regions"] == diffusion.to_dict()["regions"] == list(regions)
    assert parametric.ignored == diffusion.ignored == ()


# the five words issue 20 found the engines disagreeing on: product and regions, the same for both engines
NAMED = {"tan": ("bronzer", SKIN), "glow": ("highlight", SKIN), "lip liner": ("lipstick", ("lips",)),
         "cat eye": ("eyeliner", EYE_AREA)}


@pytest.mark.parametrize("word", list(NAMED))
@pytest.mark.parametrize("engine", ["parametric", "diffusion"])
def test_issue_words_plan_identically(word, engine, engines):
    plan = engines[engine].plan(word)
    product, regions = NAMED[word]
    assert list(plan.products) == [product] and plan.regions == regions
    assert check_prompt(engine, word).regions == regions  # the pre-load check reads the same plan


def test_freckles_are_the_diffusion_engines_only():
    assert check_prompt("diffusion", "freckles").effects == ("freckles",)
    with pytest.raises(InputError, match="parametric engine cannot paint"):
        check_prompt("parametric", "freckles and red lipstick")


def test_longer_phrases_win_over_the_words_inside_them():
    """Phrases are matched longest first: shortest first, "lip liner" would add eyeliner ("liner") and "cat eye"
    eyeshadow ("eye")."""
    assert list(resolve_plan("lip liner").products) == ["lipstick"]
    assert list(resolve_plan("cat eye").products) == ["eyeliner"]
    assert list(resolve_plan("brow pencil").products) == ["brows"]
    assert list(resolve_plan("black eye liner").products) == ["eyeliner"]
    assert resolve_plan("cat eye").ignored == ()


def test_tan_is_a_shade_of_a_named_product_and_bronzer_alone():
    assert {p: s.name for p, s in resolve_plan("tan foundation").products.items()} == {"foundation": "tan"}
    assert {p: s.name for p, s in resolve_plan("a tan").products.items()} == {"bronzer": "tan"}


def test_an_explicit_region_wins_and_lets_the_diffusion_engine_take_free_text(engines):
    assert engines["parametric"].plan("full glam", "lips").regions == ("lips",)
    assert engines["diffusion"].plan("glitter", "skin").regions == ("skin",)
    with pytest.raises(InputError, match="names no cosmetic the parametric engine can lay"):
        engines["parametric"].plan("glitter", "skin")
    for engine in engines.values():
        with pytest.raises(InputError, match="`prompt` must name the makeup"):
            engine.plan("  ")
