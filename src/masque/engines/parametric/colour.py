"""Colour helpers of the cosmetic model: sRGB / Lab / linear RGB, and how a shade may move within its family."""

from __future__ import annotations

import kornia
import numpy as np
import torch

# How far the optimiser may move a shade within its family, in LCh (not a Lab ball, which let it lower b* and turn
# rose blush and lipstick mauve): lightness up to the product's `shade_lightness` lighter and half that darker;
# chroma up to CHROMA_RANGE richer and half that duller; hue angle up to HUE_TOLERANCE degrees warmer (towards the
# skin's hues, ~60°) and half that cooler (towards blue/mauve). So the hue stays the prompt's for any parameter values.
CHROMA_RANGE = 0.12
HUE_TOLERANCE = 6.0  # degrees


def lab_of(rgb) -> torch.Tensor:
    """sRGB triple in [0, 1] -> Lab (3,)."""
    return kornia.color.rgb_to_lab(torch.tensor(rgb, dtype=torch.float32).view(1, 3, 1, 1)).view(3)


def lin_of_lab(lab: torch.Tensor) -> torch.Tensor:
    """Lab (3,) -> linear RGB (1, 3, 1, 1), clipped to the gamut."""
    rgb = kornia.color.lab_to_rgb(lab.view(1, 3, 1, 1), clip=True)
    return kornia.color.rgb_to_linear_rgb(rgb)


def shade_in_family(base: torch.Tensor, raw: torch.Tensor, lightness: float) -> torch.Tensor:
    """Lab ``base`` moved by the unconstrained ``raw`` (3,) within its colour family: bounded separately in
    lightness (up to ``lightness`` lighter, half that darker), chroma (up to CHROMA_RANGE richer, half that duller)
    and hue angle (HUE_TOLERANCE degrees warmer, half that cooler): darker, duller and cooler is the way to mauve."""
    r = torch.tanh(raw)
    chroma = torch.hypot(base[1], base[2]) * (1 + CHROMA_RANGE * torch.where(r[1] > 0, r[1], 0.5 * r[1]))
    h0 = torch.atan2(base[2], base[1])
    warm = 1.0 if float(torch.sin(float(np.radians(60.0)) - h0)) >= 0 else -1.0  # which way is towards ~60°
    turn = warm * r[2]
    hue = h0 + float(np.radians(HUE_TOLERANCE)) * torch.where(turn > 0, turn, 0.5 * turn) * warm
    light = base[0] + lightness * torch.where(r[0] > 0, r[0], 0.5 * r[0])
    return torch.stack([light, chroma * torch.cos(hue), chroma * torch.sin(hue)])


def deep_shade(lab: torch.Tensor) -> torch.Tensor:
    """The darker shade of the same family an artist presses into the outer corner and lash line: lighter shades
    lose more lightness; yellowish browns turn a little redder (a dark yellow reads olive, a dark brown does not)."""
    hue = torch.atan2(lab[2], lab[1])
    lo, hi = float(np.radians(40.0)), float(np.radians(100.0))
    hue = torch.where((hue > lo) & (hue < hi), torch.clamp(hue - float(np.radians(12.0)), min=lo), hue)
    chroma = 0.9 * torch.hypot(lab[1], lab[2])
    light = lab[0] - (8.0 + 0.25 * lab[0])
    return torch.stack([light.clamp_min(8.0), chroma * torch.cos(hue), chroma * torch.sin(hue)])


def luminance(lin: torch.Tensor) -> torch.Tensor:
    w = torch.tensor((0.2126729, 0.7151522, 0.0721750), dtype=lin.dtype).view(1, 3, 1, 1)
    return (lin * w).sum(1, keepdim=True)
