"""Local blend fused with the face-region mask (P2P LocalBlend + MASQUE's mask fusion).

The latent blend mask M decides where the target branch may differ from the source branch:

    z_tgt <- z_src + M * (z_tgt - z_src)

Where M == 0 the assignment gives z_src exactly (floating point: z_src + 0 * d == z_src), which is the locality
invariant tested in `tests/engines/diffusion/test_locality.py`.
"""

from __future__ import annotations

import warnings

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


# Below this fraction of the region's area covered by the thresholded attention map, `mask_fusion="both"` leaves the
# edit and the guidance (both gated by the fused mask) close to no-ops.
MIN_OVERLAP = 0.05


def warn_if_attention_misses(region: torch.Tensor, attn_maps: torch.Tensor | None, latent_side: int,
                             cfg: EditConfig, words: tuple[str, ...]) -> float | None:
    """With ``mask_fusion="both"``, warn when the words' attention map covers < `MIN_OVERLAP` of the region (the
    product mask is then (almost) empty, silently); returns the covered fraction (None when not applicable)."""
    if cfg.mask_fusion != "both" or attn_maps is None:
        return None
    area = float(region.sum())
    covered = float((region * attention_mask(attn_maps, latent_side, cfg)).sum()) / max(area, 1e-12)
    if covered < MIN_OVERLAP:
        warnings.warn(f"mask_fusion='both': the cross-attention of {list(words)} covers {covered:.1%} of the region "
                      f"mask (< {MIN_OVERLAP:.0%}), so the makeup edit and the adversarial guidance barely act; use "
                      "mask_fusion='mask' (--mask-fusion mask) or other --target-word words.", RuntimeWarning,
                      stacklevel=3)
    return covered
