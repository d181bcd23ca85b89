"""A differentiable model of real cosmetics on one face: every parameter is something a make-up artist could set.

The products themselves — their bounds, shade rules, render steps and order — are the registry of `products`; this
layer holds one face's constants (landmarks, median skin tone, the pigment shading S(x) per product, lid and lip
fields) and paints the plan's products in their order. Shades live in CIE Lab within a small ball around the plan's
shade (the colour family); skin-relative shades (contour, highlight, skin-matched foundation) are the wearer's median
skin Lab moved in lightness and warmth, so skin never turns grey or green. The parameters themselves (bounded by
construction, zero = the tutorial makeup) live in `settings.CosmeticSettings`, apart from this face's constants, so
they can be carried to another face. The layer is smooth; fine structure is the protective finish's job
(`finish.Finish`).
"""

from __future__ import annotations

import kornia
import numpy as np
import torch
from torch import nn

from ...errors import InputError
from ...makeup.prompt import MakeupPlan
from .colour import lin_of_lab, luminance, shade_in_family
from .geometry import SIDES, FaceGeometry
from .products import PRODUCTS, in_order
from .settings import CosmeticSettings


class CosmeticLayer(nn.Module):
    """The plan's products on one face crop (1, 3, S, S): the face's constants (landmarks, skin tone, shading, lid
    and lip fields) bound to ``settings`` (`CosmeticSettings`, the portable parameters; a new set when omitted, or
    one shared with other faces); ``forward()`` renders it, ``reference=True`` the tutorial makeup (every parameter
    at its ``init``)."""

    def __init__(self, crop: torch.Tensor, landmarks: np.ndarray, plan: MakeupPlan,
                 settings: CosmeticSettings | None = None):
        super().__init__()
        if settings is not None and settings.plan != plan:
            raise InputError("`settings` were made for another plan; build them from this one "
                             "(CosmeticSettings(plan)).")
        self.plan, self.crop = plan, crop.detach()
        self.settings = settings if settings is not None else CosmeticSettings(plan)
        size = crop.shape[-1]
        self.geo = geo = FaceGeometry(landmarks, size)
        self.low = geo.coarse(size // 2)  # mid-scale shapes are drawn at half resolution and upsampled
        self.px = size / 256.0  # overdraw and edge softness are in pixels of a 256² crop
        # 1. constants: linear crop, skin likelihood and median skin tone, product areas, eye and lip fields
        self.crop_lin = kornia.color.rgb_to_linear_rgb(self.crop)
        lab = kornia.color.rgb_to_lab(self.crop)
        self.skin_like, self.skin_lab = geo.skin_likelihood(lab)
        self.skin_lum = float(luminance(lin_of_lab(self.skin_lab)))
        self.skin_area = geo.blended_in(geo.skin_area()) * self.skin_like
        # S(x) per product: the crop's luminance over its mean where the product sits, so the pigment's mean is
        # the shade asked for while the skin's (or lips') shading and texture show through
        lum = luminance(self.crop_lin)
        self.lids_mask = geo.lid(SIDES[0])[0] | geo.lid(SIDES[1])[0]  # the lids themselves, not the lash line
        lids = self.lids_mask
        self.lid_lightness = float(lab[0, 0][torch.from_numpy(lids)].mean()) if lids.any() else 100.0
        self.products = in_order(plan.products)
        self.rel_shading = {}
        for product in self.products:
            area = product.area(self)
            inside = lum / max(float(lum[0, 0][torch.from_numpy(area)].mean()), 1e-4) if area is not None and \
                area.any() else lum / max(self.skin_lum, 1e-4)
            power = product.shading_power
            self.rel_shading[product.name] = inside if power is None else inside.pow(power)
            product.prepare(self)

    def shade_lab(self, product: str, reference: bool = False) -> torch.Tensor:
        """The product's Lab shade: its rule on the plan's (or the skin-relative) shade, plus its bounded in-family
        offset."""
        kind = PRODUCTS[product]
        base = kind.base_shade(self, self.plan.products[product])
        if product in self.settings.shade_raw and not reference:
            base = shade_in_family(base, self.settings.shade_raw[product], kind.shade_lightness)
        return base

    # -- rendering ---------------------------------------------------------------------------------------------
    def forward(self, reference: bool = False) -> torch.Tensor:
        """The made-up crop in sRGB (1, 3, S, S); identical to the crop wherever no product reaches."""
        vals = self.settings.bounded_values(reference)
        v = lambda p, n: vals[(p, n)]  # noqa: E731
        x, scratch = self.crop_lin, {}  # scratch: what one render's products share (the blush shape ...)
        for product in self.products:
            x = product.paint(self, x, v, reference, scratch)
        return kornia.color.linear_rgb_to_rgb(x.clamp(0, 1)).clamp(0, 1)

    def cover(self, x: torch.Tensor, product: str, alpha: torch.Tensor, reference: bool,
              lab: torch.Tensor | None = None) -> torch.Tensor:
        """lerp(x, pigment · S, α): a translucent pigment whose shading and texture follow the skin under it."""
        lab = self.shade_lab(product, reference) if lab is None else lab
        shading = self.rel_shading[product]
        pigment = lin_of_lab(lab) * shading if lab.ndim == 1 else lab * shading
        alpha = alpha if alpha.ndim == 4 else alpha[None, None]
        return x + alpha * (pigment - x)
