"""Prompt -> makeup plan: which products, in which shades, at which strength.

A make-up artist reads "full glam with berry lips" as a list of products (foundation, contour, highlight, bronzer,
blush, eyeshadow, eyeliner, lipstick, brows) and one shade per product. `resolve_plan` does the same, once per run, so
the orchestrator can print the plan, write it to the sidecar and hand it to the engine:

1. the prompt is split into clauses ("," ";" "and" "with" "plus" "+");
2. a look ("natural everyday look", "evening look", "full glam", "contoured", "smoky eye") adds its products with
   their typical shades;
3. a product word adds that product; a colour word or hex code in the same clause sets its shade (a clause with a
   colour and no product colours the products of the previous clause, or the lips when there is none);
4. words that are neither product, colour, look nor filler are reported back (`MakeupPlan.ignored`) with the list of
   what is understood; a prompt that understands nothing is an error.

Contour, highlight and bronzer default to *skin-relative* shades (the wearer's own tone, darker / lighter / warmer),
as an artist picks them, so they never turn skin grey or green; foundation without a colour matches the skin.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from ..errors import InputError
from .colors import NAMED_COLORS, MakeupColor, find_color, hex_to_rgb

PRODUCTS = ("foundation", "contour", "highlight", "bronzer", "blush", "eyeshadow", "eyeliner", "brows", "lipstick")
STRENGTHS = ("subtle", "natural", "bold", "max")

# Face regions (masque.faces.regions) each product is laid on: the union is the engine's paint-able area.
PRODUCT_REGIONS: Mapping[str, tuple[str, ...]] = {
    "foundation": ("skin",), "contour": ("skin",), "highlight": ("skin",), "bronzer": ("skin",),
    "blush": ("cheeks", "skin"),  # the skin region already holds the cheeks; blush fades out over it
    # the "eyes" region is a ring around the opening; the lid up to the crease and the liner's wing lie in "skin"
    # (the layer itself keeps eyeshadow and liner on the lids)
    "eyeshadow": ("eyes", "skin"), "eyeliner": ("eyes", "skin"), "brows": ("brows",), "lipstick": ("lips",),
}

# Product words (whole words / phrases, longest first when matching).
PRODUCT_WORDS: Mapping[str, tuple[str, ...]] = {
    "lipstick": ("lipstick", "lip gloss", "lipgloss", "gloss", "lip liner", "lip stain", "lip tint", "lip", "lips",
                 "mouth"),
    "eyeshadow": ("eyeshadow", "eye shadow", "shadow", "eyelid", "eyelids", "lid", "lids", "eye", "eyes"),
    "eyeliner": ("eyeliner", "eye liner", "liner", "kohl", "wing", "winged", "cat eye", "mascara", "lashes"),
    "brows": ("eyebrow", "eyebrows", "brow", "brows", "brow pencil", "brow gel"),
    "blush": ("blush", "blusher", "rouge", "cheek", "cheeks"),
    "highlight": ("highlighter", "highlight", "glow", "strobing", "cheekbone", "cheekbones"),
    "bronzer": ("bronzer", "bronzed", "sun-kissed", "sunkissed"),
    "contour": ("contour", "contouring", "sculpt", "sculpted"),
    "foundation": ("foundation", "concealer", "powder", "skin tint", "complexion", "skin", "base", "bb cream"),
}

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
# Products a colour-only clause or a bare product word takes its default shade from.
DEFAULT_SHADES: Mapping[str, str | None] = {
    "foundation": None, "contour": None, "highlight": None, "bronzer": "bronze", "blush": "pink",
    "eyeshadow": "taupe", "eyeliner": "black", "brows": "brown", "lipstick": "rose",
}
# Colour words that only make sense for some products ("smoky" lips are not a thing: it means smoky eyeshadow).
COLOR_IMPLIES: Mapping[str, str] = {"smoky": "eyeshadow", "smokey": "eyeshadow"}
_FILLER_WORDS = (
    "a an the of with and in on for to my me i want some look looks style makeup make-up make up face human person "
    "photo picture please give put wear wearing apply applied bit little light soft lots very more less shade shades "
    "colour color colored coloured tone toned finish full everyday")
FILLER = frozenset(_FILLER_WORDS.split())
_MODIFIERS = frozenset(["dark", "deep", "darker", "light", "pale", "lighter", "soft", "bright"])
_CLAUSES = re.compile(r",|;|\band\b|\bwith\b|\bplus\b|\+", re.IGNORECASE)


@dataclass(frozen=True)
class Shade:
    """A product's pigment: ``rgb`` sRGB in [0, 1], or None for a skin-relative/skin-matched shade."""

    name: str
    rgb: tuple[float, float, float] | None
    source: str  # "prompt", "look" or "default"

    @property
    def hex(self) -> str | None:
        return None if self.rgb is None else "#" + "".join(f"{round(c * 255):02x}" for c in self.rgb)


@dataclass(frozen=True)
class MakeupPlan:
    """What the engine applies: ``products`` {product: Shade} in `PRODUCTS` order, the ``looks`` named, the
    ``strength`` level and the prompt words that were not understood."""

    prompt: str
    products: dict[str, Shade]
    looks: tuple[str, ...] = ()
    strength: str = "natural"
    ignored: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default=())

    @property
    def regions(self) -> tuple[str, ...]:
        from ..faces.regions import REGIONS

        used = {r for p in self.products for r in PRODUCT_REGIONS[p]}
        return tuple(r for r in REGIONS if r in used)

    def describe(self) -> str:
        """One line for the CLI summary: products and shades."""
        parts = [f"{p} {s.name}" + (f" ({s.hex})" if s.hex else "") for p, s in self.products.items()]
        head = f"{' + '.join(self.looks)}: " if self.looks else ""
        return f"{head}{', '.join(parts)} [strength {self.strength}]"

    def to_dict(self) -> dict:
        return {"prompt": self.prompt, "looks": list(self.looks), "strength": self.strength,
                "products": {p: {"shade": s.name, "hex": s.hex, "source": s.source} for p, s in self.products.items()},
                "ignored_words": list(self.ignored), "notes": list(self.notes)}


VOCABULARY_POINTER = "`masque vocabulary` lists every word understood"


def vocabulary() -> dict[str, list[str]]:
    """Every word the resolver understands, grouped (product -> its words, looks, colours, strengths): what `masque
    vocabulary` prints, so a message about an unknown word can point there instead of listing it all."""
    groups = {f"{p} (on {', '.join(PRODUCT_REGIONS[p])})": list(PRODUCT_WORDS[p]) for p in PRODUCTS}
    groups["looks"] = sorted(LOOK_WORDS)
    groups["colours (or #rrggbb)"] = sorted(NAMED_COLORS)
    groups["strengths (--strength)"] = list(STRENGTHS)
    return groups


def _find_phrases(text: str, phrases: Mapping[str, str]) -> tuple[list[str], str]:
    """Values of the phrases found in ``text`` (longest first), and ``text`` with them blanked out."""
    found = []
    for phrase in sorted(phrases, key=len, reverse=True):
        pattern = rf"(?<![\w-]){re.escape(phrase)}(?![\w-])"
        if re.search(pattern, text):
            found.append(phrases[phrase])
            text = re.sub(pattern, " ", text)
    return found, text


def _shade(name: str | None, source: str) -> Shade:
    if name is None:
        return Shade("skin-matched", None, source)
    return Shade(name, hex_to_rgb(NAMED_COLORS[name]), source)


def _color_shade(color: MakeupColor) -> Shade:
    return Shade(color.name, color.rgb, "prompt")


def resolve_plan(prompt: str, strength: str = "natural") -> MakeupPlan:
    """The plan for ``prompt`` (see the module docstring); InputError when it names nothing we understand."""
    if strength not in STRENGTHS:
        raise InputError(f"`strength` must be one of {', '.join(STRENGTHS)}, got {strength!r}.")
    if not prompt or not prompt.strip():
        raise InputError("`prompt` must name the makeup, e.g. 'red lipstick' or 'full glam'; got an empty prompt.")
    product_of = {w: p for p, words in PRODUCT_WORDS.items() for w in words}
    products: dict[str, Shade] = {}
    looks: list[str] = []
    ignored: list[str] = []
    last_products: list[str] = []
    for clause in _CLAUSES.split(prompt):
        text = clause.lower()
        color = find_color(text)  # InputError for a malformed hex code
        # 1. looks, then products (a look phrase like "smoky eye" wins over the product word "eye")
        found_looks, text = _find_phrases(text, LOOK_WORDS)
        for look in dict.fromkeys(found_looks):
            looks.append(look)
            for p, shade in LOOKS[look].items():
                if p not in products or products[p].source == "look":
                    products[p] = _shade(shade, "look")
        named, text = _find_phrases(text, product_of)
        named = list(dict.fromkeys(named))
        if color is not None and not named:
            implied = COLOR_IMPLIES.get(color.name.split()[-1])
            named = [implied] if implied else (last_products if last_products else
                                               ([] if found_looks else ["lipstick"]))
        # 2. shades: the clause's colour for its products, else the product's default (a look's shade is kept)
        for p in named:
            if color is not None:
                products[p] = _color_shade(color)
            elif p not in products:
                products[p] = _shade(DEFAULT_SHADES[p], "default")
        if named:
            last_products = named
        # 3. what is left: filler, colour words and modifiers are understood; anything else is reported
        for word in re.findall(r"[a-z][\w-]*", re.sub(r"#\w+", " ", text)):
            if word in FILLER or word in NAMED_COLORS or word in _MODIFIERS or word in STRENGTHS:
                continue
            ignored.append(word)
    unknown = ", ".join(dict.fromkeys(ignored))
    if not products:
        which = f" (not understood: {unknown})" if unknown else ""
        raise InputError(f"`prompt` {prompt!r} names no makeup we understand{which}; try e.g. 'red lipstick', "
                         f"'smoky eyeshadow' or 'full glam'; {VOCABULARY_POINTER}.")
    ordered = {p: products[p] for p in PRODUCTS if p in products}
    notes = ()
    if ignored:  # one line: what was ignored and where the list is (the list itself is ~12 lines at 80 columns)
        notes = (f"not understood (ignored): {unknown}; {VOCABULARY_POINTER}",)
    return MakeupPlan(prompt, ordered, tuple(dict.fromkeys(looks)), strength, tuple(dict.fromkeys(ignored)), notes)


def plan_and_regions(prompt: str, region=None, strength: str = "natural") -> tuple[MakeupPlan, tuple[str, ...]]:
    """The plan and the face regions to mask for it: the regions the prompt's words name plus those the plan's
    products paint (a look such as "full glam" names no region word); an explicit ``region`` wins."""
    from ..faces.regions import REGIONS, regions_for_prompt

    plan = resolve_plan(prompt, strength)
    if region is not None:
        return plan, regions_for_prompt(prompt, region)
    try:
        named = set(regions_for_prompt(prompt))
    except InputError:
        named = set()
    return plan, tuple(r for r in REGIONS if r in named | set(plan.regions))
