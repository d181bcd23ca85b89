"""Expectation over transformation (Athalye et al. 2018): seeded draws of small differentiable transforms of the crop.

Each call draws ``samples`` random transforms: a jitter of the alignment (shift, scale, rotation), resize, blur,
colour, differentiable JPEG (kornia) and, when configured, a horizontal mirror; each model may draw its own
(input diversity, Xie et al. 2019), which is what makes a perturbation carry over to recognisers that were not
optimised against.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import kornia
import torch
import torch.nn.functional as F

from ..errors import InputError


@dataclass(frozen=True)
class EOTConfig:
    """Transform distribution of the expectation over transformation; each transform is applied with prob. ``p``."""

    samples: int = 2  # transformed copies averaged per call
    p: float = 0.5
    jpeg_quality: tuple[int, int] | None = (50, 95)
    resize_scale: tuple[float, float] | None = (0.5, 1.0)  # down-then-up resampling factor
    blur_sigma: tuple[float, float] | None = (0.3, 1.2)  # pixels of the crop
    # Alignment jitter (every draw): shift up to +-3 % of the crop, scale, rotation up to +-4 degrees -- the spread
    # between two landmark detectors' alignments of the same face.
    shift: float | None = 0.03
    scale: tuple[float, float] | None = (0.95, 1.05)
    rotation_deg: float | None = 4.0
    colour: float | None = 0.05  # brightness +-, contrast and saturation factors 1 +- (2x) this
    per_model: bool = True  # each surrogate sees its own draws (input diversity across models), same cost
    # probability of a horizontal mirror of the crop (None: never; drawn last, so the other draws stay the same).
    # Measured at 0.5 (README "Tried and not shipped"): no held-out judge moved
    flip: float | None = None
    seed: int = 0



# ---- EOT: alignment jitter, resize, blur, colour, JPEG (kornia) ------------------------------------------------------

def diff_jpeg(x: torch.Tensor, quality: float) -> torch.Tensor:
    """Differentiable JPEG at ``quality`` (kornia: YCbCr, 4:2:0 chroma subsampling as real encoders do, 8x8 DCT,
    IJG tables, differentiable rounding); any size (kornia pads to the 16-px macroblock)."""
    q = torch.full((x.shape[0],), float(quality), dtype=x.dtype, device=x.device)
    return kornia.enhance.jpeg_codec_differentiable(x.clamp(0, 1), q)


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    radius = max(1, math.ceil(3 * sigma))
    return kornia.filters.gaussian_blur2d(x, (2 * radius + 1,) * 2, (sigma, sigma), border_type="reflect")


def random_resize(x: torch.Tensor, scale: float) -> torch.Tensor:
    h, w = x.shape[-2:]
    small = F.interpolate(x, size=(max(8, round(h * scale)), max(8, round(w * scale))), mode="bilinear",
                          antialias=True, align_corners=False)
    return F.interpolate(small, size=(h, w), mode="bilinear", align_corners=False)


def jitter_alignment(x: torch.Tensor, shift: tuple[float, float], scale: float, angle_deg: float) -> torch.Tensor:
    """Similarity warp of the crop about its centre: ``shift`` in crop fractions, ``scale``, rotation in degrees.

    Each recogniser aligns the crop into its own template with a fixed transform; a recogniser in the wild uses its
    own detector and landmarks, so its alignment differs by a few pixels and degrees. Optimising under such jitter
    (Athalye et al. 2018; input diversity, Xie et al. 2019) keeps the makeup from over-fitting our exact alignment.
    """
    b, _, h, w = x.shape
    centre = torch.tensor([[(w - 1) / 2, (h - 1) / 2]], dtype=x.dtype, device=x.device).expand(b, 2)
    m = kornia.geometry.transform.get_affine_matrix2d(
        torch.tensor([[shift[0] * w, shift[1] * h]], dtype=x.dtype, device=x.device).expand(b, 2), centre,
        torch.full((b, 2), scale, dtype=x.dtype, device=x.device),
        torch.full((b,), angle_deg, dtype=x.dtype, device=x.device))
    return kornia.geometry.transform.warp_affine(x, m[:, :2], (h, w), padding_mode="border", align_corners=True)


class EOT:
    """Seeded sampler of differentiable transforms; keep one per optimisation so every call draws new ones."""

    def __init__(self, config: EOTConfig = EOTConfig()):
        if config.samples < 1 or not 0.0 <= config.p <= 1.0 or not 0.0 <= (config.flip or 0.0) <= 1.0:
            raise InputError(f"`eot` needs samples >= 1 and 0 <= p, flip <= 1, got samples={config.samples}, "
                             f"p={config.p}, flip={config.flip}.")
        self.config = config
        self.generator = torch.Generator().manual_seed(config.seed)

    def _u(self, lo: float, hi: float) -> float:
        return lo + (hi - lo) * float(torch.rand((), generator=self.generator))

    def transform(self, x: torch.Tensor) -> torch.Tensor:
        """One random draw: alignment jitter (always, when configured), then resize, blur, colour and JPEG, each
        with probability ``p``, then the mirror with probability ``flip``."""
        c = self.config
        if c.shift or c.scale or c.rotation_deg:
            s, r = c.shift or 0.0, c.rotation_deg or 0.0
            x = jitter_alignment(x, (self._u(-s, s), self._u(-s, s)), self._u(*(c.scale or (1.0, 1.0))),
                                 self._u(-r, r))
        if c.resize_scale and self._u(0, 1) < c.p:
            x = random_resize(x, self._u(*c.resize_scale))
        if c.blur_sigma and self._u(0, 1) < c.p:
            x = gaussian_blur(x, self._u(*c.blur_sigma))
        if c.colour and self._u(0, 1) < c.p:
            x = kornia.enhance.adjust_brightness(x, self._u(-c.colour, c.colour))
            x = kornia.enhance.adjust_contrast(x, self._u(1 - c.colour, 1 + c.colour))
            x = kornia.enhance.adjust_saturation(x, self._u(1 - 2 * c.colour, 1 + 2 * c.colour))
        if c.jpeg_quality and self._u(0, 1) < c.p:
            x = diff_jpeg(x, round(self._u(*c.jpeg_quality)))
        if c.flip and self._u(0, 1) < c.flip:
            x = x.flip(-1)
        return x

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) -> (samples * B, 3, H, W), sample-major."""
        return torch.cat([self.transform(x) for _ in range(self.config.samples)], dim=0)
