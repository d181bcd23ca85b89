"""The portable half of the cosmetic model: what a make-up artist sets, with no constant of any one face.

A `CosmeticSettings` holds, for the plan's products, every bounded setting (opacities, placements in the face's
landmark frame, sizes in eye distances or px of a 256² crop) and each shade's in-family offset. Nothing in it depends
on a photo, so one set can be fitted on several faces and painted on another (`makeup.CosmeticLayer` binds it to
one face: its landmarks, skin tone and shading). Every value is ``lo + (hi - lo) · sigmoid(raw + logit(init))``:
bounds hold by construction, the strength dial scales the opacity/intensity bounds, and the reference makeup (what a
tutorial would give) is ``raw = 0``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import kornia
import numpy as np
import torch
from torch import nn

from ...errors import InputError
from ...makeup.prompt import STRENGTHS, MakeupPlan

STRENGTH_SCALE: Mapping[str, float] = {"subtle": 0.5, "natural": 0.75, "bold": 1.0, "max": 1.3}


@dataclass(frozen=True)
class Bound:
    """One parameter: range [lo, hi] and the tutorial value ``init``; ``scaled``: the strength dial scales it."""

    lo: float
    hi: float
    init: float
    scaled: bool = False


# Opacities/intensities are fractions; lengths are eye distances (u); angles radians; overdraw crop px at 256².
PARAMS: Mapping[str, Mapping[str, Bound]] = {
    "foundation": {"opacity": Bound(0.1, 0.5, 0.3, True)},
    "contour": {"cheek": Bound(0.0, 0.5, 0.25, True), "jaw": Bound(0.0, 0.45, 0.2, True),
                "temple": Bound(0.0, 0.5, 0.2, True), "nose": Bound(0.0, 0.5, 0.2, True),
                "forehead": Bound(0.0, 0.4, 0.15, True), "cheek_dy": Bound(-0.1, 0.1, 0.0),
                "cheek_len": Bound(0.4, 0.7, 0.55), "cheek_w": Bound(0.05, 0.12, 0.08),
                "nose_dx": Bound(-0.04, 0.04, 0.0)},
    "highlight": {"cheekbone": Bound(0.0, 0.6, 0.3, True), "nose": Bound(0.0, 0.5, 0.25, True),
                  "forehead": Bound(0.0, 0.5, 0.2, True), "chin": Bound(0.0, 0.5, 0.2, True),
                  "browbone": Bound(0.0, 0.5, 0.15, True), "cupid": Bound(0.0, 0.5, 0.2, True),
                  "cheek_dy": Bound(-0.08, 0.08, 0.0)},
    "bronzer": {"opacity": Bound(0.0, 0.5, 0.25, True), "dy": Bound(-0.08, 0.08, 0.0),
                "width": Bound(0.08, 0.16, 0.11)},
    "blush": {"opacity": Bound(0.1, 0.55, 0.35, True), "dx": Bound(-0.06, 0.12, 0.0), "dy": Bound(-0.1, 0.1, 0.0),
              "size": Bound(0.14, 0.28, 0.2), "aspect": Bound(1.0, 1.7, 1.3), "angle": Bound(-0.45, 0.45, 0.2)},
    "eyeshadow": {"opacity": Bound(0.3, 0.85, 0.6, True), "height": Bound(0.3, 0.75, 0.5),
                  "outer": Bound(0.0, 0.7, 0.35), "lower": Bound(0.0, 0.6, 0.2, True)},
    # a smoky eye (a dark shade: smoky, charcoal, black ...) is worn deepest at the lash line and outer corner,
    # smudged under the lower lashes and blended higher towards the crease
    "eyeshadow:smoky": {"opacity": Bound(0.45, 0.9, 0.78, True), "height": Bound(0.45, 0.8, 0.6),
                        "outer": Bound(0.3, 0.9, 0.65), "lower": Bound(0.2, 0.7, 0.45, True)},
    "eyeliner": {"opacity": Bound(0.5, 0.95, 0.85), "thickness": Bound(0.015, 0.04, 0.025, True),
                 "wing": Bound(0.04, 0.3, 0.15, True), "angle": Bound(0.15, 0.6, 0.35)},
    "brows": {"opacity": Bound(0.15, 0.6, 0.35, True), "thickness": Bound(0.85, 1.25, 1.0),
              "arch": Bound(-0.03, 0.04, 0.0)},
    "lipstick": {"opacity": Bound(0.45, 0.95, 0.75, True), "overdraw": Bound(-1.5, 2.0, 0.0),
                 "gloss": Bound(0.0, 0.25, 0.12)},  # a stronger white screen reads as a grey film on dark lips
}
SHADE_LIGHTNESS: Mapping[str, float] = {"foundation": 3.0, "blush": 4.0, "eyeshadow": 4.0, "eyeliner": 3.0,
                                        "brows": 3.0, "lipstick": 4.0, "bronzer": 4.0}
SMOKY_LIGHTNESS = 32.0  # eyeshadow shades darker than this (L*) are applied as a smoky eye


def bounds_for(product: str, strength: str) -> dict[str, Bound]:
    """`PARAMS[product]` with the strength dial applied (scaled bounds capped at 0.95 for opacities)."""
    if strength not in STRENGTHS:
        raise InputError(f"`strength` must be one of {', '.join(STRENGTHS)}, got {strength!r}.")
    k = STRENGTH_SCALE[strength]
    out = {}
    for name, b in PARAMS[product].items():
        if b.scaled:
            cap = 0.95 if name in ("opacity", "gloss") or product in ("contour", "highlight") else b.hi * k
            b = Bound(min(b.lo * k, cap), min(b.hi * k, cap), min(b.init * k, cap), True)
        out[name] = b
    return out


def param_key(product: str, shade) -> str:
    """The `PARAMS` entry for ``product`` in ``shade``: a dark eyeshadow is worn as a smoky eye."""
    if product == "eyeshadow" and shade.rgb is not None and float(lab_of(shade.rgb)[0]) < SMOKY_LIGHTNESS:
        return "eyeshadow:smoky"
    return product


def lab_of(rgb) -> torch.Tensor:
    """sRGB triple in [0, 1] -> Lab (3,)."""
    return kornia.color.rgb_to_lab(torch.tensor(rgb, dtype=torch.float32).view(1, 3, 1, 1)).view(3)


class CosmeticSettings(nn.Module):
    """The plan's settings (``raw``) and shade offsets (``shade_raw``); all zero = the tutorial makeup."""

    def __init__(self, plan: MakeupPlan):
        super().__init__()
        self.plan = plan
        self.bounds = {p: bounds_for(param_key(p, shade), plan.strength) for p, shade in plan.products.items()}
        self.raw = nn.ParameterDict({f"{p}__{n}": nn.Parameter(torch.zeros(())) for p, bs in self.bounds.items()
                                     for n in bs})
        # every bounded value in one vector (one sigmoid per render instead of one per use: ~150 uses a render)
        self._keys = [(p, n) for p, bs in self.bounds.items() for n in bs]
        spans = [self.bounds[p][n] for p, n in self._keys]
        self._lo = torch.tensor([b.lo for b in spans])
        self._span = torch.tensor([b.hi - b.lo for b in spans])
        self._init = torch.tensor([b.init for b in spans])
        start = [min(max((b.init - b.lo) / max(b.hi - b.lo, 1e-8), 1e-4), 1 - 1e-4) for b in spans]
        self._logit = torch.tensor([float(np.log(q / (1 - q))) for q in start])
        self.shade_raw = nn.ParameterDict({p: nn.Parameter(torch.zeros(3)) for p in plan.products
                                           if p in SHADE_LIGHTNESS})

    def bounded_values(self, reference: bool = False) -> dict[tuple[str, str], torch.Tensor]:
        """Every (product, setting) value: lo + (hi - lo) · sigmoid(raw + logit(init)), inside its bounds by
        construction and at ``init`` when raw = 0; the tutorial values themselves when ``reference``."""
        if reference or not self._keys:
            vals = self._init
        else:
            raw = torch.stack([self.raw[f"{p}__{n}"] for p, n in self._keys])
            vals = self._lo + self._span * torch.sigmoid(raw + self._logit)
        return dict(zip(self._keys, vals.unbind(), strict=True))

    def value(self, product: str, name: str, reference: bool = False) -> torch.Tensor:
        return self.bounded_values(reference)[(product, name)]

    def values(self) -> dict[str, dict[str, float]]:
        """Every parameter's current value (for the sidecar and bound tests)."""
        with torch.no_grad():
            vals = self.bounded_values()
            return {p: {n: float(vals[(p, n)]) for n in bs} for p, bs in self.bounds.items()}
