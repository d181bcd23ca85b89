"""Five-point similarity alignment of a photo face into a template crop, and the crop <-> tensor conversions.

The matrix maps *photo* pixel coordinates to *crop* pixel coordinates (pixel centres at integers on both sides,
the convention of dlib landmarks, skimage and `Template.pixels`). It is estimated by least squares from the face's
five points (eye centres, nose tip, mouth corners; `Face.points5`; eyes weighted, see `EYE_WEIGHT`) to the
template's, so the same face can be framed for generation (`GENERATION_512`) or for an FR model (`ARCFACE_112`,
`FACENET_160`). The numpy warp is bicubic with a
Gaussian pre-filter when the crop is smaller than the face in the photo (no aliasing); `templates.warp_between` is the
differentiable torch counterpart used inside optimisation loops.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy.ndimage import gaussian_filter
from skimage.transform import AffineTransform, warp

from ..errors import InputError
from .detect import Face, check_rgb
from .templates import GENERATION_512, Template

GAUSS_TRUNCATE = 3.0  # anti-alias kernels are cut at 3 sigma
# Eye centres (each the mean of 6 landmarks) barely move with expression, while mouth corners follow smiles and the
# nose tip follows yaw; an unweighted fit lets a smile shift the whole crop (eye centres up to ~16 px off in a 512
# crop on the test photos). Weighting the eyes 30x keeps them within ~2 px of the template; nose and mouth still break
# ties. eye_weight=1 gives the plain 5-point least squares of the FR literature.
EYE_WEIGHT = 30.0


@dataclass
class AlignedFace:
    crop: np.ndarray  # (S, S, 3) uint8
    matrix: np.ndarray  # 3x3, photo pixel coords -> crop pixel coords
    template: Template
    landmarks68: np.ndarray  # (68, 2) in crop pixel coords
    face: Face | None = None  # the detection it came from (photo coordinates)

    @property
    def size(self) -> int:
        return self.crop.shape[0]

    @property
    def scale(self) -> float:
        """Crop pixels per photo pixel (> 1: the crop magnifies the face)."""
        return float(np.sqrt(abs(np.linalg.det(self.matrix[:2, :2]))))


def weighted_similarity(src: np.ndarray, dst: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """3x3 similarity minimising sum_i w_i |dst_i - (a src_i + b)|^2 (2-D Umeyama written with complex numbers:
    ``a`` = scale x rotation, ``b`` = translation). Equal weights give `templates.similarity_matrix` exactly."""
    w = np.asarray(weights, np.float64) / np.sum(weights)
    zs = src[:, 0] + 1j * src[:, 1]
    zd = dst[:, 0] + 1j * dst[:, 1]
    ms, md = np.sum(w * zs), np.sum(w * zd)
    denom = np.sum(w * np.abs(zs - ms) ** 2)
    if denom <= 1e-12:
        raise InputError("`face` landmarks are degenerate (all points coincide); cannot align this face.")
    a = np.sum(w * np.conj(zs - ms) * (zd - md)) / denom
    b = md - a * ms
    return np.array([[a.real, -a.imag, b.real], [a.imag, a.real, b.imag], [0.0, 0.0, 1.0]])


def alignment_matrix(
    points5: np.ndarray, template: Template = GENERATION_512, eye_weight: float = EYE_WEIGHT
) -> np.ndarray:
    """3x3 similarity mapping photo points onto the template's pixel points (weighted least squares, 5 points)."""
    weights = np.array([eye_weight, eye_weight, 1.0, 1.0, 1.0])
    return weighted_similarity(np.asarray(points5, np.float64), template.pixels(), weights)


def apply_matrix(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    pts = np.asarray(points, np.float64)
    return pts @ matrix[:2, :2].T + matrix[:2, 2]


def antialias_sigma(scale: float) -> float:
    """Gaussian sigma (source pixels) before shrinking by ``scale`` < 1, the rule skimage's ``rescale`` uses."""
    return max((1.0 / scale - 1.0) / 2.0, 0.0) if scale > 0 else 0.0


def footprint(matrix: np.ndarray, out_shape: tuple[int, int], src_shape: tuple[int, int], margin: float):
    """Bounding box (x0, y0, x1, y1) in the source of the output rectangle mapped back through ``matrix``, clipped."""
    h, w = out_shape
    corners = np.array([[-0.5, -0.5], [w - 0.5, -0.5], [-0.5, h - 0.5], [w - 0.5, h - 0.5]])
    src = apply_matrix(np.linalg.inv(matrix), corners)
    x0, y0 = np.floor(src.min(0) - margin).astype(int)
    x1, y1 = np.ceil(src.max(0) + margin).astype(int) + 1
    sh, sw = src_shape
    x0, y0 = int(np.clip(x0, 0, sw - 1)), int(np.clip(y0, 0, sh - 1))
    x1, y1 = int(np.clip(x1, x0 + 1, sw)), int(np.clip(y1, y0 + 1, sh))
    return x0, y0, x1, y1


def warp_array(
    src: np.ndarray, matrix: np.ndarray, out_shape: tuple[int, int], *, order: int = 3, mode: str = "edge"
) -> np.ndarray:
    """Resample float ``src`` (H, W[, C]) so that output pixel q takes src at ``inv(matrix) @ q``.

    Only the part of ``src`` under the output is filtered and sampled, so cost follows the output size, not the photo.
    """
    scale = float(np.sqrt(abs(np.linalg.det(matrix[:2, :2]))))
    sigma = antialias_sigma(scale)
    x0, y0, x1, y1 = footprint(matrix, out_shape, src.shape[:2], margin=GAUSS_TRUNCATE * sigma + 4)
    sub = np.asarray(src[y0:y1, x0:x1], dtype=np.float64)
    if sigma > 0:
        spatial = (sigma, sigma) + (0,) * (sub.ndim - 2)
        sub = gaussian_filter(sub, spatial, truncate=GAUSS_TRUNCATE, mode="nearest")
    shift = np.array([[1.0, 0, x0], [0, 1.0, y0], [0, 0, 1.0]])  # sub-image coords -> source coords
    inverse = AffineTransform(matrix=np.linalg.inv(shift) @ np.linalg.inv(matrix))
    return warp(sub, inverse, output_shape=out_shape, order=order, mode=mode, preserve_range=True)


def align_face(
    rgb: np.ndarray, face: Face, template: Template = GENERATION_512, *, eye_weight: float = EYE_WEIGHT
) -> AlignedFace:
    """Crop ``face`` from the photo into ``template``'s framing (``template.size`` px square, bicubic)."""
    rgb = check_rgb(rgb)
    matrix = alignment_matrix(face.points5, template, eye_weight)
    crop = crop_with(rgb, matrix, template.size)
    return AlignedFace(crop, matrix, template, apply_matrix(matrix, face.landmarks68), face)


def crop_with(rgb: np.ndarray, matrix: np.ndarray, size: int) -> np.ndarray:
    """The ``size``-px uint8 crop that ``matrix`` (photo -> crop pixels) cuts from ``rgb``: how an alignment found
    on one photo crops another of the same geometry (the protected photo judged with the original's alignment)."""
    return np.clip(np.rint(warp_array(check_rgb(rgb), matrix, (size, size))), 0, 255).astype(np.uint8)


def crop_to_tensor(crop_uint8: np.ndarray) -> torch.Tensor:
    """(S, S, 3) uint8 -> (1, 3, S, S) float32 in [0, 1]."""
    a = np.asarray(crop_uint8)
    if a.dtype != np.uint8 or a.ndim != 3 or a.shape[2] != 3:
        raise InputError(f"`crop` must be uint8 (H, W, 3); got {a.dtype} {a.shape}.")
    return torch.from_numpy(np.ascontiguousarray(a.transpose(2, 0, 1))).float().div(255.0).unsqueeze(0)


def tensor_to_crop(t: torch.Tensor) -> np.ndarray:
    """(1, 3, S, S) or (3, S, S) float in [0, 1] -> (S, S, 3) uint8, rounding to nearest (values clamped)."""
    if t.ndim == 4:
        if t.shape[0] != 1:
            raise InputError(f"`t` must hold one image (1, 3, H, W); got shape {tuple(t.shape)}.")
        t = t[0]
    if t.ndim != 3 or t.shape[0] != 3:
        raise InputError(f"`t` must have shape (1, 3, H, W) or (3, H, W); got {tuple(t.shape)}.")
    return t.detach().float().clamp(0, 1).mul(255).round().to(torch.uint8).permute(1, 2, 0).cpu().numpy()
