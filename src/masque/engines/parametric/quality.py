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
                   shades: dict[str, tuple[np.ndarray, np.ndarray]]) -> dict:
    """``before``/``after`` (1, 3, S, S) in [0, 1]; ``area`` (1, 1, S, S) painted area; ``shades`` {product:
    (requested Lab (3,), rendered Lab (3,))}."""
    y0, y1, x0, x1 = face_box(landmarks, before.shape[-1])
    a = before[0, :, y0:y1, x0:x1].permute(1, 2, 0).double().numpy()
    b = after[0, :, y0:y1, x0:x1].detach().permute(1, 2, 0).double().numpy()
    return {
        "face_ssim": float(structural_similarity(a, b, channel_axis=2, data_range=1.0)),
        "face_psnr": face_psnr(a, b),
        "shade_delta_e2000": {p: float(deltaE_ciede2000(req[None], got[None])[0]) for p, (req, got) in shades.items()},
        "hf_energy": hf_energy(before, after.detach(), area),
    }
