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

import numpy as np
import torch
from torch import nn

from ...errors import InputError
from ...makeup.prompt import STRENGTHS, MakeupPlan
from .products import PRODUCTS, Bound

STRENGTH_SCALE: Mapping[str, float] = {"subtle": 0.5, "natural": 0.75, "bold": 1.0, "max": 1.3}


# Every product's bounds by name (a smoky eye has its own: "eyeshadow:smoky"), from the registry
PARAMS: Mapping[str, Mapping[str, Bound]] = {key: b for p in PRODUCTS.values() for key, b in p.variants().items()}
# How far each product's shade may move within its family (L* lighter; products without one keep their shade)
SHADE_LIGHTNESS: Mapping[str, float] = {p.name: p.shade_lightness for p in PRODUCTS.values()
                                        if p.shade_lightness is not None}


def bounds_for(product: str, strength: str) -> dict[str, Bound]:
    """`PARAMS[product]` with the strength dial applied (scaled bounds capped at 0.95 for opacities)."""
    if strength not in STRENGTHS:
        raise InputError(f"`strength` must be one of {', '.join(STRENGTHS)}, got {strength!r}.")
    k = STRENGTH_SCALE[strength]
    out = {}
    cap_all = PRODUCTS[product.split(":")[0]].cap_all
    for name, b in PARAMS[product].items():
        if b.scaled:
            cap = 0.95 if name in ("opacity", "gloss") or cap_all else b.hi * k
            b = Bound(min(b.lo * k, cap), min(b.hi * k, cap), min(b.init * k, cap), True)
        out[name] = b
    return out


def param_key(product: str, shade) -> str:
    """The `PARAMS` entry for ``product`` in ``shade`` (`products.Product.variant`: a dark eyeshadow is worn as a
    smoky eye)."""
    return PRODUCTS[product].variant(shade)


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
