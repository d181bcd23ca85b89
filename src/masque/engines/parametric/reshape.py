"""The reshape: a bounded, smooth, retouch-like displacement of the made-up face (the third carrier, issue 30).

A texture budget alone moves unseen recognisers little at an invisible amplitude; the same texture able to move with a
sub-pixel reshape moves them much more, and people already post retouched faces (larger eyes, lifted brows, fuller
lips, a slimmer nose). So the reshape is what a retoucher does, never an expression. It is written as the *content
motion* m(x) (where the pixel at x goes), in the face's landmark frame (x along the eye line, y down, unit = eye
distance u), and applied as the backward warp out(x) = in(x − m(x)):

    m = a · fade · squash( Σ_k c_k B_k  +  W · sym(F) )

- B_k, k in `RETOUCHES`: fixed unit fields anchored on the 68 landmarks, each with a one-sided coefficient
  c_k ∈ [0, 1] (clamped): eyes magnified about their centres (area only grows, shape kept), brows and their tails
  lifted (never lowered), lips made fuller about the corner line (the corners never move), nose wings and
  lower cheeks moved towards the face's axis (slimmer, never wider). Left and right share one coefficient.
- F: a free field on a ``grid``² control grid in the face frame (bicubic), mirrored into left/right symmetry and
  weighted by W, which is 0 on the eyes, brows and lips (where expressions are read: a free field there squints,
  frowns and thins the lips) and 1 on the cheeks, nose, forehead, chin and jaw.
- squash(v) = v · tanh(|v|) / |v| keeps every vector's direction (so each constraint above survives) and bounds
  |m| < a (``amplitude``, px at a 256² crop); fade is 0 outside the support (the made-up region plus the eye
  openings and inner mouth it surrounds, which move with their lids and lips) and rises smoothly inside it.
- The output is ``composed + R ⊙ (warp(composed) − composed)``, R = the support: exactly the input outside it and
  exactly the input at a = 0 (no module at all).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ...errors import InputError
from .finish import edge_fade

EYES = (slice(36, 42), slice(42, 48))  # the 6-point eye contours
RETOUCHES = ("eye_size", "brow_lift", "brow_tail", "lip_fullness", "nose_slim", "cheek_slim")
# where the free field may not go (in eye distances): the eyes with their lids, the brows, the mouth corners
_EYE_ZONE, _BROW_ZONE, _CORNER_ZONE, _LIP_ZONE = 0.32, 0.16, 0.14, 0.1


@dataclass(frozen=True)
class ReshapeConfig:
    """Shape of the reshape (its amplitude is the strength dial's, `ParametricConfig.reshape`)."""

    basis: bool = True  # the retouch basis (`RETOUCHES`)
    field: bool = True  # the free field off the expression zones
    grid: int = 12  # control points a side of the free field
    edge: float = 8.0  # fade-in width at the support's edge (crop px at 256²)
    # the eyes' share of the amplitude: a magnification reads as "big eyes" long before a lift or a slimmer nose reads
    # as anything (at 2.5 px the full share looked startled on alex1 at 100 %)
    eye_reach: float = 0.5

    def __post_init__(self):
        if not (self.basis or self.field):
            raise InputError("`reshape` needs the retouch basis, the free field or both; for none set its amplitude "
                             "to 0.")
        if self.grid < 2:
            raise InputError(f"`reshape grid` must be >= 2 control points a side, got {self.grid}.")
        if self.edge <= 0:
            raise InputError(f"`reshape edge` must be > 0 crop px, got {self.edge}.")
        if not 0.0 <= self.eye_reach <= 1.0:
            raise InputError(f"`reshape eye_reach` must lie in [0, 1] (a share of the amplitude), got "
                             f"{self.eye_reach}.")


class FaceFrame:
    """The face's own frame on a crop: origin between the eye centres, ``ex`` along the eye line, ``ey`` towards the
    mouth, unit ``u`` = the eye distance; ``coords`` (2, S, S) every pixel centre in that frame."""

    def __init__(self, landmarks: np.ndarray, side: int):
        lm = np.asarray(landmarks, np.float64)
        eyes = np.stack([lm[36:42].mean(0), lm[42:48].mean(0)])
        self.origin = eyes.mean(0)
        ex = eyes[1] - eyes[0]
        self.u = float(np.linalg.norm(ex))
        if self.u < 1e-6:
            raise InputError("`landmarks` put both eyes at one point; cannot place a reshape on this face.")
        self.ex = ex / self.u
        self.ey = np.array([-self.ex[1], self.ex[0]])  # 90° from the eye line, pointing down the face
        ys, xs = np.mgrid[0:side, 0:side].astype(np.float64)
        rel = np.stack([xs - self.origin[0], ys - self.origin[1]])
        self.coords = np.stack([(rel * self.ex[:, None, None]).sum(0), (rel * self.ey[:, None, None]).sum(0)]) / self.u
        self.landmarks = self.to_frame(lm)

    def to_frame(self, points: np.ndarray) -> np.ndarray:
        rel = np.asarray(points, np.float64) - self.origin
        return np.stack([rel @ self.ex, rel @ self.ey], -1) / self.u

    def to_crop(self, field: torch.Tensor) -> torch.Tensor:
        """(2, S, S) frame components (along ex, ey; in u) -> crop pixel components (x, y; in u)."""
        ex, ey = (torch.tensor(v, dtype=field.dtype) for v in (self.ex, self.ey))
        return field[0:1] * ex[:, None, None] + field[1:2] * ey[:, None, None]


def _bump(frame: FaceFrame, centre: np.ndarray, sx: float, sy: float | None = None) -> np.ndarray:
    x, y = frame.coords
    sy = sx if sy is None else sy
    return np.exp(-((x - centre[0]) ** 2) / (2 * sx ** 2) - ((y - centre[1]) ** 2) / (2 * sy ** 2))


def _unit(field: np.ndarray) -> np.ndarray:
    peak = float(np.sqrt((field ** 2).sum(0)).max())
    return field / peak if peak > 0 else field


def _polyline_distance(frame: FaceFrame, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distance of every pixel to a polyline (frame units) and the position along it (0 at its first point, 1 at
    its last) of the closest point."""
    x, y = frame.coords
    best, where = np.full(x.shape, np.inf), np.zeros(x.shape)
    lengths = np.linalg.norm(np.diff(points, axis=0), axis=1)
    start = np.concatenate([[0.0], np.cumsum(lengths)]) / max(lengths.sum(), 1e-9)
    for i, (a, b) in enumerate(zip(points[:-1], points[1:], strict=True)):
        ab = b - a
        t = np.clip(((x - a[0]) * ab[0] + (y - a[1]) * ab[1]) / max(float(ab @ ab), 1e-12), 0.0, 1.0)
        d = np.hypot(x - (a[0] + t * ab[0]), y - (a[1] + t * ab[1]))
        closer = d < best
        best[closer] = d[closer]
        where[closer] = (start[i] + t * (start[i + 1] - start[i]))[closer]
    return best, where


def retouch_basis(frame: FaceFrame) -> dict[str, np.ndarray]:
    """The unit retouch fields (2, S, S) in frame components (x along the eyes, y down), each peaking at |B| = 1."""
    lm = frame.landmarks
    x, y = frame.coords
    zero = np.zeros_like(x)
    eye = np.zeros_like(frame.coords)
    for pts in (lm[36:42], lm[42:48]):  # magnify about each eye centre: content moves outward, most at the corners
        c, s = pts.mean(0), 0.5 * float(np.ptp(pts[:, 0]))
        eye += np.stack([x - c[0], y - c[1]]) / s * _bump(frame, c, s)
    lift, tail = zero.copy(), zero.copy()
    for inner_to_outer in (lm[17:22][::-1], lm[22:27]):
        dist, along = _polyline_distance(frame, inner_to_outer)
        bump = np.exp(-(dist ** 2) / (2 * _BROW_ZONE ** 2))
        lift = np.maximum(lift, bump)
        tail = np.maximum(tail, bump * np.clip((along - 0.3) / 0.7, 0.0, 1.0))
    left, right = lm[48], lm[54]
    width = float(np.linalg.norm(right - left))
    corner_line = left[1] + (x - left[0]) * (right[1] - left[1]) / max(right[0] - left[0], 1e-9)
    lips = _bump(frame, lm[48:60].mean(0), 0.3 * width, 0.25)
    nose = lm[31:36]
    base, nose_w = nose.mean(0), 0.5 * float(np.ptp(nose[:, 0]))
    axis = float(lm[27:31, 0].mean())
    cheeks = sum(np.sign(x - axis) * _bump(frame, jaw + 0.35 * (mouth - jaw), 0.22)
                 for jaw, mouth in ((lm[4], lm[48]), (lm[12], lm[54])))
    return {
        "eye_size": _unit(eye),
        "brow_lift": _unit(np.stack([zero, -lift])),  # up the face only
        "brow_tail": _unit(np.stack([zero, -tail])),
        "lip_fullness": _unit(np.stack([zero, (y - corner_line) * lips])),  # 0 on the corners' line
        "nose_slim": _unit(np.stack([-(x - base[0]) / nose_w * _bump(frame, base, nose_w, 0.12), zero])),
        "cheek_slim": _unit(np.stack([-cheeks, zero])),  # towards the face's axis
    }


def corner_pin(frame: FaceFrame) -> np.ndarray:
    """(S, S): 0 on the mouth corners, 1 from `_CORNER_ZONE` away: nothing moves the corners, in any direction (a
    corner moved up is a smile, down a frown, inward a pursed mouth — the slimmer cheeks pulled them in at 2.5 px)."""
    x, y = frame.coords
    keep = np.ones(x.shape)
    for corner in (frame.landmarks[48], frame.landmarks[54]):
        keep *= _smoothstep(np.hypot(x - corner[0], y - corner[1]) / _CORNER_ZONE - 1.0)
    return keep


def eye_pin(frame: FaceFrame) -> np.ndarray:
    """(S, S): 0 on each eye with its lids, 1 from there on: only the eye and brow retouches reach the eyes (the
    Gaussian tails of the nose and lip retouches shrank an eye opening by 0.002 % on obama)."""
    lm = frame.landmarks
    x, y = frame.coords
    keep = np.ones(x.shape)
    for pts in (lm[36:42], lm[42:48]):
        c = pts.mean(0)
        r = np.hypot((x - c[0]) / (0.5 * float(np.ptp(pts[:, 0])) + 0.5 * _EYE_ZONE), (y - c[1]) / _EYE_ZONE)
        keep *= _smoothstep(r - 1.0)
    return keep


def free_weight(frame: FaceFrame) -> np.ndarray:
    """W (S, S): 0 on the eyes (with their lids), the brows and the lips, 1 elsewhere, smooth between. On the lips a
    free field thinned the upper lip into a wavy line (katy1 at 2.5 px); only the basis moves them (fuller)."""
    lm = frame.landmarks
    x, y = frame.coords
    keep = corner_pin(frame)
    lips = lm[48:60]
    c, half = lips.mean(0), 0.5 * np.ptp(lips, axis=0) + _LIP_ZONE
    keep *= _smoothstep(np.hypot((x - c[0]) / half[0], (y - c[1]) / half[1]) - 1.0) * eye_pin(frame)
    for pts in (lm[17:22], lm[22:27]):
        keep *= _smoothstep(_polyline_distance(frame, pts)[0] / _BROW_ZONE - 1.0)
    return keep


def _smoothstep(t: np.ndarray) -> np.ndarray:
    """0 for t <= 0, 1 for t >= 1, C1-smooth between."""
    t = np.clip(t, 0.0, 1.0)
    return t * t * (3 - 2 * t)


class Reshape(nn.Module):
    """The reshape's parameters: one coefficient per retouch (clamped to [0, 1]) and the free field's control grid,
    with the amplitude (px at a 256² crop) and shape. Both live in the face's landmark frame, so they hold nothing of
    any one face (`on_face` binds them to one: its frame, basis fields, weights and support) and travel between photos
    of a person."""

    def __init__(self, amplitude: float, config: ReshapeConfig = ReshapeConfig()):
        super().__init__()
        if amplitude < 0:
            raise InputError(f"`reshape` amplitude must be >= 0 px, got {amplitude}.")
        self.amplitude, self.config = float(amplitude), config
        self.names = RETOUCHES if config.basis else ()
        self.coefficients = nn.Parameter(torch.zeros(len(self.names)))
        g = config.grid if config.field else 1
        self.field = nn.Parameter(torch.zeros(1, 2, g, g))

    def on_face(self, landmarks: np.ndarray, support: torch.Tensor) -> FaceReshape:
        return FaceReshape(self, landmarks, support)

    def free(self, grid: torch.Tensor) -> torch.Tensor:
        """sym(F) (1, 2, H, W) in frame components at ``grid`` (1, H, W, 2: frame points in the control grid's
        [-1, 1] coordinates): the mirror image across the face's axis flips x, so left and right move alike."""
        mirror = grid * torch.tensor([-1.0, 1.0])
        f = F.grid_sample(self.field, grid, mode="bicubic", padding_mode="zeros", align_corners=True)
        m = F.grid_sample(self.field, mirror, mode="bicubic", padding_mode="zeros", align_corners=True)
        return 0.5 * (f + m * torch.tensor([-1.0, 1.0])[None, :, None, None])

    def retouch(self) -> dict[str, float]:
        """Each retouch's coefficient in [0, 1] (0: not used)."""
        return {n: float(c) for n, c in zip(self.names, self.coefficients.detach().clamp(0, 1), strict=True)}


class FaceReshape:
    """The reshape bound to one face of side S: ``motion()`` is m (1, 2, S, S) in crop px (x, y), ``forward(image)``
    warps, both from the parameters as they are now."""

    def __init__(self, params: Reshape, landmarks: np.ndarray, support: torch.Tensor):
        side = support.shape[-1]
        k = side / 256.0
        self.params, self.side, self.amplitude = params, side, params.amplitude * k
        self.frame = FaceFrame(landmarks, side)
        self.region = (support > 0).float()
        self.fade = edge_fade(self.region, params.config.edge * k)
        self.basis = self._basis(params) if params.names else torch.zeros(0, 2, side, side)
        self.weight = torch.from_numpy(free_weight(self.frame)).float()[None, None]
        x, y = self.frame.coords  # the control grid spans the face frame's box, frame x in [-1.6, 1.6] u
        self.grid = torch.from_numpy(np.stack([x / 1.6, (y - 0.45) / 1.55], -1)).float()[None]

    def _basis(self, params: Reshape) -> torch.Tensor:
        """The retouch fields (K, 2, S, S) of this face: the eyes at their share of the reach, the mouth corners
        pinned for all, the eyes pinned for all but the eye and brow retouches."""
        basis = retouch_basis(self.frame)
        basis["eye_size"] = basis["eye_size"] * params.config.eye_reach
        pin, eyes = corner_pin(self.frame), eye_pin(self.frame)
        return torch.from_numpy(np.stack([basis[n] * (pin if n in ("eye_size", "brow_lift", "brow_tail")
                                                      else pin * eyes) for n in params.names])).float()

    def motion(self) -> torch.Tensor:
        """m (1, 2, S, S): where each pixel's content moves, in crop px; |m| < amplitude, 0 outside the support."""
        c = self.params.coefficients.clamp(0.0, 1.0)
        v = (c[:, None, None, None] * self.basis).sum(0, keepdim=True)
        if self.params.config.field:
            v = v + self.weight * self.params.free(self.grid)
        v = self.frame.to_crop(v[0])[None]
        r = v.pow(2).sum(1, keepdim=True).add(1e-12).sqrt()
        return self.amplitude * self.fade * v * (torch.tanh(r) / r)

    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        return warp(image, self.motion(), self.region)

    @torch.no_grad()
    def usage(self, landmarks: np.ndarray) -> dict:
        """How far the reshape moved the face (for the sidecar and the summary): the largest motion and the largest
        landmark motion in crop px and % of the eye distance, each eye opening's area change, each retouch used."""
        m = self.motion()[0]
        size = m.pow(2).sum(0).sqrt()
        moved = landmark_motion(m, landmarks)
        lm_px = float(np.linalg.norm(moved - landmarks, axis=1).max())
        areas = [polygon_area(moved[s]) / max(polygon_area(landmarks[s]), 1e-9) - 1 for s in EYES]
        return {"amplitude_px": self.amplitude, "max_px": float(size.max()),
                "max_landmark_px": lm_px, "max_landmark_iod_pct": 100.0 * lm_px / self.frame.u,
                "eye_area_change_pct": [100.0 * a for a in areas], "retouch": self.params.retouch()}


def warp(image: torch.Tensor, motion: torch.Tensor, region: torch.Tensor) -> torch.Tensor:
    """out(x) = image(x − m(x)) (bicubic) inside ``region``, exactly ``image`` outside it."""
    side = image.shape[-1]
    ys, xs = torch.meshgrid(torch.arange(side, dtype=image.dtype), torch.arange(side, dtype=image.dtype),
                            indexing="ij")
    src = torch.stack([xs, ys])[None] - motion
    grid = ((2 * src + 1) / side - 1).permute(0, 2, 3, 1)
    moved = F.grid_sample(image, grid, mode="bicubic", padding_mode="border", align_corners=False)
    return image + region * (moved.clamp(0, 1) - image)


def landmark_motion(motion: torch.Tensor, landmarks: np.ndarray, iterations: int = 5) -> np.ndarray:
    """Where the warp puts each landmark: p' with p' − m(p') = p (fixed point; m is smooth and sub-pixel)."""
    m = motion.detach().double().numpy()
    p = np.asarray(landmarks, np.float64)
    q = p.copy()
    for _ in range(iterations):
        q = p + np.stack([_sample(m[0], q), _sample(m[1], q)], -1)
    return q


def _sample(plane: np.ndarray, points: np.ndarray) -> np.ndarray:
    from scipy.ndimage import map_coordinates

    return map_coordinates(plane, [points[:, 1], points[:, 0]], order=1, mode="nearest")


def polygon_area(points: np.ndarray) -> float:
    x, y = points[:, 0], points[:, 1]
    return 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))


def registered(after: torch.Tensor, motion: torch.Tensor) -> torch.Tensor:
    """The output moved back onto the input by the known motion (image(x) ≈ out(x + m(x))): what is left of the
    difference to the original is texture, not shape."""
    region = (motion.abs().sum(1, keepdim=True) > 0).float()
    return warp(after, -motion, region)


def support_of(mask: torch.Tensor, openings: np.ndarray) -> torch.Tensor:
    """Where the reshape may move pixels (1, 1, S, S): the made-up region (``mask`` > 0) and the eye openings / inner
    mouth it encloses (they move with their lids and lips); never hair, background or an occluder cut out of it."""
    from scipy.ndimage import binary_fill_holes

    inside = mask[0, 0].numpy() > 0
    enclosed = binary_fill_holes(inside) & np.asarray(openings, bool)
    return torch.from_numpy(inside | enclosed).float()[None, None]
