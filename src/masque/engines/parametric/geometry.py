"""Where makeup goes on one face: landmark-anchored soft shapes on the generation crop.

Every product is drawn as smooth strokes and ellipses anchored to the 68 landmarks, in the face's own frame (origin
between the eyes, x along the eye line, y towards the mouth, unit = eye distance ``u``), so shapes follow the face's
pose and size and are never boxes. A left-side shape is the mirror of the right-side one: its anchors are the
mirrored landmarks and its learned offsets are mirrored too (x outward, y down), which keeps contour and blush
left/right consistent by construction.

Constant maps (computed once per face, no gradient): the areas each product may touch, the eyelid's lash-line ->
brow coordinate for eyeshadow gradients, the lips' signed distance for over/under-drawing, the skin likelihood that
keeps skin products off hair, beard and brows, and the *forbidden* pixels (eye openings, inner mouth, nostrils) that
are zeroed after everything else.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from scipy.ndimage import binary_dilation, distance_transform_edt, gaussian_filter

from ...faces.regions import LandmarkRegions, MaskConfig, _hull, _poly, feather

# Landmark pairs mirrored across the face's vertical axis (image-left index -> image-right index).
_PAIRS = {**{i: 16 - i for i in range(8)}, **{17 + i: 26 - i for i in range(5)},
          36: 45, 37: 44, 38: 43, 39: 42, 40: 47, 41: 46, 31: 35, 32: 34, 48: 54, 49: 53, 50: 52, 59: 55, 58: 56,
          60: 64, 61: 63, 67: 65}
MIRROR = {**_PAIRS, **{v: k for k, v in _PAIRS.items()}}
SIDES = (-1, 1)  # -1: image left (landmark indices as written), +1: image right (their mirrors)


def side_index(i: int, side: int) -> int:
    return i if side < 0 else MIRROR.get(i, i)


def forbidden_mask(lm: np.ndarray, shape: tuple[int, int], config: MaskConfig = MaskConfig()) -> np.ndarray:
    """Eye openings, the inner mouth (teeth) and the nostrils: boolean, never painted."""
    geo = LandmarkRegions(lm, shape, config)
    out = geo.openings()
    down = geo.down * geo.u
    # the nostrils open just above the nose base line 31-35: a thin band along it (a taller one left the whole nose
    # tip bare, a crisp-edged patch under foundation)
    nostrils = np.vstack([lm[31:36] - 0.06 * down, (lm[31:36] + 0.03 * down)[::-1]])
    return out | binary_dilation(_hull(shape, nostrils))  # one pixel more: rasterised edges stay unpainted


class FaceGeometry:
    """Landmarks (68, 2) in crop pixels -> pixel grid in the face frame, drawing helpers and constant maps."""

    def __init__(self, landmarks: np.ndarray, size: int, config: MaskConfig = MaskConfig()):
        self.np_lm = np.asarray(landmarks, np.float64)
        self.size, self.shape = size, (size, size)
        self.lm = torch.tensor(self.np_lm, dtype=torch.float32)
        self.regions = LandmarkRegions(self.np_lm, self.shape, config)
        self.u = float(self.regions.u)
        eyes = torch.stack([self.lm[36:42].mean(0), self.lm[42:48].mean(0)])
        self.origin = eyes.mean(0)
        ex = eyes[1] - eyes[0]
        self.ex = ex / ex.norm()
        self.ey = torch.tensor(self.regions.down, dtype=torch.float32)
        ys, xs = torch.meshgrid(torch.arange(size, dtype=torch.float32), torch.arange(size, dtype=torch.float32),
                                indexing="ij")
        self.full_grid = torch.stack([xs, ys]).permute(1, 2, 0)  # (H, W, 2) pixel centres, x then y
        self.grid = self.full_grid
        self.sigma = config.feather * self.u

    def coarse(self, cells: int) -> FaceGeometry:
        """The same face drawn on a ``cells``² grid of the crop (cell centres in crop pixels): mid-scale shapes
        (contour, highlight, blush) are smooth, so they are drawn there and upsampled (`upsample`), ~16x cheaper."""
        other = object.__new__(FaceGeometry)
        other.__dict__.update(self.__dict__)
        c = (torch.arange(cells, dtype=torch.float32) + 0.5) * self.size / cells - 0.5
        ys, xs = torch.meshgrid(c, c, indexing="ij")
        other.grid, other.shape = torch.stack([xs, ys], -1), (cells, cells)
        other.grid = other.grid.permute(2, 0, 1).contiguous().permute(1, 2, 0)  # x and y planes contiguous
        return other

    def upsample(self, coarse: torch.Tensor) -> torch.Tensor:
        return F.interpolate(coarse[None, None], size=(self.size, self.size), mode="bilinear",
                             align_corners=False)[0, 0]

    def window(self, points: np.ndarray, margin: float) -> tuple[FaceGeometry, tuple[int, int, int, int]]:
        """The face drawn only on the box around ``points`` widened by ``margin`` eye distances (crisp strokes
        such as eyeliner and brows), and that box (y0, y1, x0, x1) for `paste`."""
        lo = np.floor(points.min(0) - margin * self.u).astype(int).clip(0, self.size)
        hi = np.ceil(points.max(0) + margin * self.u).astype(int).clip(0, self.size)
        other = object.__new__(FaceGeometry)
        other.__dict__.update(self.__dict__)
        other.grid = self.full_grid[lo[1]:hi[1], lo[0]:hi[0]].permute(2, 0, 1).contiguous().permute(1, 2, 0)
        other.shape = tuple(other.grid.shape[:2])
        return other, (int(lo[1]), int(hi[1]), int(lo[0]), int(hi[0]))

    def paste(self, part: torch.Tensor, box: tuple[int, int, int, int]) -> torch.Tensor:
        y0, y1, x0, x1 = box
        return F.pad(part, (x0, self.size - x1, y0, self.size - y1))

    # -- anchors and offsets ---------------------------------------------------------------------------------
    def point(self, i: int, side: int = -1) -> torch.Tensor:
        return self.lm[side_index(i, side)]

    def offset(self, dx, dy, side: int) -> torch.Tensor:
        """A face-frame offset (dx outward, dy down, in eye distances) as a crop-pixel vector for ``side``."""
        dx, dy = torch.as_tensor(dx, dtype=torch.float32), torch.as_tensor(dy, dtype=torch.float32)
        return (side * dx * self.ex + dy * self.ey) * self.u

    # -- soft shapes (differentiable in their geometry) --------------------------------------------------------
    def segment_distance(self, a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Pixel distance to segment a-b and the position t in [0, 1] of the nearest point along it."""
        gx, gy = self.grid[..., 0], self.grid[..., 1]
        abx, aby = b[0] - a[0], b[1] - a[1]
        rx, ry = gx - a[0], gy - a[1]
        t = ((rx * abx + ry * aby) / (abx * abx + aby * aby).clamp_min(1e-6)).clamp(0, 1)
        d = ((rx - t * abx).square() + (ry - t * aby).square()).add(1e-6).sqrt()
        return d, t

    def stroke(self, a: torch.Tensor, b: torch.Tensor, width, taper: float = 0.0) -> torch.Tensor:
        """Gaussian line a-b with ``width`` (eye distances) = its sigma across; ``taper`` thins it towards b."""
        d, t = self.segment_distance(a, b)
        w = torch.as_tensor(width, dtype=torch.float32) * self.u * (1 - taper * t)
        return torch.exp(-0.5 * (d / w.clamp_min(0.5)).pow(2))

    def ellipse(self, centre: torch.Tensor, sx, sy, angle) -> torch.Tensor:
        """Gaussian ellipse; ``sx``/``sy`` (eye distances) along the face's x/y axes rotated by ``angle``."""
        c, s = torch.cos(torch.as_tensor(angle)), torch.sin(torch.as_tensor(angle))
        ax = c * self.ex + s * self.ey
        ay = -s * self.ex + c * self.ey
        rx, ry = self.grid[..., 0] - centre[0], self.grid[..., 1] - centre[1]
        px = (rx * ax[0] + ry * ax[1]) / (sx * self.u)
        py = (rx * ay[0] + ry * ay[1]) / (sy * self.u)
        return torch.exp(-0.5 * (px.square() + py.square()))

    def band(self, points: torch.Tensor, widths: torch.Tensor, soft: float = 0.6) -> torch.Tensor:
        """Crisp-edged (anti-aliased over ``soft`` px) stroke along a polyline whose half-width (px) is given per
        vertex and interpolated along each segment: eyeliner, brows."""
        out = torch.zeros(self.shape)
        for i in range(len(points) - 1):
            d, t = self.segment_distance(points[i], points[i + 1])
            w = widths[i] + t * (widths[i + 1] - widths[i])
            out = torch.maximum(out, torch.sigmoid((w - d) / soft))
        return out

    # -- constant maps ----------------------------------------------------------------------------------------
    def soft(self, hard: np.ndarray, scale: float = 1.0) -> torch.Tensor:
        return torch.from_numpy(feather(hard, self.sigma * scale))

    def skin_area(self) -> np.ndarray:
        return self.regions.skin() | self.regions.cheeks()

    def blended_in(self, hard: np.ndarray, reach: float = 0.12) -> torch.Tensor:
        """0 on the edge of ``hard`` rising smoothly to 1 about 2·reach eye distances inside: products are blended
        out towards the hairline and jaw as an artist would, so no mask edge (e.g. across the forehead) shows."""
        blur = gaussian_filter(hard.astype(np.float64), reach * self.u, mode="constant")
        return torch.from_numpy(np.clip((blur - 0.5) * 2.0, 0.0, 1.0).astype(np.float32))

    def clear_of(self, hard: np.ndarray, reach: float) -> torch.Tensor:
        """0 on ``hard`` rising smoothly (smoothstep) to 1 at ``reach`` eye distances away from it: a product that
        must fade out before another area (eyeshadow before the brows) instead of meeting its mask edge."""
        x = np.clip(distance_transform_edt(~hard) / max(reach * self.u, 1e-6), 0.0, 1.0)
        return torch.from_numpy((x * x * (3 - 2 * x)).astype(np.float32))

    def lips_signed_distance(self) -> torch.Tensor:
        """Pixels to the outer lip contour, positive inside: lipstick edge = sigmoid((sd + overdraw) / soft)."""
        inside = _poly(self.shape, self.np_lm[48:60])
        sd = distance_transform_edt(inside) - distance_transform_edt(~inside)
        return torch.from_numpy(sd.astype(np.float32))

    def lid(self, side: int) -> tuple[np.ndarray, torch.Tensor, torch.Tensor]:
        """One eyelid: (area from the upper lash line to below the brow, t = 0 at the lash line .. 1 at the brow,
        s = 0 at the inner eye corner .. 1 at the outer one)."""
        idx = [side_index(i, side) for i in (39, 38, 37, 36)]  # inner -> outer upper lash line
        lash = self.np_lm[idx]
        brow = self.np_lm[[side_index(i, side) for i in (21, 20, 19, 18, 17)]]
        u, down = self.regions.u, self.regions.down
        outer = lash[-1] + u * 0.22 * (side * self.ex.numpy()) - 0.1 * u * down
        # the hull starts a little inside the opening so the feathered edge is dense on the lash line (the opening
        # itself is cut crisply afterwards, `forbidden_mask`)
        area = _hull(self.shape, np.vstack([lash + 0.05 * u * down, outer, brow - 0.02 * u * down]))
        lash_t, brow_t = torch.tensor(np.vstack([lash, outer]), dtype=torch.float32), torch.tensor(brow,
                                                                                                 dtype=torch.float32)
        d1 = torch.stack([self.segment_distance(lash_t[i], lash_t[i + 1])[0] for i in range(len(lash_t) - 1)]).amin(0)
        d2 = torch.stack([self.segment_distance(brow_t[i], brow_t[i + 1])[0] for i in range(len(brow_t) - 1)]).amin(0)
        t = d1 / (d1 + d2).clamp_min(1e-3)
        _, s = self.segment_distance(lash_t[0], lash_t[-1])
        return area, t, s

    def under_eye(self, side: int) -> tuple[np.ndarray, torch.Tensor]:
        """Below the lower lash line (smoky smudge): (area, pixel distance to the lower lash line)."""
        idx = [side_index(i, side) for i in (39, 40, 41, 36)]
        low = self.np_lm[idx]
        drop = 0.16 * self.regions.u * self.regions.down
        area = _hull(self.shape, np.vstack([low, low[::-1] + drop]))
        lt = torch.tensor(low, dtype=torch.float32)
        d = torch.stack([self.segment_distance(lt[i], lt[i + 1])[0] for i in range(len(lt) - 1)]).amin(0)
        return area, d

    def skin_likelihood(self, lab: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(how skin-like each pixel is, in [0, 1], smooth; the median skin Lab (3,)) from the cheeks' colour.

        Chroma counts fully and lightness a third (shading changes lightness, not hue), so hair, beard, brows and
        lips fall off while shadowed skin stays."""
        import kornia

        cheeks = torch.from_numpy(self.regions.cheeks())
        ref = lab[0][:, cheeks].median(dim=1).values if bool(cheeks.any()) else lab[0].flatten(1).median(1).values
        diff = lab[0] - ref.view(3, 1, 1)
        d = torch.sqrt((diff[0] / 3).pow(2) + diff[1].pow(2) + diff[2].pow(2))
        like = torch.exp(-(torch.relu(d - 7.0) / 8.0).pow(2))
        k = 2 * round(3 * self.sigma) + 1
        like = kornia.filters.gaussian_blur2d(like[None, None], (k, k), (self.sigma, self.sigma))[0, 0]
        return like, ref
