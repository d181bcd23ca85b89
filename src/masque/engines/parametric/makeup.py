"""A differentiable makeup layer confined to a region mask.

Real makeup is a translucent pigment laid on skin: it changes colour but the skin's shading and texture (lip lines,
highlights) still show through. The layer models that in linear RGB:

    S(x)      = lum(crop(x)) / mean_M lum(crop)                      relative shading of the bare skin
    P(x)      = c ⊙ exp(r_c · tanh(U(G_c))(x)) · S(x)                 pigment: base colour c, smooth colour field
    made_lin  = lerp(crop_lin, P(x) · exp(r_s · tanh(U(G_s))(x)), α · k(x))   opacity α, region coverage k, shading
    made      = clip(sRGB(made_lin) + ε · tanh(T), 0, 1)                 fine texture under an L∞ budget ε
    out       = crop + M ⊙ (made − crop)                                 untouched wherever M = 0

G_c (3×g×g) and G_s (1×g×g) are coarse grids over the mask's bounding box, upsampled bicubically (U): low-frequency,
makeup-like variation. The *reference* makeup (what a non-adversarial tutorial would give) is the same layer with
G = 0, T = 0 and the configured opacity; the engine's perceptual budget is measured against it.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

# sRGB (D65) -> CIE XYZ, and the D65 white point: the standard IEC 61966-2-1 / CIE constants.
_RGB_TO_XYZ = ((0.4124564, 0.3575761, 0.1804375), (0.2126729, 0.7151522, 0.0721750), (0.0193339, 0.1191920, 0.9503041))
_WHITE_D65 = (0.95047, 1.0, 1.08883)
_LAB_DELTA = 6.0 / 29.0


@dataclass(frozen=True)
class MakeupBounds:
    """How far the optimiser may move the makeup away from the reference shade (all bounds hold by construction)."""

    opacity: float = 0.7  # α of the reference makeup (pigment coverage)
    opacity_range: float = 0.2  # learned α stays within opacity ± opacity_range (clipped to [0, 1])
    grid: int = 8  # side of the coarse colour/shading grids, laid over the mask's bounding box
    color_range: float = 1.0  # |log| bound of the per-channel colour field (linear RGB factor in [e^-r, e^r])
    shade_range: float = 0.6  # |log| bound of the shading field
    texture_eps: float = 12.0 / 255.0  # L∞ bound of the fine texture in sRGB (shimmer); 0 disables it


def srgb_to_linear(x: torch.Tensor) -> torch.Tensor:
    return torch.where(x <= 0.04045, x / 12.92, ((x.clamp_min(0.04045) + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(x: torch.Tensor) -> torch.Tensor:
    # clamp inside the power branch so its gradient stays finite where the linear branch is used
    return torch.where(x <= 0.0031308, 12.92 * x, 1.055 * x.clamp_min(0.0031308) ** (1 / 2.4) - 0.055)


def luminance(lin: torch.Tensor) -> torch.Tensor:
    w = torch.tensor(_RGB_TO_XYZ[1], dtype=lin.dtype, device=lin.device).view(1, 3, 1, 1)
    return (lin * w).sum(1, keepdim=True)


def rgb_to_lab(x: torch.Tensor) -> torch.Tensor:
    """sRGB (B, 3, H, W) in [0, 1] -> CIE L*a*b* (D65), differentiable."""
    m = torch.tensor(_RGB_TO_XYZ, dtype=x.dtype, device=x.device)
    white = torch.tensor(_WHITE_D65, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    xyz = torch.einsum("ij,bjhw->bihw", m, srgb_to_linear(x)) / white
    d3 = _LAB_DELTA**3
    f = torch.where(xyz > d3, xyz.clamp_min(d3) ** (1 / 3), xyz / (3 * _LAB_DELTA**2) + 4 / 29)
    fx, fy, fz = f[:, 0:1], f[:, 1:2], f[:, 2:3]
    return torch.cat([116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz)], dim=1)


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mask-weighted mean over pixels: (B, C, H, W), (B, 1, H, W) -> (B, C)."""
    return (x * mask).sum((2, 3)) / mask.sum((2, 3)).clamp_min(1e-8)


def delta_e(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """CIE76 colour difference per pixel between two sRGB images: (B, 1, H, W)."""
    return (rgb_to_lab(a) - rgb_to_lab(b)).pow(2).sum(1, keepdim=True).add(1e-12).sqrt()


class MakeupLayer(nn.Module):
    """Learnable makeup parameters θ = (α logit, G_c, G_s, T) for one crop size; `forward` renders the makeup."""

    def __init__(self, size: tuple[int, int], bounds: MakeupBounds = MakeupBounds(),
                 generator: torch.Generator | None = None):
        super().__init__()
        self.bounds = bounds
        g = bounds.grid
        self.opacity_logit = nn.Parameter(torch.zeros(()))
        self.color_grid = nn.Parameter(torch.zeros(1, 3, g, g))
        self.shade_grid = nn.Parameter(torch.zeros(1, 1, g, g))
        # The texture starts as small seeded noise so `seed` selects among equally good solutions.
        noise = torch.randn(1, 3, *size, generator=generator) * 1e-2
        self.texture = nn.Parameter(noise) if bounds.texture_eps > 0 else None

    def opacity(self) -> torch.Tensor:
        b = self.bounds
        lo, hi = max(0.0, b.opacity - b.opacity_range), min(1.0, b.opacity + b.opacity_range)
        return lo + (hi - lo) * torch.sigmoid(self.opacity_logit + _logit((b.opacity - lo) / max(hi - lo, 1e-8)))

    def _field(self, grid: torch.Tensor, bound: float, mask: torch.Tensor) -> torch.Tensor:
        """exp(r · tanh(U(G))): the grid spans the mask's bounding box, so its resolution follows the region (a
        lips grid is as fine relative to the lips as a skin grid is to the face); 1 (no change) outside the box."""
        y0, y1, x0, x1 = mask_box(mask)
        up = F.interpolate(grid, size=(y1 - y0, x1 - x0), mode="bicubic", align_corners=False)
        up = F.pad(up, (x0, mask.shape[-1] - x1, y0, mask.shape[-2] - y1))
        return torch.exp(bound * torch.tanh(up))

    def forward(self, crop: torch.Tensor, mask: torch.Tensor, base: torch.Tensor, *, reference: bool = False,
                coverage: torch.Tensor | float = 1.0) -> torch.Tensor:
        """Made-up crop. ``base``: pigment colour in sRGB, (3,) or a per-pixel map (1, 3, H, W) (per-region shades);
        ``coverage`` scales α per pixel (blush is sheerer than lipstick). ``reference=True`` renders the
        non-adversarial makeup (G = 0, T = 0, configured opacity)."""
        crop_lin = srgb_to_linear(crop)
        lum = luminance(crop_lin)
        shading = lum / masked_mean(lum, mask).clamp_min(1e-4).view(-1, 1, 1, 1)  # S(x); constant of θ
        base_lin = srgb_to_linear(base.to(crop).reshape(1, 3, *([1, 1] if base.ndim == 1 else base.shape[-2:])))
        pigment = base_lin * shading
        if reference:
            alpha = torch.as_tensor(self.bounds.opacity, dtype=crop.dtype, device=crop.device)
            made_lin = torch.lerp(crop_lin, pigment, alpha * coverage)
        else:
            color = self._field(self.color_grid, self.bounds.color_range, mask)
            shade = self._field(self.shade_grid, self.bounds.shade_range, mask)
            made_lin = torch.lerp(crop_lin, pigment * color * shade, self.opacity() * coverage)
        made = linear_to_srgb(made_lin.clamp(0.0, 1.0))
        if self.texture is not None and not reference:
            made = made + self.bounds.texture_eps * torch.tanh(self.texture)
        made = made.clamp(0.0, 1.0)
        return crop + mask * (made - crop)  # exactly `crop` where mask == 0


def mask_box(mask: torch.Tensor) -> tuple[int, int, int, int]:
    """Bounding box (y0, y1, x0, x1), end-exclusive, of the non-zero pixels of a (1, 1, H, W) mask (whole image if
    the mask is empty)."""
    ys = torch.nonzero(mask.detach().amax(dim=(0, 1, 3)) > 0).flatten()
    xs = torch.nonzero(mask.detach().amax(dim=(0, 1, 2)) > 0).flatten()
    if ys.numel() == 0:
        return 0, mask.shape[-2], 0, mask.shape[-1]
    return int(ys[0]), int(ys[-1]) + 1, int(xs[0]), int(xs[-1]) + 1


def _logit(p: float) -> float:
    p = min(max(p, 1e-6), 1 - 1e-6)
    return float(torch.logit(torch.tensor(p)))
