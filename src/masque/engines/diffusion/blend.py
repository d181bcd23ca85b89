"""Local blend fused with the face-region mask (P2P LocalBlend + MASQUE's mask fusion).

The latent blend mask M decides where the target branch may differ from the source branch:

    z_tgt <- z_src + M * (z_tgt - z_src)

Where M == 0 the assignment gives z_src exactly (floating point: z_src + 0 * d == z_src), which is the locality
invariant tested in `tests/engines/diffusion/test_locality.py`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .config import EditConfig


def region_to_latent(mask: torch.Tensor, latent_side: int) -> torch.Tensor:
    """Pixel mask (1, 1, H, W) in [0, 1] -> latent mask by area averaging; soft, and 0 only where the patch is 0."""
    return F.adaptive_avg_pool2d(mask.float(), (latent_side, latent_side))


def attention_mask(maps: torch.Tensor, latent_side: int, cfg: EditConfig) -> torch.Tensor:
    """P2P LocalBlend: max-pool the accumulated word maps, resize to the latent, normalise by the max, threshold."""
    pad = cfg.blend_pool // 2
    m = F.max_pool2d(maps, cfg.blend_pool, stride=1, padding=pad)
    m = F.interpolate(m, size=(latent_side, latent_side), mode="nearest")
    m = m / m.amax().clamp_min(torch.finfo(m.dtype).tiny)
    return (m > cfg.blend_threshold).float()


def fuse(region: torch.Tensor, attn_maps: torch.Tensor | None, latent_side: int, cfg: EditConfig) -> torch.Tensor:
    """The blend mask for ``cfg.mask_fusion``; without stored maps (no target word) the region mask alone is used."""
    if cfg.mask_fusion == "mask" or attn_maps is None:
        return region
    attn = attention_mask(attn_maps, latent_side, cfg)
    return attn if cfg.mask_fusion == "attention" else region * attn


def blend(z_src: torch.Tensor, z_tgt: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    """``z_src + M * (z_tgt - z_src)`` (P2P LocalBlend update)."""
    return z_src + m.to(z_tgt) * (z_tgt - z_src)
