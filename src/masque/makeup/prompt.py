"""Prompt -> makeup plan: which products, in which shades, at which strength.

A make-up artist reads "full glam with berry lips" as a list of products (foundation, contour, highlight, bronzer,
blush, eyeshadow, eyeliner, lipstick, brows) and one shade per product. `resolve_plan` does the same, once per run, so
the orchestrator can print the plan, write it to the sidecar and hand it to the engine:

1. the prompt is split into clauses ("," ";" "and" "with" "plus" "+");
2. a look ("natural everyday look", "evening look", "full glam", "contoured", "smoky eye") adds its products with
   their typical shades;
3. a product word adds that product; a colour word or hex code in the same clause sets its shade (a clause with a
   colour and no product colours the products of the previous clause, or the lips when there is none);
4. an effect word (freckles) is kept apart: only an engine that can draw it accepts it (`MakeupPlan.require_cosmetics`);
5. words that are neither product, effect, colour, look nor filler are reported back (`MakeupPlan.ignored`) with the
   list of what is understood; a prompt that understands nothing is an error (unless the region is given), and a
   front end refuses a prompt most of whose words are not understood (`mostly_unknown`) unless the user insists.

The words and the regions each product is laid on are `masque.makeup.vocabulary`, the one vocabulary every engine
reads.

Contour, highlight and bronzer default to *skin-relative* shades (the wearer's own tone, darker / lighter / warmer),
as an artist picks them, so they never turn skin grey or green; foundation without a colour matches the skin.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from ..errors import InputError
from ..faces.region_names import REGIONS, parse_regions  # names only: no torch before a model is needed
from .colors import NAMED_COLORS, MakeupColor, find_color, hex_to_rgb
from .vocabulary import (
    COLOR_IMPLIES,
    DEFAULT_SHADES,
    EFFECT_REGIONS,
    EFFECT_WORDS,
    FILLER,
    LOOK_WORDS,
    LOOKS,
    MODIFIERS,
    PRODUCT_REGIONS,
    PRODUCTS,
    STRENGTHS,
    VOCABULARY_POINTER,
    product_of_word,
)

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
    """What an engine understood of the prompt (`Engine.plan`): ``products`` {product: Shade} in `PRODUCTS` order,
    the ``looks`` named, the ``effects`` (words no cosmetic product paints, e.g. freckles), the ``strength`` level
    (None for an engine without levels), the prompt words that were not understood (``ignored``) and the face
    ``regions`` to mask: those the products and effects are laid on, or the user's explicit ``--region``."""

    prompt: str
    products: dict[str, Shade]
    looks: tuple[str, ...] = ()
    strength: str | None = "natural"
    ignored: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default=())
    effects: tuple[str, ...] = ()
    regions: tuple[str, ...] = ()

    def describe(self) -> str:
        """One line for the CLI summary: products and shades."""
        parts = [f"{p} {s.name}" + (f" ({s.hex})" if s.hex else "") for p, s in self.products.items()]
        parts += list(self.effects)
        head = f"{' + '.join(self.looks)}: " if self.looks else ""
        level = f" [strength {self.strength}]" if self.strength else ""
        return f"{head}{', '.join(parts)}{level}"

    def require_cosmetics(self, engine: str) -> MakeupPlan:
        """For an engine that lays cosmetics only: one-line error when the prompt asks for an effect (freckles) or
        names no product; returns self so it chains."""
        if self.effects:
            raise InputError(field="prompt", value=self.prompt, rule=f"{self.prompt!r} asks for "
                             f"{', '.join(self.effects)}, which the {engine} engine cannot paint (it lays cosmetics: "
                             f"{', '.join(PRODUCTS)})", hint={"cli": "drop the word or use `--engine diffusion`",
                                                              "web": "drop the word or choose the diffusion method",
                                                              "api": "drop the word or use `engine='diffusion'`"})
        if not self.products:
            raise InputError(f"`prompt` {self.prompt!r} names no cosmetic the {engine} engine can lay, e.g. 'red "
                             f"lipstick' or 'full glam'; {VOCABULARY_POINTER}.")
        return self

    def to_dict(self) -> dict:
        return {"prompt": self.prompt, "looks": list(self.looks), "strength": self.strength,
                "products": {p: {"shade": s.name, "hex": s.hex, "source": s.source} for p, s in self.products.items()},
                "effects": list(self.effects), "regions": list(self.regions), "ignored_words": list(self.ignored),
                "notes": list(self.notes)}


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


def require_prompt(prompt) -> str:
    """The one empty-prompt check (the plan and the diffusion pipeline's own inputs): one line, or ``prompt``."""
    if not isinstance(prompt, str) or not prompt.strip():
        got = "an empty prompt" if isinstance(prompt, str) or prompt is None else repr(prompt)
        raise InputError(f"`prompt` must name the makeup, e.g. 'red lipstick' or 'full glam'; got {got}.")
    return prompt


def resolve_plan(prompt: str, strength: str | None = "natural",
                 region: str | Sequence[str] | None = None) -> MakeupPlan:
    """The plan for ``prompt`` (see the module docstring) at ``strength`` (a `STRENGTHS` level, or None for an engine
    without levels); ``region`` (names of `masque.faces.regions.REGIONS`) overrides the regions the words name.
    InputError when the prompt is empty or names nothing we understand (and no region is given)."""
    if strength is not None and strength not in STRENGTHS:
        raise InputError(f"`strength` must be one of {', '.join(STRENGTHS)}, got {strength!r}.")
    require_prompt(prompt)
    override = parse_regions(region) if region is not None else None
    product_of = product_of_word()
    products: dict[str, Shade] = {}
    looks: list[str] = []
    effects: list[str] = []
    ignored: list[str] = []
    last_products: list[str] = []
    for clause in _CLAUSES.split(prompt):
        text = clause.lower()
        color = find_color(text)  # InputError for a malformed hex code
        # 1. looks, then products and effects (a look phrase like "smoky eye" wins over the product word "eye")
        found_looks, text = _find_phrases(text, LOOK_WORDS)
        for look in dict.fromkeys(found_looks):
            looks.append(look)
            for p, shade in LOOKS[look].items():
                if p not in products or products[p].source == "look":
                    products[p] = _shade(shade, "look")
        named, text = _find_phrases(text, product_of)
        found_effects, text = _find_phrases(text, EFFECT_WORDS)
        effects += found_effects
        named = list(dict.fromkeys(named))
        if color is not None and not named:
            implied = COLOR_IMPLIES.get(color.name.split()[-1])
            named = [implied] if implied else (last_products if last_products else
                                               ([] if found_looks or found_effects else ["lipstick"]))
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
            if word in FILLER or word in NAMED_COLORS or word in MODIFIERS or word in STRENGTHS:
                continue
            ignored.append(word)
    effects = list(dict.fromkeys(effects))
    unknown = ", ".join(dict.fromkeys(ignored))
    if not products and not effects and override is None:
        which = f" (not understood: {unknown})" if unknown else ""
        examples = "try e.g. 'red lipstick', 'smoky eyeshadow' or 'full glam'"
        raise InputError(field="prompt", value=prompt, rule=f"{prompt!r} names no makeup we understand{which}",
                         hint={"cli": f"{examples}, or name the face region with `--region`; {VOCABULARY_POINTER}",
                               "web": examples, "api": f"{examples}, or name the face region with `region`"})
    ordered = {p: products[p] for p in PRODUCTS if p in products}
    notes = ()
    if ignored:  # one line: what was ignored and where the list is (the list itself is ~12 lines at 80 columns)
        notes = (f"not understood (ignored): {unknown}; {VOCABULARY_POINTER}",)
    used = {r for p in ordered for r in PRODUCT_REGIONS[p]} | {r for e in effects for r in EFFECT_REGIONS[e]}
    regions = override if override is not None else tuple(r for r in REGIONS if r in used)
    return MakeupPlan(prompt, ordered, tuple(dict.fromkeys(looks)), strength, tuple(dict.fromkeys(ignored)), notes,
                      tuple(effects), regions)


def content_words(prompt: str) -> list[str]:
    """The prompt's words that carry meaning: every word but filler, modifiers and strength names; a hex code counts
    as one (a colour)."""
    words = []
    for clause in _CLAUSES.split(prompt.lower()):
        words += re.findall(r"#\w+", clause)
        words += [w for w in re.findall(r"[a-z][\w-]*", re.sub(r"#\w+", " ", clause))
                  if w not in FILLER and w not in MODIFIERS and w not in STRENGTHS]
    return words


def mostly_unknown(plan: MakeupPlan) -> bool:
    """True when more than half of the prompt's meaningful words (`content_words`) are not understood: "purple
    unicorn sparkle" would run as purple lipstick, which is not what its writer asked for, so front ends refuse it
    unless the user insists (`masque protect --allow-unknown-words`)."""
    words = content_words(plan.prompt)
    unknown = sum(w in set(plan.ignored) for w in words)
    return 2 * unknown > len(words)
