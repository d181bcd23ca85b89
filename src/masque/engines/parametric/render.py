"""Render: the carriers applied to one face at one resolution (the optimisation's copy, or the crop at full size).

    image = warp(compose(clamp(cosmetics(face; θ) + finish(φ) · fade(face))); m(ψ))   compose(y) = crop + A ⊙ (y − crop)

A = the region mask with eye openings, inner mouth and nostrils zeroed, so pixels outside it are bit-identical to
the crop and eyeballs and teeth are never painted; the reshape's warp (`reshape`) then moves the made-up face,
openings included, inside its support only. Everything here belongs to one face (its crop, landmarks, skin,
paintable area, the finish's fade); the parameters come from `carriers.Carriers`, shared by every face they are
painted on.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ...makeup.prompt import MakeupPlan
from ..base import Reshaped
from .carriers import Carriers
from .geometry import forbidden_mask
from .makeup import CosmeticLayer
from .reshape import support_of, warp


@dataclass(frozen=True)
class Canvas:
    """The crop, its landmarks and the paintable area at one resolution; ``compose`` keeps every pixel outside the
    area (and the eye openings, inner mouth, nostrils) bit-identical to the crop."""

    crop: torch.Tensor
    landmarks: np.ndarray
    area: torch.Tensor
    openings: np.ndarray  # eye openings, inner mouth, nostrils (boolean): never painted, moved only by a reshape

    @classmethod
    def of(cls, crop: torch.Tensor, mask: torch.Tensor, landmarks: np.ndarray, side: int) -> Canvas:
        if side != crop.shape[-1]:
            scale = side / crop.shape[-1]
            crop = F.interpolate(crop, size=(side, side), mode="bilinear", antialias=True, align_corners=False)
            mask = F.interpolate(mask, size=(side, side), mode="bilinear", antialias=True, align_corners=False)
            landmarks = (landmarks + 0.5) * scale - 0.5  # pixel centres
        forbidden = torch.from_numpy(forbidden_mask(landmarks, (side, side)))
        return cls(crop.clamp(0, 1), landmarks, mask.clamp(0, 1) * (~forbidden).float()[None, None],
                   forbidden.numpy())

    @property
    def side(self) -> int:
        return self.crop.shape[-1]

    def compose(self, made: torch.Tensor) -> torch.Tensor:
        return self.crop + self.area * (made - self.crop)  # exactly `crop` where area == 0


def finish_support(canvas: Canvas, layer: CosmeticLayer) -> torch.Tensor:
    """Where the finish may go: the paintable area (made-up skin, lids, lips; never eye openings, teeth, nostrils)
    minus the brows, which are hair."""
    brows = torch.from_numpy(layer.geo.regions.brows()).float()[None, None]
    return canvas.area * (1 - brows)


@dataclass
class Rendered:
    """One render: the protected crop and, for a carrier that moves pixels, its motion (`Reshaped`: the texture
    before the warp, the motion, its region; None without a reshape); paste-back reads both."""

    image: torch.Tensor
    geometry: Reshaped | None = None


class Painter:
    """The carriers bound to one face: its cosmetic constants and the finish's fade, computed once."""

    def __init__(self, canvas: Canvas, plan: MakeupPlan, carriers: Carriers):
        self.canvas, self.carriers = canvas, carriers
        self.layer = CosmeticLayer(canvas.crop, canvas.landmarks, plan, carriers.cosmetics)
        finish = carriers.finish
        self.fade = None if finish is None else finish.fade_of(finish_support(canvas, self.layer))
        self.shape = None if carriers.reshape is None else carriers.reshape.on_face(
            canvas.landmarks, support_of(canvas.area, canvas.openings))

    def __call__(self, reference: bool = False) -> Rendered:
        """The face with the carriers as they are now; ``reference``: the tutorial makeup alone (no finish)."""
        made = self.layer(reference=reference)
        if self.fade is not None and not reference:
            made = (made + self.carriers.finish(self.fade)).clamp(0, 1)
        composed = self.canvas.compose(made)
        if self.shape is None or reference:
            return Rendered(composed)
        motion = self.shape.motion()
        return Rendered(warp(composed, motion, self.shape.region), Reshaped(composed, motion, self.shape.region))

    def shades(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Per product, its Lab shade as the plan asked and as the settings now make it on this face."""
        with torch.no_grad():
            return {p: tuple(self.layer.shade_lab(p, reference=r).double().numpy() for r in (True, False))
                    for p in self.layer.plan.products}

    def finish_usage(self) -> dict[str, float] | None:
        return None if self.fade is None else self.carriers.finish.usage(self.fade)

    def reshape_usage(self) -> dict | None:
        return None if self.shape is None else self.shape.usage(self.canvas.landmarks)
