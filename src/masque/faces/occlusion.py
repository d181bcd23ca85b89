"""Which regions of a face are covered (hair, sunglasses, a mask, ...), so makeup is never painted over them.

dlib's landmarks do not see occluders: under a fringe it still places eyes and brows, and the makeup lands on the
hair. The evidence here comes from the aligned crop itself, measured against the face's *own* visible skin:

1. Skin model: median L*, chroma and hue (CIELAB) over the reference area -- both cheek polygons and the lower nose
   (`LandmarkRegions.cheeks`, landmarks 30-35), where skin is almost always visible; a median stays on skin while
   less than half of that area is covered.
2. Occluder-like pixels: *dark* ones (L* < `OcclusionConfig.dark` x the skin's L*: hair, sunglasses; a shadowed
   visible face stays above it) and, in colour photos, *off-colour* ones (far less chroma than skin of that lightness
   has, or another hue: a white or blue mask).
3. Per region (`regions.REGIONS`, their landmark polygons): the share of occluder-like pixels. A region is occluded
   when that share reaches `OcclusionConfig.occluded`; eyes, brows and lips also at `OcclusionConfig.guessed` when
   their landmarks are guesses (the spread of the jittered landmark predictions, `Face.landmark_spread`, above
   `OcclusionConfig.guess_spread` eye distances).
4. The occluder itself: the connected occluder-like pixels that cover an occluded region, extended over connected
   pixels a little less dark (`OcclusionConfig.reach`, hysteresis), gaps between strands closed, widened by
   `OcclusionConfig.margin`. It is cut from every mask, so a partly covered skin, cheek or lip keeps its visible part
   -- except inside visible eyes and brows, whose dark pixels are lashes and brow hairs.

Constants were measured on every face of the shared photos (26 detections, 22 distinct crops: 21 unoccluded faces,
and the child in ``groups/obama_and_biden.jpg`` whose eyes and brows are under her fringe); the script is
``benchmarks/occlusion_survey.py``; sunglasses and face masks are checked on painted copies of a real face
(tests/faces/test_occlusion.py). Not seen: a skin-coloured occluder (a hand) on a face whose landmarks are sure.
Clear glasses were not measured (no shared face wears them): their lenses show the lids, and a thin frame covers far
less than `OcclusionConfig.occluded` of a region.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.ndimage import distance_transform_edt, label
from skimage.color import rgb2lab

from ..errors import InputError
from .regions import REGIONS, LandmarkRegions, MaskConfig, _poly

FEATURES = ("lips", "eyes", "brows")  # regions placed by their own landmarks; dark pixels are part of them
# landmarks (iBUG 68) that place each region (`regions.LandmarkRegions`)
REGION_LANDMARKS: dict[str, tuple[int, ...]] = {
    "lips": tuple(range(48, 68)),
    "eyes": tuple(range(36, 48)),
    "brows": tuple(range(17, 27)),
    "cheeks": (1, 2, 3, 4, 12, 13, 14, 15, 31, 35, 36, 40, 41, 45, 46, 47, 48, 54),
    "skin": tuple(range(0, 27)),
}
REFERENCE_NOSE = (30, 31, 32, 33, 34, 35)  # nose tip and wings: the lower nose, part of the skin reference


@dataclass(frozen=True)
class OcclusionConfig:
    """Thresholds, each measured with ``benchmarks/occlusion_survey.py`` on the shared photos (see the module doc).

    Distances are in eye distances ``u`` (between the eye centres, ~64 px on a 256 crop)."""

    # A pixel is dark below this share of the skin's L*. The child's eyes and brows under her fringe: 94 % and 87 %
    # of their pixels are below it; on the 21 unoccluded faces at most 43 % of an eye ring (kit2: deep-set eyes in
    # hard side light; lashes count) and 17 % of a brow band. (At 0.35: 56 % of kit2's eye ring, too close.)
    dark: float = 0.25
    # An occluder found at `dark` extends over the connected pixels darker than this share of the skin's L*: the
    # child's fringe is L* 8-15 against skin 42, its lit lower edge 11-15 (above `dark`), her shadowed skin 17-30.
    reach: float = 0.38
    # Colour evidence only where the skin has colour: median skin chroma >= this (the three near-grey photos,
    # kit1-3, have 4.7-10.3; colour photos 18-38).
    colour_chroma: float = 12.0
    # Off-colour: chroma below this share of what skin of that lightness has (a white mask), or a hue more than
    # `hue` degrees from the skin's with at least `hue_chroma` x the skin's chroma (a blue mask). At most 12 % of any
    # region of an unoccluded face is off-colour (obama in the group photo: grey brow hairs; alex2: teeth at the lip
    # edge).
    pale: float = 0.3
    hue: float = 60.0
    hue_chroma: float = 0.3
    # A region is occluded when this share of it is occluder-like (dark or off-colour): 0.17 above the worst
    # unoccluded region (kit2's eye ring, 43 %; brows at most 21 %, lips 11 %, cheeks 2 %, skin 10 %), 0.28 under the
    # child's brows (88 %; her eyes 94 %; her partly covered skin 33 %, cheeks 10 %: kept, minus the hair).
    occluded: float = 0.6
    # ... or this share, for eyes, brows and lips whose landmarks are guesses (spread >= guess_spread): those
    # regions may not even be where the polygons put them.
    guessed: float = 0.45
    # RMS landmark spread (64 jittered predictions) in eye distances: at most 0.063 on any region of the unoccluded
    # faces (alex2's lips, open-mouthed smile), 0.103-0.109 on every region of the child.
    guess_spread: float = 0.08
    # Gaps narrower than twice this (u) inside the occluder are closed: lighter strands between dark ones (the child's
    # fringe has 3-6 px slits on a 256 crop, u = 64 px)
    close: float = 0.1
    margin: float = 0.05  # the occluder is widened by this (u): the blurred hair edge, the paste-back's bilinear step
    # The evidence is read on a copy of this side (the FR models read 112-160 px; the parametric engine optimises at
    # 128): at 256 px the region polygons' convex hulls make it 0.15 s a face instead of 0.05 s. The shares differ
    # from a 256 px reading by at most 0.08 on the shared faces (thin lash lines blur: eye rings read lighter), and no
    # decision changes (`benchmarks/occlusion_survey.py --work-side 256`); the numbers above are at 128 px.
    work_side: int = 128

    def __post_init__(self):
        for name in ("dark", "reach", "pale", "hue_chroma", "occluded", "guessed"):
            if not 0.0 < getattr(self, name) <= 1.0:
                raise InputError(f"`{name}` must lie in (0, 1]; got {getattr(self, name)}.")
        if self.reach < self.dark:
            raise InputError(f"`reach` ({self.reach}) must be at least `dark` ({self.dark}).")
        if self.work_side < 64:
            raise InputError(f"`work_side` must be >= 64 px (thin regions vanish below); got {self.work_side}.")
        if self.guessed > self.occluded:
            raise InputError(f"`guessed` ({self.guessed}) must not exceed `occluded` ({self.occluded}).")


@dataclass(frozen=True)
class RegionOcclusion:
    """What was seen on one region: the share of occluder-like pixels, of which dark, and the verdict."""

    region: str
    covered: float  # share of the region's pixels that look like an occluder
    dark: float  # share that is dark (the rest of `covered` is off-colour)
    spread: float | None  # mean landmark spread of the region's landmarks, in eye distances (None: not measured)
    occluded: bool
    guessed: bool = False  # judged at the lower `OcclusionConfig.guessed` share: its landmarks are guesses

    @property
    def reason(self) -> str:
        """Why the region was left bare, for the summary and the sidecar."""
        what = ("hair or something else dark" if self.dark >= self.covered / 2
                else "something not skin-coloured (a mask, an object)")
        guess = "; its landmarks are guesses" if self.guessed else ""
        return f"covered by {what} ({self.covered:.0%} of it){guess}"

    def to_dict(self) -> dict:
        return {"covered": round(self.covered, 3), "dark": round(self.dark, 3),
                "landmark_spread": None if self.spread is None else round(self.spread, 3), "occluded": self.occluded,
                "guessed": self.guessed}


@dataclass(frozen=True)
class Occlusion:
    """Per-region findings on one aligned crop and the occluder pixels cut from the masks."""

    regions: dict[str, RegionOcclusion]
    cut: np.ndarray  # (S, S) bool: occluder pixels no makeup may touch
    skin: tuple[float, float, float]  # the skin model: L*, chroma, hue (degrees)

    def bare(self, regions: Sequence[str]) -> tuple[str, ...]:
        """Those of ``regions`` that are occluded (left bare), in their order."""
        return tuple(r for r in regions if self.regions[r].occluded)

    def reasons(self, regions: Sequence[str]) -> dict[str, str]:
        return {r: self.regions[r].reason for r in self.bare(regions)}

    def apply(self, mask: np.ndarray) -> np.ndarray:
        """``mask`` (S, S) with the occluder pixels zeroed."""
        return np.where(self.cut, 0.0, mask).astype(np.float32) if self.cut.any() else mask

    def to_dict(self) -> dict:
        return {"regions": {r: o.to_dict() for r, o in self.regions.items()},
                "cut_pixels": int(self.cut.sum()), "skin_lch": [round(v, 1) for v in self.skin]}


def _grow(mask: np.ndarray, radius: float) -> np.ndarray:
    """``mask`` dilated by a disk of ``radius`` px (Euclidean distance transform: cost independent of the radius)."""
    return distance_transform_edt(~mask) <= radius


def _shrink(mask: np.ndarray, radius: float) -> np.ndarray:
    """``mask`` eroded by a disk of ``radius`` px; the crop's border counts as inside (hair runs off the crop)."""
    padded = np.pad(mask, 1, constant_values=True)
    return (distance_transform_edt(padded) > radius)[1:-1, 1:-1]


def occluder_pixels(crop: np.ndarray, reference: np.ndarray, config: OcclusionConfig
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple[float, float, float]]:
    """(dark, off-colour, within reach) boolean maps of ``crop`` (S, S, 3) uint8 against the skin in ``reference``
    (bool), and the skin model (L*, chroma, hue in degrees)."""
    lab = rgb2lab(crop)
    lum, a, b = lab[..., 0], lab[..., 1], lab[..., 2]
    chroma = np.hypot(a, b)
    skin_l, skin_a, skin_b = (float(np.median(ch[reference])) for ch in (lum, a, b))
    skin_c, skin_h = float(np.median(chroma[reference])), float(np.degrees(np.arctan2(skin_b, skin_a)))
    dark, reach = lum < config.dark * skin_l, lum < config.reach * skin_l
    if skin_c < config.colour_chroma:  # a near-grey photo: colour says nothing
        return dark, np.zeros_like(dark), reach, (skin_l, skin_c, skin_h)
    # skin in shadow keeps its hue and loses chroma with lightness (roughly in proportion)
    expected = skin_c * np.minimum(lum / max(skin_l, 1e-6), 1.0)
    hue_off = np.abs((np.degrees(np.arctan2(b, a)) - skin_h + 180.0) % 360.0 - 180.0)
    off = ~dark & ((chroma < config.pale * expected) | ((hue_off > config.hue) & (chroma > config.hue_chroma * skin_c)))
    return dark, off, reach, (skin_l, skin_c, skin_h)


def _resized(crop: np.ndarray, side: int) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.fromarray(crop).resize((side, side), Image.Resampling.BOX))


def _nearest(mask: np.ndarray, size: int) -> np.ndarray:
    """Boolean ``mask`` (s, s) -> (size, size), nearest pixel centre."""
    idx = np.minimum(((np.arange(size) + 0.5) * mask.shape[0] / size).astype(int), mask.shape[0] - 1)
    return mask[np.ix_(idx, idx)]


def find_occlusion(crop: np.ndarray, landmarks: np.ndarray, spread: np.ndarray | None = None,
                   config: OcclusionConfig = OcclusionConfig(), masks: MaskConfig = MaskConfig()) -> Occlusion:
    """Judge every region of `regions.REGIONS` on ``crop`` (S, S, 3) uint8 with its 68 ``landmarks`` (crop px);
    ``spread``: (68,) landmark spread in crop pixels (`Face.landmark_spread` times the alignment scale)."""
    # 1. inputs, and the working copy the evidence is read on
    crop, landmarks = np.asarray(crop), np.asarray(landmarks, np.float64)
    if crop.ndim != 3 or crop.shape[2] != 3 or crop.dtype != np.uint8 or crop.shape[0] != crop.shape[1]:
        raise InputError(f"`crop` must be a square uint8 (S, S, 3) crop; got {crop.dtype} {crop.shape}.")
    if landmarks.shape != (68, 2):
        raise InputError(f"`landmarks` must have shape (68, 2); got {landmarks.shape}.")
    size = crop.shape[0]
    side = min(size, config.work_side)
    small = crop if side == size else _resized(crop, side)
    lm = landmarks if side == size else (landmarks + 0.5) * (side / size) - 0.5  # pixel centres
    geo = LandmarkRegions(lm, (side, side), masks)
    hard = {r: geo.hard(r) for r in REGIONS}
    reference = hard["cheeks"] | _poly((side, side), lm[list(REFERENCE_NOSE)])
    if not reference.any():
        raise InputError("`landmarks` put the cheeks and nose outside the crop; cannot model the face's skin.")
    # 2. occluder-like pixels against the face's own skin
    dark, off, reach, skin = occluder_pixels(small, reference, config)
    like = dark | off
    # 3. per region: the covered share; the landmarks' spread lowers the bar for features placed by guesses
    found: dict[str, RegionOcclusion] = {}
    u_crop = geo.u * size / side  # eye distance in crop pixels
    for region, m in hard.items():
        n = max(int(m.sum()), 1)
        covered, dark_share = float(like[m].sum()) / n, float(dark[m].sum()) / n
        s = None if spread is None else float(np.mean(np.asarray(spread)[list(REGION_LANDMARKS[region])])) / u_crop
        guess = region in FEATURES and s is not None and s >= config.guess_spread
        occluded = bool(m.any()) and covered >= (config.guessed if guess else config.occluded)
        found[region] = RegionOcclusion(region, covered, dark_share, s, occluded,
                                        guessed=occluded and guess and covered < config.occluded)
    # 4. the occluder: connected occluder-like pixels that overlap an occluded region (hysteresis, as in edge
    # detection: connected through pixels below `reach`), gaps between strands closed, brought to the crop's size and
    # widened by the margin there; visible eyes and brows are not cut (lips are: a strand over a lip corner is hair)
    hidden = [r for r, o in found.items() if o.occluded]
    if not hidden:
        return Occlusion(found, np.zeros((size, size), bool), skin)
    components, _ = label(like | reach)
    hit = np.unique(np.concatenate([components[hard[r] & like] for r in hidden]))
    occluder = np.isin(components, hit[hit > 0])
    occluder = _shrink(_grow(occluder, config.close * geo.u), config.close * geo.u) | occluder
    keep = np.zeros_like(occluder)
    for r in ("eyes", "brows"):
        if not found[r].occluded:
            keep |= hard[r]
    occluder = _grow(_nearest(occluder, size), config.margin * u_crop) & ~_nearest(keep, size)
    return Occlusion(found, occluder, skin)
