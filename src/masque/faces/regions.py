"""Facial regions -> a soft mask on the aligned crop.

This module knows region *names* (`REGIONS`) and how to draw them; which makeup words name which region is decided
above it, in the one vocabulary of `masque.makeup.vocabulary` (faces sits below makeup in the layers).

Regions are polygons built from the 68 landmarks (in crop pixels), rasterised with ``skimage.draw.polygon`` and
feathered with a Gaussian whose sigma is a fraction of the eye distance (so a 64-px test crop and a 512-px crop get the
same relative softness; see `feather`). The kernel is truncated at 3 sigma, so the mask is exactly 0 far from the
region -- the paste-back relies on that to leave the rest of the photo bit-identical.

- lips: outer lip contour (48-59) minus the inner one (60-67: teeth, open mouth).
- eyes: eyelids and the skin ringing each eye -- the eye contour widened about its centre plus the lid up to halfway
  to the brow -- minus the eye opening itself (makeup never colours the eyeball).
- brows: a band around the brow landmarks (17-21, 22-26), which trace the brow's upper edge.
- cheeks: the area between the lower eyelid, the nose wing (31/35), the mouth corner and the jaw (1-4 / 12-15),
  shrunk towards its centre (the "apple" where blush goes).
- skin: jaw line (0-16) closed over a forehead band above the brows, minus eyes, brows and mouth.

Every region is cut to the face's outline (the skin polygon before its holes: `LandmarkRegions.outline`), the area
the landmarks allow: on a turned face the far eye's ring or a mouth corner can reach past the jaw line, and makeup
there lands on the background or the hair. Landmarks of a face turned further than dlib's model was trained on (a
profile) put the mouth too wide for the eyes, and lipstick became a streak onto the cheek behind the mouth: a mouth
wider than `MaskConfig.max_mouth_width` eye distances is shrunk about its centre to that width (measured on the 21
faces of the shared photos: 0.79-1.22, the widest an open mouth).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.ndimage import gaussian_filter
from skimage.draw import polygon as draw_polygon
from skimage.morphology import convex_hull_image

from ..errors import InputError
from .align import GAUSS_TRUNCATE, AlignedFace
from .region_names import REGIONS, parse_regions  # noqa: F401  (re-exported: the names live apart, torch-free)


@dataclass(frozen=True)
class MaskConfig:
    """Mask geometry, in units of the eye distance ``u`` (distance between the two eye centres in the crop)."""

    feather: float = 0.04  # Gaussian sigma of the soft edge (~5 px on a 512 crop)
    eye_widen: float = 1.5  # eye contour scaled about the eye centre (lower lash line, corners)
    lid_reach: float = 0.5  # how far towards the brow the eyelid region reaches (0 = eye top, 1 = brow)
    brow_above: float = 0.03  # band above the brow landmarks
    brow_below: float = 0.12  # band below them
    cheek_shrink: float = 0.8  # cheek polygon scaled about its centroid
    cheek_drop: float = 0.15  # the cheek starts this far below the lower lash line
    forehead: float = 0.45  # forehead band above the brows for "skin"
    mouth_grow: float = 1.15  # outer lip contour scaled by this about its centre before being cut out of "skin"
    opening_grow: float = 1.15  # eye contour scaled by this about its centre to cover the whole eye opening
    # the inner mouth counts as open (teeth or a gap to keep bare) only when its lips part by more than this: on
    # closed lips the inner contour is a line, and cutting it out left a dashed unpainted seam across the lipstick
    mouth_open: float = 0.03
    # widest plausible mouth (corner to corner along the eye axis), in eye distances: 0.79-1.22 on the shared faces
    # (the module docstring); beyond it the landmarks are not those of this pose and the lips are shrunk to it
    max_mouth_width: float = 1.5


def _poly(shape: tuple[int, int], pts: np.ndarray) -> np.ndarray:
    mask = np.zeros(shape, dtype=bool)
    rr, cc = draw_polygon(pts[:, 1], pts[:, 0], shape)
    mask[rr, cc] = True
    return mask


def _hull(shape: tuple[int, int], pts: np.ndarray) -> np.ndarray:
    return convex_hull_image(_poly(shape, pts)) if len(pts) >= 3 else np.zeros(shape, bool)


def _scaled(pts: np.ndarray, factor: float, centre: np.ndarray | None = None) -> np.ndarray:
    c = pts.mean(0) if centre is None else centre
    return c + factor * (pts - c)


class LandmarkRegions:
    """Hard (boolean) region masks from 68 crop-space landmarks."""

    def __init__(self, lm: np.ndarray, shape: tuple[int, int], cfg: MaskConfig):
        self.lm, self.shape, self.cfg = np.asarray(lm, np.float64), shape, cfg
        eyes = np.stack([self.lm[36:42].mean(0), self.lm[42:48].mean(0)])
        self.u = float(np.linalg.norm(eyes[1] - eyes[0]))
        mouth = (self.lm[48] + self.lm[54]) / 2
        down = mouth - eyes.mean(0)
        self.down = down / max(np.linalg.norm(down), 1e-9)  # the face's "down" direction in the crop
        self.across = (eyes[1] - eyes[0]) / max(self.u, 1e-9)  # the eye axis
        self.mouth = self._plausible_mouth(self.lm[48:68])

    def _plausible_mouth(self, pts: np.ndarray) -> np.ndarray:
        """The 20 mouth points, squeezed along the eye axis about the mouth centre when they span more than
        `MaskConfig.max_mouth_width` eye distances (landmarks implausible for the pose, see the module docstring)."""
        width = abs(float((pts[54 - 48] - pts[0]) @ self.across)) / max(self.u, 1e-9)
        if width <= self.cfg.max_mouth_width:
            return pts
        centre = (pts[0] + pts[54 - 48]) / 2
        along = ((pts - centre) @ self.across)[:, None] * self.across
        return pts - (1.0 - self.cfg.max_mouth_width / width) * along

    @property
    def mouth_shrunk(self) -> bool:
        """The mouth landmarks were squeezed to a plausible width (`_plausible_mouth`)."""
        return not np.array_equal(self.mouth, self.lm[48:68])

    def outline(self) -> np.ndarray:
        """The face as its landmarks allow: jaw line (0-16) closed over the forehead band above the brows."""
        lift = self.cfg.forehead * self.u * self.down
        return _hull(self.shape, np.vstack([self.lm[0:17], self.lm[17:27] - lift]))

    def lips(self) -> np.ndarray:
        return _poly(self.shape, self.mouth[:12]) & ~self.inner_mouth()

    def inner_mouth(self) -> np.ndarray:
        """The open mouth (teeth, tongue, the dark gap) inside the inner lip contour; nothing when the lips meet."""
        gap = float(np.mean(np.linalg.norm(self.lm[[61, 62, 63]] - self.lm[[67, 66, 65]], axis=1)))
        return _poly(self.shape, self.mouth[12:]) if gap > self.cfg.mouth_open * self.u else np.zeros(self.shape, bool)

    def _eye(self, eye: slice, brow: slice) -> tuple[np.ndarray, np.ndarray]:
        pts, brow_pts = self.lm[eye], self.lm[brow]
        centre = pts.mean(0)
        lid = centre + self.cfg.lid_reach * (brow_pts - centre)
        around = _hull(self.shape, np.vstack([_scaled(pts, self.cfg.eye_widen, centre), lid]))
        return around, _poly(self.shape, pts)

    def eyes(self) -> np.ndarray:
        out = np.zeros(self.shape, bool)
        for eye, brow in ((slice(36, 42), slice(17, 22)), (slice(42, 48), slice(22, 27))):
            around, opening = self._eye(eye, brow)
            out |= around & ~opening
        return out

    def eye_areas(self) -> np.ndarray:
        """Both eye rings including the eye openings (what "skin" leaves out)."""
        return self._eye(slice(36, 42), slice(17, 22))[0] | self._eye(slice(42, 48), slice(22, 27))[0]

    def brows(self) -> np.ndarray:
        out = np.zeros(self.shape, bool)
        for brow in (slice(17, 22), slice(22, 27)):
            pts = self.lm[brow]
            top = pts - self.cfg.brow_above * self.u * self.down
            bottom = pts + self.cfg.brow_below * self.u * self.down
            out |= _poly(self.shape, np.vstack([top, bottom[::-1]]))
        return out

    def cheeks(self) -> np.ndarray:
        lm, below = self.lm, self.cfg.cheek_drop * self.u * self.down
        left = np.vstack([lm[[36, 41, 40]] + below, lm[[31]], self.mouth[[0]], lm[[4, 3, 2, 1]]])
        right = np.vstack([lm[[45, 46, 47]] + below, lm[[35]], self.mouth[[6]], lm[[12, 13, 14, 15]]])
        out = np.zeros(self.shape, bool)
        for pts in (left, right):
            out |= _hull(self.shape, _scaled(pts, self.cfg.cheek_shrink))
        return out

    def skin(self) -> np.ndarray:
        mouth = _hull(self.shape, _scaled(self.mouth[:12], self.cfg.mouth_grow))
        return self.outline() & ~self.eye_areas() & ~self.brows() & ~mouth

    def openings(self) -> np.ndarray:
        """Eye openings and the inner mouth: makeup never covers eyeballs or teeth, so these are cut out *after*
        feathering (a crisp lash/lip line, as real makeup has). The 6-point eye contour is a hexagon inside the
        almond-shaped opening, hence the slight enlargement."""
        out = self.inner_mouth()
        for eye in (slice(36, 42), slice(42, 48)):
            out |= _poly(self.shape, _scaled(self.lm[eye], self.cfg.opening_grow))
        return out

    def hard(self, region: str) -> np.ndarray:
        """The region's polygon cut to the face's `outline` (never makeup outside the face its landmarks allow)."""
        if region not in REGIONS:
            raise InputError(f"`region` must be one of {', '.join(REGIONS)}; got {region!r}.")
        return getattr(self, region)() & self.outline()


def feather(hard: np.ndarray, sigma: float) -> np.ndarray:
    """Soften a boolean mask: Gaussian blur, then the ramp 0.25..0.75 stretched to 0..1.

    The stretch keeps the 0.5 level on the polygon edge while thin regions (lips, brows, the eyelid ring, whose
    blurred peak is only ~0.8) still reach full strength inside. The kernel is truncated at `GAUSS_TRUNCATE` sigma,
    so pixels far from the region stay exactly 0.
    """
    soft = hard.astype(np.float64)
    if sigma > 0:
        soft = gaussian_filter(soft, sigma, truncate=GAUSS_TRUNCATE, mode="constant")
        soft = (soft - 0.25) * 2.0
    return np.clip(soft, 0.0, 1.0).astype(np.float32)


class RegionMasker:
    """Soft region masks on aligned crops: landmark polygons by default, a BiSeNet face parser when given one.

    ``parser``: a `masque.faces.parser.FaceParser`, or a path to a BiSeNet checkpoint (19 CelebAMask-HQ classes) that
    is loaded with it. Lips and brows then follow the parsed pixels; eyes and cheeks are the landmark areas cut to
    parsed skin; skin is parsed skin and nose minus the eye areas (see `parser.region_from_labels`).
    """

    def __init__(self, config: MaskConfig = MaskConfig(), parser=None, device: str | None = None):
        self.config = config
        if isinstance(parser, (str, Path)):
            from .parser import FaceParser

            parser = FaceParser.from_checkpoint(parser, device=device)
        self.parser = parser

    def hard(self, aligned: AlignedFace, regions: Sequence[str]) -> np.ndarray:
        shape = aligned.crop.shape[:2]
        geo = LandmarkRegions(aligned.landmarks68, shape, self.config)
        labels = self.parser.parse(aligned.crop) if self.parser is not None else None
        out = np.zeros(shape, bool)
        for region in regions:
            if labels is not None:
                from .parser import region_from_labels

                out |= region_from_labels(labels, region, geo)
            else:
                out |= geo.hard(region)
        return out

    def __call__(self, aligned: AlignedFace, regions: Sequence[str]) -> np.ndarray:
        """(S, S) float32 mask in [0, 1] for the union of ``regions`` on ``aligned.crop``."""
        if isinstance(regions, str):
            regions = parse_regions(regions)
        if not regions:
            raise InputError(f"`regions` must name at least one of {', '.join(REGIONS)}; got an empty list.")
        hard = self.hard(aligned, regions)
        geo = LandmarkRegions(aligned.landmarks68, hard.shape, self.config)
        soft = feather(hard, self.config.feather * geo.u)
        soft[geo.openings()] = 0.0
        return soft
