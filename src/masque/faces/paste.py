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
) -> np.ndarray:
    """uint8 (H, W, 3) photo with the protected crop pasted inside the mask; bit-identical where its warp is 0."""
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
    region = out[y0:y1, x0:x1]
    inside = m > 0
    base = region[inside].astype(np.float64)
    mi = m[inside][:, None]
    blended = base + mi * w[inside]  # the mask's soft edge weighs the edit
    region[inside] = np.clip(np.rint(blended), 0, 255).astype(np.uint8)
    return out
