"""The protective finish: a bounded, skin-textured per-pixel layer under the makeup (issue 19).

Cosmetics that stay true to themselves carry too little fine structure to move a recogniser the makeup was not
optimised against (`docs/protocol.md`, "What moves an unseen recogniser"); a per-pixel layer does, and the makeup is
what lets it read as a foundation's finish. So the finish is shaped to look like skin, not noise:

    Δ(x) = ε · fade(x) · G ∗ [ (1 − k) · tanh(B θ_L) · (1, 1, 1)  +  k · M · tanh(B θ_C) ] (x)

- θ (1, 3, S, S), optimised jointly with the cosmetic settings: one luma plane θ_L and two opponent-chroma planes θ_C
  (k = `FinishConfig.chroma`, small: luminance-led, no colour speckle; M maps red-green and yellow-blue to RGB with
  every row's absolute sum 1);
- B: a fixed difference-of-Gaussians band-pass (σ `fine` … `coarse` crop px), normalised so white noise keeps unit
  variance. The low edge removes single-pixel speckle, which the FR models (reading the face at 112-160 px, ~2 crop px
  a pixel) barely see anyway and which paste-back upscaling (2-4x into a full-resolution photo) turned into
  wrinkle-like ridges in the earlier study; the high edge removes slow tone shifts (blotches), which are the
  cosmetics' job;
- G: the same σ `fine` Gaussian again *after* the bound: tanh saturates into a ±1 pattern with hard edges, which an
  upscale would turn into ridges; a positive kernel summing to 1 smooths them and keeps the bound;
- fade: 0 outside the support (made-up skin, lids, lips: the engine's paintable area minus the brows' hair) and
  rising smoothly to 1 about 2 `edge` crop px inside it, so no mask outline shows;
- bounded by construction: |Δ| ≤ ε in every channel and pixel (tanh, |row sums| ≤ 1, fade ≤ 1); exactly 0 at ε = 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import kornia
import torch
from torch import nn

from ...errors import InputError

# opponent chroma -> RGB: red-green (R up, G down) and yellow-blue (R, G up, B down); each row's |sum| is 1
_OPPONENT = torch.tensor([[0.5, 0.5], [-0.5, 0.5], [0.0, -1.0]])


@dataclass(frozen=True)
class FinishConfig:
    """Shape of the finish (its amplitude is the strength dial's, `ParametricConfig.finish`)."""

    chroma: float = 0.15  # share of the bound that may be colour (the rest is luminance)
    fine: float = 1.0  # band-pass low edge: Gaussian σ in crop px at 256² (scaled with the crop side)
    coarse: float = 6.0  # band-pass high edge: slower structure is removed (σ in crop px at 256²)
    edge: float = 4.0  # fade-in width at the support's edge (crop px at 256²)

    def __post_init__(self):
        if not 0.0 <= self.chroma <= 0.5:
            raise InputError(f"`finish chroma` must lie in [0, 0.5] (luminance-led), got {self.chroma}.")
        if not 0.0 < self.fine < self.coarse:
            raise InputError(f"`finish fine`/`coarse` must satisfy 0 < fine < coarse, got {self.fine}/{self.coarse}.")
        if self.edge <= 0:
            raise InputError(f"`finish edge` must be > 0 crop px, got {self.edge}.")


def _blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    radius = max(1, math.ceil(3 * sigma))
    return kornia.filters.gaussian_blur2d(x, (2 * radius + 1,) * 2, (sigma, sigma), border_type="reflect")


def band_pass(x: torch.Tensor, fine: float, coarse: float) -> torch.Tensor:
    """Difference of Gaussians: structure between σ ``fine`` and ``coarse`` px."""
    return _blur(x, fine) - _blur(x, coarse)


def edge_fade(support: torch.Tensor, width: float) -> torch.Tensor:
    """0 outside ``support`` (1, 1, S, S), about 0.1 on its edge, rising smoothly to 1 about 2 ``width`` px inside
    (2Φ(d / width) − 1 at distance d from a straight edge)."""
    blurred = _blur((support > 0).float(), width)
    return ((blurred - 0.5) * 2.0).clamp(0.0, 1.0) * (support > 0).float()


class Finish(nn.Module):
    """The finish field θ of an S² generation crop, with its amplitude and shape: ``forward(fade)`` is Δ (1, 3, S, S)
    for one face (`fade_of` its support), added to the made-up crop in sRGB.

    θ holds nothing of any one face: it lives in the aligned crop's frame, where alignment has put every face's
    landmarks on one template, so a field fitted on some faces can be laid on another's crop of the same side."""

    def __init__(self, side: int, amplitude: float, config: FinishConfig = FinishConfig()):
        super().__init__()
        if amplitude < 0:
            raise InputError(f"`finish` amplitude must be >= 0, got {amplitude}.")
        k = side / 256.0
        self.side, self.amplitude, self.config = side, float(amplitude), config
        self.fine, self.coarse, self.edge = config.fine * k, config.coarse * k, config.edge * k
        self.theta = nn.Parameter(torch.zeros(1, 3, side, side))
        # unit-variance normalisation of the band-pass (a fixed constant: white noise through B has std 1/norm)
        noise = torch.randn(1, 1, side, side, generator=torch.Generator().manual_seed(0))
        self.norm = float(band_pass(noise, self.fine, self.coarse).std())

    def fade_of(self, support: torch.Tensor) -> torch.Tensor:
        """One face's fade (`edge_fade` of its support (1, 1, S, S) at this crop side's edge width)."""
        if support.shape[-1] != self.side:
            raise InputError(f"`support` must be {self.side}² like the finish field, got {tuple(support.shape)}.")
        return edge_fade(support, self.edge)

    def field(self) -> torch.Tensor:
        """The bounded luma (1, 1, S, S) and chroma (1, 2, S, S) planes, in [-1, 1]."""
        f = torch.tanh(band_pass(self.theta, self.fine, self.coarse) / self.norm)
        return f[:, :1], f[:, 1:]

    def forward(self, fade: torch.Tensor) -> torch.Tensor:
        luma, chroma = self.field()
        k = self.config.chroma
        colour = torch.einsum("cj,bjhw->bchw", _OPPONENT, chroma)
        return self.amplitude * fade * _blur((1 - k) * luma + k * colour, self.fine)

    @torch.no_grad()
    def usage(self, fade: torch.Tensor) -> dict[str, float]:
        """How much of its bound the finish uses on one face (for the sidecar): ε, and the mean and largest |Δ|
        over its support in 8-bit units."""
        delta = self(fade).abs().amax(dim=1)
        inside = fade[:, 0] > 0
        mean = float(delta[inside].mean()) if bool(inside.any()) else 0.0
        return {"amplitude": self.amplitude * 255.0, "mean_abs": mean * 255.0, "max_abs": float(delta.max()) * 255.0}
