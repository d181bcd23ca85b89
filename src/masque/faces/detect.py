"""Face detection (dlib HOG, CNN/MMOD, or both) and 68-point landmarks, in photo pixel coordinates.

Default: HOG on a ~1 MP copy. Measured with `benchmarks/bench_detect.py` on the 18 shared photos (22 faces a person
sees, checked by eye): HOG found all 22 at 1, 2 and 4 MP working size and with dlib's upsampling, in a median 0.31 s
at 1 MP against 1.2 s at 4 MP (2 busy cores); dlib's CNN (MMOD) found 19/22 at 0.25 MP and 6/7 group faces at 0.5 MP
(it misses the child in obama_and_biden.jpg) in 6-13 s, and needs ~2 MP (54 s) for all group faces. ``hog+cnn``
adds CNN's faces to HOG's for photos where HOG may miss turned or tilted faces. ``auto`` (what `masque protect` and the
web page use) runs HOG and lets CNN confirm only where HOG's answer is doubtful: a photo with more than one face (a
group photo, where a turned face beside the others is what HOG misses: a 3-person photo gave HOG 1 face, one
"possibly missed", and no word of a profile that CNN found) or with a region HOG was unsure of; a single upright
face pays nothing (CNN costs ~6 s at 0.5 MP on two busy cores). Faces HOG scores just under its
threshold (``POSSIBLE_FACE_SCORE``; a face turned 50 degrees in the image plane scores about -0.1, and nothing on the
shared photos scores above -0.35 outside a face) are reported as possibly missed, at no extra cost: they come from the
same detector pass.

Automatic scaling (``upsample="auto"``, the default): dlib's HOG detector finds faces down to ~80 px at the scale it
is run; its cost grows with the pixel count. So the photo is resampled once to about ``AUTO_PIXELS[detector]`` pixels
before detection -- small photos are enlarged (up to ``MAX_AUTO_ZOOM`` x, which finds faces down to ~20 px), huge ones
shrunk (a 24 MP photo is searched for faces of >= ~400 px, a 12 MP one for >= ~280 px; ``hog+cnn`` or
``upsample=1`` look for smaller ones) -- and the boxes are mapped back.
An integer ``upsample`` runs dlib exactly as given (its own pyramid upsampling, no resizing). Landmarks are always
predicted on the full-resolution photo, so their accuracy does not depend on the detection scale.

Landmark stability: dlib's regression-tree shape model flips tree splits on tiny pixel changes; the same face saved
as JPEG and as PNG gave jaw points up to 7 px apart. ``landmark_samples`` predictions from deterministically
jittered boxes (centre and size +-8 %) are averaged instead, which brought that gap under 1 px (~3 ms each).
The same samples say how sure the model is: their spread per point (`Face.landmark_spread`) stays under 0.05 eye
distances on every unoccluded shared face and reaches 0.07 on the child whose eyes are under her hair
(`faces.occlusion`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Literal

import numpy as np
from PIL import Image

from ..errors import InputError, NoFaceError
from ..paths import converted_path, write_cache
from .dlib_files import model_path

DETECTORS = ("hog", "cnn", "hog+cnn", "auto")
AUTO_PIXELS = {"hog": 1_000_000, "cnn": 500_000}  # working-image size for "auto" (measured: see the docstring)
POSSIBLE_FACE_SCORE = -0.35  # HOG margins in [this, 0) are "possibly a face" (reported, not protected)
SAME_FACE_OVERLAP = 0.3  # boxes overlapping by this share of the smaller one are the same face
MAX_AUTO_ZOOM = 4.0  # never enlarge more than dlib's upsample=2 would
LANDMARK_SAMPLES = 64  # jittered-box predictions averaged per face (1 = dlib's single prediction)
LANDMARK_JITTER = 0.08  # jitter amplitude, as a fraction of the box width
LANDMARKS_68 = "shape_predictor_68_face_landmarks.dat"
LANDMARKS_5 = "shape_predictor_5_face_landmarks.dat"
CNN_DETECTOR = "mmod_human_face_detector.dat"

# 68-point (iBUG 300-W) index groups used for the 5 template points.
LEFT_EYE = slice(36, 42)  # image-left eye (the subject's right)
RIGHT_EYE = slice(42, 48)
NOSE_TIP = 30
MOUTH_LEFT, MOUTH_RIGHT = 48, 54


@dataclass(frozen=True, eq=False)
class Face:
    box: tuple[int, int, int, int]  # left, top, right, bottom in photo pixels (clipped to the photo)
    landmarks68: np.ndarray  # (68, 2) float x, y in photo pixels
    score: float  # detector confidence (HOG SVM margin or MMOD confidence)
    # (68,) RMS distance in photo pixels of each point's jittered predictions from their mean (None: not measured,
    # e.g. a single prediction): large where the model guesses, e.g. under hair (`faces.occlusion`)
    landmark_spread: np.ndarray | None = None

    @property
    def points5(self) -> np.ndarray:
        """(5, 2) in template order: left eye centre, right eye centre, nose tip, mouth left, mouth right."""
        lm = self.landmarks68
        return np.stack(
            [lm[LEFT_EYE].mean(0), lm[RIGHT_EYE].mean(0), lm[NOSE_TIP], lm[MOUTH_LEFT], lm[MOUTH_RIGHT]]
        ).astype(np.float64)

    @property
    def area(self) -> int:
        left, top, right, bottom = self.box
        return max(right - left, 0) * max(bottom - top, 0)

    @property
    def eye_distance(self) -> float:
        p = self.points5
        return float(np.linalg.norm(p[1] - p[0]))


@cache
def _hog():
    """dlib's frontal HOG detector. Building it decodes a model embedded in dlib (0.24 s); its saved copy
    (`paths.converted_path`, keyed by dlib's own file) loads in 1 ms, so it is saved once and read after that."""
    import dlib

    try:
        cache = converted_path(dlib.__file__, f"hog-frontal-{dlib.__version__}", suffix=".svm")
        if cache.is_file():
            return dlib.fhog_object_detector(str(cache))
    except (OSError, RuntimeError):  # unreadable copy: build it again
        cache = None
    detector = dlib.get_frontal_face_detector()
    if cache is not None:
        write_cache(cache, lambda tmp: detector.save(str(tmp)))
    return detector


@cache
def _cnn():
    import dlib

    return dlib.cnn_face_detection_model_v1(str(model_path(CNN_DETECTOR)))


@cache
def _predictor(name: str):
    import dlib

    return dlib.shape_predictor(str(model_path(name)))


def check_rgb(rgb: np.ndarray, name: str = "rgb") -> np.ndarray:
    """Validate an (H, W, 3) uint8 photo and return it C-contiguous (dlib needs that)."""
    if not (isinstance(rgb, np.ndarray) and rgb.dtype == np.uint8 and rgb.ndim == 3 and rgb.shape[2] == 3):
        got = f"{rgb.dtype} {rgb.shape}" if isinstance(rgb, np.ndarray) else type(rgb).__name__
        raise InputError(f"`{name}` must be a uint8 RGB array of shape (H, W, 3); got {got}. Use masque.io.read_image.")
    return np.ascontiguousarray(rgb)


def _raw_detect(img: np.ndarray, detector: str, upsample: int,
                threshold: float = 0.0) -> list[tuple[tuple[float, ...], float]]:
    """Boxes with scores; HOG also returns boxes scoring at least ``threshold`` (its decision value is 0)."""
    if detector == "hog":
        rects, scores, _ = _hog().run(img, upsample, threshold)
        return [((r.left(), r.top(), r.right(), r.bottom()), float(s)) for r, s in zip(rects, scores, strict=True)]
    dets = _cnn()(img, upsample)
    return [((d.rect.left(), d.rect.top(), d.rect.right(), d.rect.bottom()), float(d.confidence)) for d in dets]


@cache
def _jitters(n: int) -> np.ndarray:
    """(n, 3) fixed (dx, dy, dscale) offsets; the first is zero so n=1 is dlib's plain prediction."""
    j = np.random.default_rng(0).uniform(-LANDMARK_JITTER, LANDMARK_JITTER, size=(n, 3))
    j[0] = 0.0
    return j


def _shape(rgb: np.ndarray, box: tuple[float, ...], model: str, samples: int = 1) -> np.ndarray:
    return _shape_samples(rgb, box, model, samples).mean(0)


def _spread(samples: np.ndarray) -> np.ndarray | None:
    """(n, P, 2) predictions -> (P,) RMS distance from their mean (None for a single prediction)."""
    if len(samples) < 2:
        return None
    return np.sqrt(((samples - samples.mean(0)) ** 2).sum(-1).mean(0))


def _shape_samples(rgb: np.ndarray, box: tuple[float, ...], model: str, samples: int = 1) -> np.ndarray:
    """(samples, P, 2) predictions of ``model`` from the jittered boxes (`_jitters`)."""
    import dlib

    left, top, right, bottom = box
    w, h = right - left, bottom - top
    cx, cy = (left + right) / 2, (top + bottom) / 2
    out = []
    for dx, dy, ds in _jitters(max(samples, 1)):
        hw, hh = w * (1 + ds) / 2, h * (1 + ds) / 2
        x, y = cx + dx * w, cy + dy * w
        rect = dlib.rectangle(round(x - hw), round(y - hh), round(x + hw), round(y + hh))
        out.append([[p.x, p.y] for p in _predictor(model)(rgb, rect).parts()])
    return np.asarray(out, dtype=np.float64)


def auto_scale(height: int, width: int, detector: str = "hog", pixels: int | None = None) -> float:
    """Resampling factor applied before detection in ``"auto"`` mode (see the module docstring)."""
    return min(math.sqrt((pixels or AUTO_PIXELS[detector]) / float(height * width)), MAX_AUTO_ZOOM)


def overlap(a: Sequence[float], b: Sequence[float]) -> float:
    """Intersection over the smaller box's area (1.0 when one box contains the other)."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    smaller = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return ix * iy / smaller if smaller > 0 else 0.0


def _check_options(detector: str, upsample) -> None:
    if detector not in DETECTORS:
        raise InputError(f"`detector` must be one of {DETECTORS}; got {detector!r}.")
    if upsample != "auto" and not (isinstance(upsample, int) and 0 <= upsample <= 4):
        raise InputError(f"`upsample` must be 'auto' or an integer in [0, 4]; got {upsample!r}.")


def detect_boxes(
    rgb: np.ndarray, *, detector: str = "hog", upsample: int | Literal["auto"] = "auto", pixels: int | None = None
) -> list[tuple[tuple[float, float, float, float], float]]:
    """Face boxes ``(left, top, right, bottom)`` in photo pixels (float, not clipped) with detector scores.

    ``pixels``: the working-image size of ``"auto"`` mode (default ``AUTO_PIXELS[detector]``)."""
    return [(box, score) for box, score in detect_candidates(rgb, detector=detector, upsample=upsample,
                                                             pixels=pixels) if score >= 0.0]


def detect_candidates(
    rgb: np.ndarray, *, detector: str = "hog", upsample: int | Literal["auto"] = "auto", pixels: int | None = None,
    threshold: float = 0.0,
) -> list[tuple[tuple[float, float, float, float], float]]:
    """`detect_boxes` plus HOG's near misses (scores in ``[threshold, 0)``), from the same pass; ``hog+cnn`` adds
    CNN faces that no HOG face overlaps (their score: the MMOD confidence, >= 0)."""
    rgb = check_rgb(rgb)
    _check_options(detector, upsample)
    if detector in ("hog+cnn", "auto"):
        hog = detect_candidates(rgb, detector="hog", upsample=upsample, threshold=threshold)
        if detector == "auto" and not cnn_should_confirm(hog):
            return hog
        cnn = detect_candidates(rgb, detector="cnn", upsample=upsample)
        kept = [b for b, s in hog if s >= 0]
        extra = [(b, s) for b, s in cnn if all(overlap(b, k) < SAME_FACE_OVERLAP for k in kept)]
        return [(b, s) for b, s in hog if s >= 0 or all(overlap(b, e) < SAME_FACE_OVERLAP for e, _ in extra)] + extra
    if upsample != "auto":
        return [(tuple(map(float, box)), score) for box, score in _raw_detect(rgb, detector, upsample, threshold)]
    h, w = rgb.shape[:2]
    scale = auto_scale(h, w, detector, pixels)
    size = (max(round(w * scale), 1), max(round(h * scale), 1))
    resample = Image.Resampling.BICUBIC if scale > 1 else Image.Resampling.BILINEAR  # (antialiased) bilinear: 2x faster
    work = rgb if size == (w, h) else np.asarray(Image.fromarray(rgb).resize(size, resample))
    sx, sy = size[0] / w, size[1] / h
    raw = _raw_detect(np.ascontiguousarray(work), detector, 0, threshold)
    return [((left / sx, top / sy, right / sx, bottom / sy), score) for (left, top, right, bottom), score in raw]


def cnn_should_confirm(hog: Sequence[tuple[tuple[float, ...], float]]) -> bool:
    """``auto``: CNN confirms HOG's candidates when there is more than one face or any near miss (module docstring)."""
    return sum(score >= 0 for _, score in hog) > 1 or any(score < 0 for _, score in hog)


def predict_landmarks(
    rgb: np.ndarray, box: tuple[float, float, float, float], *, samples: int = LANDMARK_SAMPLES
) -> np.ndarray:
    """(68, 2) landmarks in photo pixels for the face in ``box``, averaged over ``samples`` jittered boxes."""
    if not (isinstance(samples, int) and samples >= 1):
        raise InputError(f"`landmark_samples` must be an integer >= 1; got {samples!r}.")
    return _shape(check_rgb(rgb), box, LANDMARKS_68, samples)


@dataclass(frozen=True)
class Detection:
    """What one detector pass saw: the faces to protect and the boxes that may be faces it was not sure of."""

    faces: list[Face]
    possibly_missed: list[tuple[tuple[int, int, int, int], float]]  # (box clipped to the photo, detector score)
    detector: str

    def to_dict(self) -> dict:
        return {"detector": self.detector, "faces_found": len(self.faces),
                "possibly_missed": [{"box": list(b), "score": round(s, 3)} for b, s in self.possibly_missed]}


def detect(
    rgb: np.ndarray,
    *,
    detector: str = "hog",
    upsample: int | Literal["auto"] = "auto",
    landmark_samples: int = LANDMARK_SAMPLES,
) -> Detection:
    """Every face in the photo with 68-point landmarks (largest box first), plus HOG's near misses that overlap no
    face (`POSSIBLE_FACE_SCORE`), so a caller can say that faces may have been missed."""
    rgb = check_rgb(rgb)
    _check_options(detector, upsample)
    if not (isinstance(landmark_samples, int) and landmark_samples >= 1):
        raise InputError(f"`landmark_samples` must be an integer >= 1; got {landmark_samples!r}.")
    h, w = rgb.shape[:2]

    def clip(box) -> tuple[int, int, int, int]:
        return max(round(box[0]), 0), max(round(box[1]), 0), min(round(box[2]), w - 1), min(round(box[3]), h - 1)

    found = detect_candidates(rgb, detector=detector, upsample=upsample, threshold=POSSIBLE_FACE_SCORE)
    sure = [(b, s) for b, s in found if s >= 0.0]
    faces = []
    for b, s in sure:
        shapes = _shape_samples(rgb, b, LANDMARKS_68, landmark_samples)
        faces.append(Face(box=clip(b), landmarks68=shapes.mean(0), score=s, landmark_spread=_spread(shapes)))
    unsure: list[tuple[tuple[int, int, int, int], float]] = []
    for b, s in sorted(((b, s) for b, s in found if s < 0.0), key=lambda bs: -bs[1]):
        if all(overlap(b, k) < SAME_FACE_OVERLAP for k, _ in sure) and \
                all(overlap(b, u) < SAME_FACE_OVERLAP for u, _ in unsure):
            unsure.append((clip(b), float(s)))
    return Detection(sorted(faces, key=lambda f: f.area, reverse=True), unsure, detector)


def detect_faces(
    rgb: np.ndarray,
    *,
    detector: str = "hog",
    upsample: int | Literal["auto"] = "auto",
    landmark_samples: int = LANDMARK_SAMPLES,
) -> list[Face]:
    """Every face in the photo with 68-point landmarks, largest box first (empty list when there is none)."""
    return detect(rgb, detector=detector, upsample=upsample, landmark_samples=landmark_samples).faces


def select_faces(faces: Sequence[Face], which: str | int = "all") -> list[Face]:
    """Pick faces for protection: ``"all"``, ``"largest"`` or a 0-based index into the largest-first list."""
    if not faces:
        raise NoFaceError(rule="no face found in the photo", hint={
            "cli": "use a clearer or larger face, or `--detector cnn`", "api": "use a clearer or larger face, or "
            "`detector='cnn'`", "web": "use a clearer or larger face, or choose the thorough face finder"})
    ordered = sorted(faces, key=lambda f: f.area, reverse=True)
    if isinstance(which, str) and which.isdigit():  # "--face 1" arrives from the CLI as text
        which = int(which)
    if which == "all":
        return ordered
    if which == "largest":
        return ordered[:1]
    if isinstance(which, int) and not isinstance(which, bool) and 0 <= which < len(ordered):
        return [ordered[which]]
    raise InputError(
        f"`faces` must be 'all', 'largest' or a face number in [0, {len(ordered) - 1}] (0 = the largest; "
        f"{len(ordered)} face{'s' if len(ordered) != 1 else ''} found); got {which!r}."
    )
