"""Experiment, not shipped: the frontier with a *fixed-texture* finish instead of the free per-pixel field (issue 19).

    python benchmarks/texture_finish.py --strengths max --only alex2.jpg kit1.jpg kit2.jpg obama2.jpg rose1.jpg \
        --keep /tmp/tex --set finish_lr=0.1          # any `protection_table.py` arguments

At `bold` and `max` the free finish forms wavy light/dark bands across cheeks and forehead on full-resolution photos.
This asks whether a finish whose *structure* is fixed skin texture can protect. The texture is a band-passed noise
(σ `fine` … 3 `fine`, one seed), squashed to ±1; the optimiser only sets its local sign and strength on a coarse grid
(`GRID` crop px a cell, bicubic in between). Everything else is `Finish`: the fade, the final blur, the bound ε.
The README's "not shipped" table has the result: the look improves (a mottled skin texture, no bands), and the
protection collapses (white-box 0 of 5 at max).
"""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

import masque.engines.parametric.carriers as carriers
from masque.engines.parametric.finish import Finish, FinishConfig, _blur, band_pass

GRID = 8  # crop px (at 256²) per cell of the amplitude field


class TextureFinish(Finish):
    """Δ = ε · fade · G ∗ [tanh(θ↑) · T]: a fixed texture T, its sign and strength θ on a coarse grid."""

    def __init__(self, side: int, amplitude: float, config: FinishConfig = FinishConfig()):
        super().__init__(side, amplitude, config)
        noise = torch.randn(1, 1, side, side, generator=torch.Generator().manual_seed(1))
        texture = band_pass(noise, self.fine, 3 * self.fine)
        self.register_buffer("texture", torch.tanh(2 * texture / texture.std()))
        cells = max(2, side // GRID)
        self.theta = nn.Parameter(torch.zeros(1, 1, cells, cells))

    def forward(self, fade: torch.Tensor) -> torch.Tensor:
        field = F.interpolate(self.theta, size=self.texture.shape[-2:], mode="bicubic", align_corners=False)
        return self.amplitude * fade * _blur(torch.tanh(field) * self.texture, self.fine).expand(1, 3, -1, -1)


if __name__ == "__main__":
    carriers.Finish = TextureFinish  # the carriers build their finish through this name
    table = Path(__file__).with_name("protection_table.py")
    sys.argv = [str(table), *sys.argv[1:]]
    runpy.run_path(str(table), run_name="__main__")
