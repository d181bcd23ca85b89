"""Measured look of a makeup result (not guessed): face-box SSIM/PSNR, shade fidelity, smoothness of the layer.

- ``ssim`` / ``psnr``: result vs original on the landmarks' bounding box (the face, not the background that never
  changes and would inflate both).
- ``shade_delta_e``: per product, CIEDE2000 between the mean colour of the product's pigment as rendered (the
  result's mean Lab where the product is strongest) and the shade the plan asked for. For sheer products this is the
  pigment's own Lab mean vs the requested Lab (what a swatch would show).
- ``hf_energy``: RMS (8-bit units) of the makeup layer (result - original) minus its Gaussian blur (sigma 2 px)
  inside the painted area: ~0 for a smooth layer, large for mottling or texture.
"""

from __future__ import annotations

import numpy as np
import torch
from skimage.color import deltaE_ciede2000
from skimage.metrics import structural_similarity  # its PSNR module imports scipy.stats (0.35 s): kornia's instead


def face_box(landmarks: np.ndarray, size: int, pad: float = 0.05) -> tuple[int, int, int, int]:
    lo, hi = landmarks.min(0), landmarks.max(0)
    p = pad * (hi - lo)
    x0, y0 = np.clip(np.floor(lo - p), 0, size).astype(int)
    x1, y1 = np.clip(np.ceil(hi + p), 0, size).astype(int)
    return int(y0), int(y1), int(x0), int(x1)


def face_psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR (dB) of two [0, 1] images; inf when identical."""
    import kornia

    return float(kornia.metrics.psnr(torch.from_numpy(b), torch.from_numpy(a), max_val=1.0))


def hf_energy(before: torch.Tensor, after: torch.Tensor, area: torch.Tensor, sigma: float = 2.0) -> float:
    import kornia

    layer = (after - before).float() * 255.0
    k = 2 * round(3 * sigma) + 1
    hf = layer - kornia.filters.gaussian_blur2d(layer, (k, k), (sigma, sigma), border_type="replicate")
    w = (area > 0.05).float()
    return float(torch.sqrt((hf.pow(2) * w).sum() / (3 * w.sum()).clamp_min(1.0)))


def quality_report(before: torch.Tensor, after: torch.Tensor, landmarks: np.ndarray, area: torch.Tensor,
                   shades: dict[str, tuple[np.ndarray, np.ndarray]], registered: torch.Tensor | None = None) -> dict:
    """``before``/``after`` (1, 3, S, S) in [0, 1]; ``area`` (1, 1, S, S) painted area; ``shades`` {product:
    (requested Lab (3,), rendered Lab (3,))}; ``registered``: for a result that moves pixels, the output moved back
    by its known motion (`reshape.registered`): SSIM punishes any shift, so ``texture_ssim`` on it is the look of the
    texture alone."""
    box = face_box(landmarks, before.shape[-1])
    out = {
        "face_ssim": _box_ssim(before, after, box),
        "face_psnr": face_psnr(*(_box(t, box) for t in (before, after))),
        "shade_delta_e2000": {p: float(deltaE_ciede2000(req[None], got[None])[0]) for p, (req, got) in shades.items()},
        "hf_energy": hf_energy(before, after.detach(), area),
    }
    if registered is not None:
        out["texture_ssim"] = _box_ssim(before, registered, box)
    return out


def _box(t: torch.Tensor, box: tuple[int, int, int, int]) -> np.ndarray:
    y0, y1, x0, x1 = box
    return t[0, :, y0:y1, x0:x1].detach().permute(1, 2, 0).double().numpy()


def _box_ssim(a: torch.Tensor, b: torch.Tensor, box: tuple[int, int, int, int]) -> float:
    return float(structural_similarity(_box(a, box), _box(b, box), channel_axis=2, data_range=1.0))


MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)  # Wang, Simoncelli & Bovik 2003


def ms_ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Multi-scale SSIM (Wang et al. 2003: 11-px Gaussian window σ 1.5, contrast-structure at the four finer scales,
    full SSIM at the coarsest, 2x average-pool between) of two uint8 or [0, 1] RGB images (H, W, 3), on luminance
    and colour channels alike (mean over channels). Images smaller than 11·2⁴ px a side use fewer scales."""
    import kornia

    def tensor(x: np.ndarray) -> torch.Tensor:
        t = torch.from_numpy(np.asarray(x, np.float64)).permute(2, 0, 1)[None]
        return t / 255.0 if np.asarray(x).dtype == np.uint8 else t

    x, y = tensor(a), tensor(b)
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    scales = max(1, min(len(MS_SSIM_WEIGHTS), int(np.log2(min(x.shape[-2:]) / 11)) + 1))
    weights = torch.tensor(MS_SSIM_WEIGHTS[:scales], dtype=torch.float64)
    weights = weights / weights.sum()
    out = 1.0
    for i in range(scales):
        blur = lambda t: kornia.filters.gaussian_blur2d(t, (11, 11), (1.5, 1.5), border_type="reflect")  # noqa: E731
        mx, my = blur(x), blur(y)
        vx, vy, cov = blur(x * x) - mx ** 2, blur(y * y) - my ** 2, blur(x * y) - mx * my
        cs = ((2 * cov + c2) / (vx + vy + c2)).mean().clamp_min(1e-6)
        if i == scales - 1:
            lum = ((2 * mx * my + c1) / (mx ** 2 + my ** 2 + c1)).mean()
            out = out * (lum * cs).clamp_min(1e-6) ** weights[i]
        else:
            out = out * cs ** weights[i]
            x, y = torch.nn.functional.avg_pool2d(x, 2), torch.nn.functional.avg_pool2d(y, 2)
    return float(out)
