"""Paste a protected crop back into the full-resolution photo.

The crop-space mask and the edit are inverse-warped (through ``aligned.matrix``) into the photo, over the crop's
footprint only. Pixels where the warped mask is exactly 0 are copied from the original untouched, so everything
outside the (feathered) region is bit-identical to the input array.

What is pasted is the *change* ``protected - aligned.crop``, added to the original with the feathered mask's weight,
``out = original + M * warp(protected - crop)`` (residual paste-back). The photo keeps its own full-resolution detail
(a crop -> photo round trip would otherwise blur a face larger than the crop and add resampling error), and an
unchanged crop reproduces the photo exactly.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter

from ..errors import InputError
from .align import GAUSS_TRUNCATE, AlignedFace, antialias_sigma, footprint
from .detect import check_rgb


def _to_photo(a: np.ndarray, matrix: np.ndarray, box: tuple[int, int, int, int], order: int) -> np.ndarray:
    """Resample crop-space ``a`` onto the photo rectangle ``box`` (x0, y0, x1, y1); zero outside the crop."""
    from skimage.transform import AffineTransform, warp

    x0, y0, x1, y1 = box
    sigma = antialias_sigma(1.0 / float(np.sqrt(abs(np.linalg.det(matrix[:2, :2])))))  # crop -> photo shrink
    if sigma > 0:
        spatial = (sigma, sigma) + (0,) * (a.ndim - 2)
        a = gaussian_filter(a, spatial, truncate=GAUSS_TRUNCATE, mode="constant")
    shift = np.array([[1.0, 0, x0], [0, 1.0, y0], [0, 0, 1.0]])  # photo-box coords -> photo coords
    inverse = AffineTransform(matrix=matrix @ shift)  # photo-box pixel -> crop pixel
    return warp(
        a, inverse, output_shape=(y1 - y0, x1 - x0), order=order, mode="constant", cval=0.0, preserve_range=True
    )


def paste_back(
    original: np.ndarray,
    aligned: AlignedFace,
    protected_crop: np.ndarray,
    mask: np.ndarray,
    motion: np.ndarray | None = None,
    region: np.ndarray | None = None,
) -> np.ndarray:
    """uint8 (H, W, 3) photo with the protected crop pasted inside the mask; bit-identical where its warp is 0.

    ``motion`` (2, S, S), crop px, and ``region`` (S, S): a result that also moves pixels (`warp_photo`); then
    ``protected_crop`` is its texture before the move."""
    # 1. check inputs
    original = check_rgb(original, "original")
    s = aligned.crop.shape[:2]
    if not (
        isinstance(protected_crop, np.ndarray)
        and protected_crop.dtype == np.uint8
        and protected_crop.shape == aligned.crop.shape
    ):
        got = (
            f"{protected_crop.dtype} {protected_crop.shape}"
            if isinstance(protected_crop, np.ndarray)
            else type(protected_crop).__name__
        )
        raise InputError(
            f"`protected_crop` must be uint8 of shape {aligned.crop.shape} (see tensor_to_crop); got {got}."
        )
    mask = np.asarray(mask, dtype=np.float64)
    if mask.shape != s or not np.isfinite(mask).all() or mask.min() < 0 or mask.max() > 1:
        raise InputError(f"`mask` must be a float array of shape {s} with values in [0, 1]; got shape {mask.shape}.")

    # 2. warp mask and edit into the crop's footprint in the photo (bilinear mask: exact zeros stay zero)
    box = footprint(aligned.matrix, s, original.shape[:2], margin=2)  # the crop square's outline in the photo
    m = np.clip(_to_photo(mask, aligned.matrix, box, order=1), 0.0, 1.0)
    edit = protected_crop.astype(np.float64) - aligned.crop.astype(np.float64)
    w = _to_photo(edit, aligned.matrix, box, order=3)

    # 3. blend only where the mask is non-zero; every other pixel is copied unchanged
    x0, y0, x1, y1 = box
    out = original.copy()
    view = out[y0:y1, x0:x1]
    inside = m > 0
    base = view[inside].astype(np.float64)
    mi = m[inside][:, None]
    blended = base + mi * w[inside]  # the mask's soft edge weighs the edit
    view[inside] = np.clip(np.rint(blended), 0, 255).astype(np.uint8)
    return out if motion is None else warp_photo(out, aligned, motion, region, box)


def warp_photo(photo: np.ndarray, aligned: AlignedFace, motion: np.ndarray, region: np.ndarray | None,
               box: tuple[int, int, int, int] | None = None) -> np.ndarray:
    """Move the photo's own pixels by a crop-space ``motion`` (2, S, S; where each crop pixel's content goes, in crop
    px), at the photo's full resolution: out(p) = photo(p − A⁻¹ m(M p)) with M = ``aligned.matrix`` (A its linear
    part), cubic-spline sampled (sharper than bilinear at sub-pixel shifts). Only pixels whose crop position lies in
    ``region`` (S, S; where the motion may be non-zero, bilinear) change; every other pixel is copied unchanged."""
    from scipy.ndimage import map_coordinates

    s = aligned.crop.shape[:2]
    motion = np.asarray(motion, np.float64)
    if motion.shape != (2, *s) or not np.isfinite(motion).all():
        raise InputError(f"`motion` must be a finite float array of shape (2, {s[0]}, {s[1]}); got {motion.shape}.")
    region = (np.abs(motion).sum(0) > 0).astype(np.float64) if region is None else np.asarray(region, np.float64)
    x0, y0, x1, y1 = box or footprint(aligned.matrix, s, photo.shape[:2], margin=2)
    ys, xs = np.mgrid[y0:y1, x0:x1].astype(np.float64)
    m = aligned.matrix
    cx, cy = m[0, 0] * xs + m[0, 1] * ys + m[0, 2], m[1, 0] * xs + m[1, 1] * ys + m[1, 2]  # crop coordinates
    inside = map_coordinates(region, [cy, cx], order=1, mode="constant", cval=0.0) > 0
    if not inside.any():
        return photo
    mx, my = (map_coordinates(c, [cy[inside], cx[inside]], order=1, mode="constant", cval=0.0) for c in motion)
    inv = np.linalg.inv(m[:2, :2])  # crop px -> photo px
    px, py = xs[inside] - (inv[0, 0] * mx + inv[0, 1] * my), ys[inside] - (inv[1, 0] * mx + inv[1, 1] * my)
    pad = int(np.ceil(max(np.abs(xs[inside] - px).max(), np.abs(ys[inside] - py).max()))) + 4
    h, w = photo.shape[:2]
    sy0, sy1, sx0, sx1 = max(y0 - pad, 0), min(y1 + pad, h), max(x0 - pad, 0), min(x1 + pad, w)
    source = photo[sy0:sy1, sx0:sx1].astype(np.float64)  # spline prefiltering on the face's neighbourhood only
    moved = np.stack([map_coordinates(source[..., c], [py - sy0, px - sx0], order=3, mode="nearest")
                      for c in range(photo.shape[2])], -1)
    out = photo.copy()
    view = out[y0:y1, x0:x1]
    view[inside] = np.clip(np.rint(moved), 0, 255).astype(np.uint8)
    return out
