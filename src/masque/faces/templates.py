"""Five-point alignment templates and the differentiable warp between them.

All templates hold the same five points, in the order the 68-point landmarks give them: left eye centre, right eye
centre (image left/right), nose tip, left and right mouth corners. Points are stored *normalised* to the unit
square (pixel centre ``x`` maps to ``(x + 0.5) / size``), so a template is independent of resolution: the same
generation template serves a 64² test crop and a 512² Stable Diffusion crop.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from skimage.transform import SimilarityTransform

# ArcFace/InsightFace 112x112 reference points (pixel coordinates), used by IR152/IRSE50/MobileFace checkpoints.
_ARCFACE_112_PX = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]],
    dtype=np.float64,
)


@dataclass(frozen=True)
class Template:
    """A square crop of side ``size`` px whose five landmarks sit at ``points`` (unit-square coordinates)."""

    name: str
    size: int
    points: np.ndarray  # (5, 2), unit square

    def pixels(self, size: int | None = None) -> np.ndarray:
        """Landmarks in pixel coordinates of a ``size``-px crop (pixel centres at integers)."""
        s = self.size if size is None else size
        return self.points * s - 0.5

    def resized(self, size: int) -> Template:
        return Template(self.name, size, self.points)

    def cuts_like(self, other: Template) -> bool:
        """Whether ``other`` cuts the very same crop from a photo (same side, same landmark positions)."""
        return self.size == other.size and np.array_equal(self.points, other.points)


def _unit(points_px: np.ndarray, size: int) -> np.ndarray:
    return (np.asarray(points_px, dtype=np.float64) + 0.5) / size


ARCFACE_112 = Template("arcface", 112, _unit(_ARCFACE_112_PX, 112))
FACENET_160 = Template("facenet", 160, ARCFACE_112.points)  # the literature feeds the same framing resized to 160²


def generation_template(size: int = 512, face_scale: float = 0.8) -> Template:
    """FFHQ-like generation crop: the ArcFace framing shrunk by ``face_scale`` about the centre.

    ``face_scale=0.8`` puts the eyes ~25% of the crop width apart and leaves hair, ears and chin in view, which is the
    framing Stable Diffusion face edits work best with; smaller values give more context.
    """
    if not 0.1 <= face_scale <= 1.0:
        raise ValueError(f"`face_scale` must lie in [0.1, 1.0], got {face_scale}.")
    return Template("generation", size, (ARCFACE_112.points - 0.5) * face_scale + 0.5)


GENERATION_512 = generation_template()


def similarity_matrix(src_points: np.ndarray, dst_points: np.ndarray) -> np.ndarray:
    """Least-squares similarity (rotation, uniform scale, translation) mapping ``src`` onto ``dst`` as a 3x3 matrix."""
    tf = SimilarityTransform.from_estimate(np.asarray(src_points, float), np.asarray(dst_points, float))
    if not tf:
        raise ValueError("landmarks are degenerate: cannot estimate a similarity transform")
    return np.asarray(tf.params, dtype=np.float64)


def warp_between(image: torch.Tensor, src: Template, dst: Template, out_size: int | None = None) -> torch.Tensor:
    """Differentiably resample ``image`` (B, C, H, W), framed as ``src``, into ``dst``'s framing.

    Works in unit-square coordinates, so the input may have any resolution. Bilinear ``grid_sample``: gradients
    flow from the output (for example an FR model's input) back to the generation crop.
    """
    out = dst.size if out_size is None else out_size
    # Map output unit coords -> input unit coords, then to grid_sample's [-1, 1] (align_corners=False).
    m = similarity_matrix(dst.points, src.points)
    to_grid = np.array([[2.0, 0, -1.0], [0, 2.0, -1.0], [0, 0, 1.0]])
    theta = to_grid @ m @ np.linalg.inv(to_grid)
    theta_t = torch.as_tensor(theta[:2], dtype=image.dtype, device=image.device)
    theta_t = theta_t.unsqueeze(0).expand(image.shape[0], 2, 3)
    grid = F.affine_grid(theta_t, [image.shape[0], image.shape[1], out, out], align_corners=False)
    return F.grid_sample(image, grid, mode="bilinear", padding_mode="border", align_corners=False)


# dlib's face-recognition chip (`dlib.get_face_chip(img, shape5, 150, 0.25)`, the input of the dlib ResNet).
# dlib frames that chip from its *5-point* landmark model; our templates use five points derived from the 68-point
# model, so the template below was calibrated empirically (`masque.pipeline.dlib_chip.calibrate_chip_template`):
# for each shared test photo (obama, obama2, obama3, biden, skimage astronaut) and its mirror image, take the largest
# HOG detection, map the 68-point-derived five points through dlib's own image->chip transform (rebuilt from
# `get_face_chip_details`: rect corners rotated by `angle` -> chip corners) and average them over the 10 faces.
# Pixel means (150 px chip); per-point spread 1-6 px, mostly head pose (nose and mouth under yaw).
DLIB_150 = Template("dlib", 150, _unit(
    np.array([[46.736, 46.292], [100.184, 46.531], [73.695, 73.113], [46.594, 103.009], [100.210, 103.081]]), 150))


def landmark_box_template(name: str, size: int, margin: float) -> Template:
    """A square crop ``margin`` times the five-landmark (eyes-to-mouth) bounding box's longer side, centred on it.

    For models trained on detector-box crops (Sandberg's FaceNet): the five points of the canonical ArcFace face
    shape are framed so that their box spans ``1 / margin`` of the crop; the similarity fit in `warp_between` then
    levels the eyes and scales each face to that box. (The ArcFace 112 crop itself is ~2.7x its five-point box.)
    """
    if margin < 1.0:
        raise ValueError(f"`margin` must be >= 1 (the crop contains the landmark box), got {margin}.")
    pts = ARCFACE_112.points
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    side = margin * float((hi - lo).max())
    return Template(name, size, (pts - (lo + hi) / 2) / side + 0.5)
