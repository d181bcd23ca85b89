"""The one makeup vocabulary: words -> products (or effects) -> the face regions they are laid on.

Both engines read it through `masque.makeup.prompt.resolve_plan`, so a word means the same to each of them: the same
products, the same regions in the sidecar. `masque.faces` knows only region *names* (and how to draw them); which
words name which region is decided here.

Words are matched as whole words or phrases, longest first ("lip liner" is lipstick, not lips + eyeliner; "cat eye" is
eyeliner, not eyeshadow):

===========  =============================================================================================  ============
product      words                                                                                          regions
===========  =============================================================================================  ============
lipstick     lipstick, lip gloss, lipgloss, gloss, lip liner, lipliner, lip stain, lip tint, lip(s), mouth  lips
eyeshadow    eyeshadow, eye shadow, shadow, eyelid(s), lid(s), eye, eyes                                    eyes, skin
eyeliner     eyeliner, eye liner, liner, kohl, wing, winged, cat eye, mascara, lash(es), eyelash(es)        eyes, skin
brows        eyebrow(s), brow(s), brow pencil, brow gel                                                     brows
blush        blush, blusher, rouge, cheek(s)                                                                cheeks, skin
highlight    highlighter, highlight, glow, strobing, cheekbone(s)                                           skin
bronzer      bronzer, bronzed, sun-kissed, sunkissed, tanned, suntan, sun tan; "tan" alone                  skin
contour      contour, contouring, sculpt, sculpted                                                          skin
foundation   foundation, concealer, powder, skin tint, complexion, skin, base, bb cream                     skin
===========  =============================================================================================  ============

Effects are makeup words that name no cosmetic product: a text-to-image model draws them, a model of real cosmetics
cannot, so an engine without them refuses the word in one line (`MakeupPlan.require_cosmetics`): freckle(s) -> skin.
"""

from __future__ import annotations

from collections.abc import Mapping

PRODUCTS = ("foundation", "contour", "highlight", "bronzer", "blush", "eyeshadow", "eyeliner", "brows", "lipstick")
STRENGTHS = ("subtle", "natural", "bold", "max")

# Face regions (masque.faces.regions.REGIONS) each product is laid on: the union is the area an engine may paint.
PRODUCT_REGIONS: Mapping[str, tuple[str, ...]] = {
    "foundation": ("skin",), "contour": ("skin",), "highlight": ("skin",), "bronzer": ("skin",),
    "blush": ("cheeks", "skin"),  # the skin region already holds the cheeks; blush fades out over it
    # the "eyes" region is a ring around the opening; the lid up to the crease and the liner's wing lie in "skin"
    "eyeshadow": ("eyes", "skin"), "eyeliner": ("eyes", "skin"), "brows": ("brows",), "lipstick": ("lips",),
}

PRODUCT_WORDS: Mapping[str, tuple[str, ...]] = {
    "lipstick": ("lipstick", "lip gloss", "lipgloss", "gloss", "lip liner", "lipliner", "lip stain", "lip tint", "lip",
                 "lips", "mouth"),
    "eyeshadow": ("eyeshadow", "eye shadow", "shadow", "eyelid", "eyelids", "lid", "lids", "eye", "eyes"),
    "eyeliner": ("eyeliner", "eye liner", "liner", "kohl", "wing", "winged", "cat eye", "mascara", "lash", "lashes",
                 "eyelash", "eyelashes"),
    "brows": ("eyebrow", "eyebrows", "brow", "brows", "brow pencil", "brow gel"),
    "blush": ("blush", "blusher", "rouge", "cheek", "cheeks"),
    "highlight": ("highlighter", "highlight", "glow", "strobing", "cheekbone", "cheekbones"),
    "bronzer": ("bronzer", "bronzed", "sun-kissed", "sunkissed", "tanned", "suntan", "sun tan"),
    "contour": ("contour", "contouring", "sculpt", "sculpted"),
    "foundation": ("foundation", "concealer", "powder", "skin tint", "complexion", "skin", "base", "bb cream"),
}

# Effects: words -> (effect, regions). Drawn by the diffusion engine's text prompt; no cosmetic layer paints them.
EFFECT_WORDS: Mapping[str, str] = {"freckles": "freckles", "freckle": "freckles", "freckled": "freckles"}
EFFECT_REGIONS: Mapping[str, tuple[str, ...]] = {"freckles": ("skin",)}

# Looks: products and their typical shade (a NAMED_COLORS word; None = skin-relative / skin-matched).
LOOKS: Mapping[str, Mapping[str, str | None]] = {
    "natural": {"foundation": None, "blush": "peach", "eyeshadow": "taupe", "brows": "brown", "lipstick": "nude"},
    "evening": {"foundation": None, "contour": None, "highlight": None, "blush": "rose", "eyeshadow": "smoky",
                "eyeliner": "black", "brows": "brown", "lipstick": "berry"},
    "full glam": {"foundation": None, "contour": None, "highlight": None, "bronzer": "bronze", "blush": "rose",
                  "eyeshadow": "bronze", "eyeliner": "black", "brows": "brown", "lipstick": "rose"},
    "contoured": {"foundation": None, "contour": None, "highlight": None, "bronzer": "bronze"},
    "smoky eye": {"eyeshadow": "smoky", "eyeliner": "black"},
}
LOOK_WORDS: Mapping[str, str] = {
    "natural everyday": "natural", "natural": "natural", "everyday": "natural", "no-makeup": "natural",
    "no makeup": "natural", "day": "natural", "daytime": "natural", "evening": "evening", "night": "evening",
    "night out": "evening", "party": "evening", "full glam": "full glam", "glam": "full glam", "glamour": "full glam",
    "glamorous": "full glam", "contoured": "contoured", "chiselled": "contoured", "chiseled": "contoured",
    "smoky eye": "smoky eye", "smokey eye": "smoky eye", "smoky eyes": "smoky eye", "smokey eyes": "smoky eye",
}
# The shade a bare product word takes.
DEFAULT_SHADES: Mapping[str, str | None] = {
    "foundation": None, "contour": None, "highlight": None, "bronzer": "bronze", "blush": "pink",
    "eyeshadow": "taupe", "eyeliner": "black", "brows": "brown", "lipstick": "rose",
}
# Colour words that name a product when the clause names none: "smoky" lips are not a thing (smoky eyeshadow), and
# "a tan" is bronzer in a tan shade ("tan foundation" stays a tan-coloured foundation).
COLOR_IMPLIES: Mapping[str, str] = {"smoky": "eyeshadow", "smokey": "eyeshadow", "tan": "bronzer"}
_FILLER_WORDS = (
    "a an the of with and in on for to my me i want some look looks style makeup make-up make up face human person "
    "photo picture please give put wear wearing apply applied bit little light soft lots very more less shade shades "
    "colour color colored coloured tone toned finish full everyday")
FILLER = frozenset(_FILLER_WORDS.split())
MODIFIERS = frozenset(["dark", "deep", "darker", "light", "pale", "lighter", "soft", "bright"])


def product_of_word() -> dict[str, str]:
    """{word: product} over `PRODUCT_WORDS` (each word names one product)."""
    return {w: p for p, words in PRODUCT_WORDS.items() for w in words}



VOCABULARY_POINTER = "`masque vocabulary` lists every word understood"  # what messages about unknown words say


def word_groups() -> dict[str, list[str]]:
    """Every word a prompt may use, grouped (each product with the regions it paints, effects, looks, colours,
    strengths): what `masque vocabulary` prints, so that a message about an unknown word points there in one line
    instead of listing it all."""
    from .colors import NAMED_COLORS

    groups = {f"{p} (on {', '.join(PRODUCT_REGIONS[p])})": list(PRODUCT_WORDS[p]) for p in PRODUCTS}
    for effect, regions in EFFECT_REGIONS.items():
        groups[f"{effect} (on {', '.join(regions)}; diffusion engine only)"] = [
            w for w, e in EFFECT_WORDS.items() if e == effect]
    groups["looks"] = sorted(LOOK_WORDS)
    groups["colours (or #rrggbb)"] = sorted(NAMED_COLORS)
    groups["strengths (--strength)"] = list(STRENGTHS)
    return groups
