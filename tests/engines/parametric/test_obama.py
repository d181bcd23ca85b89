"""Issue 6 acceptance on real photos: obama.jpg + "red lipstick", pair obama2.jpg, dlib surrogate, judged by dlib-bin
on the full photo after paste-back (detect -> align -> protect -> paste_back -> re-detect -> dlib descriptor)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
import torch
from skimage.color import rgb2hsv

from masque.embedders import create_embedder
from masque.engines import create_engine
from masque.engines.parametric import ParametricConfig
from masque.faces.align import AlignedFace, align_face, crop_to_tensor, tensor_to_crop
from masque.faces.detect import detect_faces
from masque.faces.paste import paste_back
from masque.faces.regions import RegionMasker
from masque.faces.templates import generation_template
from masque.io import read_image

dlib = pytest.importorskip("dlib")


class DlibJudge:
    """dlib-bin's own recogniser (`dlib_face_tools`): HOG detector, 5-point chip, ResNet (L2 < 0.6 = same)."""

    def __init__(self, faces_dir):
        from masque.embedders.dlib_chip import dlib_face_tools

        self.faces_dir = faces_dir
        self._pairs: dict[str, np.ndarray] = {}
        self.tools = dlib_face_tools()

    def descriptor(self, rgb: np.ndarray) -> np.ndarray:
        d = self.tools.face_descriptor(rgb)
        assert d is not None, "dlib found no face"
        return d

    def distances(self, rgb: np.ndarray, pairs=("obama2.jpg", "obama3.jpg")) -> dict[str, float]:
        """dlib-bin L2 distance from the largest face of ``rgb`` to each pair photo (pair descriptors cached)."""
        for p in pairs:
            if p not in self._pairs:
                self._pairs[p] = self.descriptor(read_image(self.faces_dir / p).rgb)
        d = self.descriptor(rgb)
        return {p: float(np.linalg.norm(d - self._pairs[p])) for p in pairs}


@dataclass
class Photo:
    rgb: np.ndarray
    aligned: AlignedFace


@pytest.fixture(scope="module")
def judge(faces_dir):
    return DlibJudge(faces_dir)


@pytest.fixture(scope="module")
def dlib_embedder():
    return create_embedder("dlib")


def _photo(path, size) -> Photo:
    rgb = read_image(path).rgb
    return Photo(rgb, align_face(rgb, detect_faces(rgb)[0], generation_template(size)))


def _protect(faces_dir, embedder, size, config):
    src, pair = _photo(faces_dir / "obama.jpg", size), _photo(faces_dir / "obama2.jpg", size)
    mask = RegionMasker()(src.aligned, ["lips"])
    crop = crop_to_tensor(src.aligned.crop)
    engine = create_engine("parametric", embedders=[embedder], config=config)
    res = engine.protect(crop, torch.from_numpy(mask)[None, None], "red lipstick", [crop_to_tensor(pair.aligned.crop)])
    protected = tensor_to_crop(res.image)
    return src, mask, crop, res, paste_back(src.rgb, src.aligned, protected, mask)


def _red_hue_distance(rgb: np.ndarray, where: np.ndarray) -> float:
    """Circular distance (degrees) from the saturation-weighted mean hue of ``rgb[where]`` to pure red (0°)."""
    hsv = rgb2hsv(rgb)[where]
    angle = hsv[:, 0] * 2 * np.pi
    mean = np.arctan2((hsv[:, 1] * np.sin(angle)).sum(), (hsv[:, 1] * np.cos(angle)).sum())
    return float(abs(np.degrees(mean)))


def _check_locality_and_colour(src, mask, crop, res, photo):
    outside = torch.from_numpy(mask == 0)[None, None].expand_as(crop)
    assert torch.equal(res.image[outside], crop[outside])  # crop: bit-exact outside the lips mask
    changed = np.any(photo != src.rgb, axis=2)
    ys, xs = np.nonzero(changed)
    lips = src.aligned.face.landmarks68[48:60]
    pad = 0.25 * np.ptp(lips[:, 0])
    assert xs.min() >= lips[:, 0].min() - pad and xs.max() <= lips[:, 0].max() + pad  # photo: only around the lips
    assert ys.min() >= lips[:, 1].min() - pad and ys.max() <= lips[:, 1].max() + pad
    inside = mask > 0.5
    before = _red_hue_distance(src.aligned.crop, inside)
    after = _red_hue_distance(tensor_to_crop(res.image), inside)
    assert after < before - 3, (before, after)  # the lips' mean hue moves toward red


def test_fast_red_lipstick_moves_obama_away_from_obama2(faces_dir, judge, dlib_embedder):
    """Few iterations on a small crop: direction of change only (the slow test checks the acceptance figure)."""
    config = ParametricConfig(steps=8, stop_threshold=None)
    src, mask, crop, res, photo = _protect(faces_dir, dlib_embedder, 128, config)
    _check_locality_and_colour(src, mask, crop, res, photo)
    assert res.info["cosine_after"]["dlib"] < res.info["cosine_before"]["dlib"] - 0.005
    pairs = ("obama2.jpg",)
    before, after = judge.distances(src.rgb, pairs), judge.distances(photo, pairs)
    assert after["obama2.jpg"] > before["obama2.jpg"] + 0.01, (before, after)


@pytest.fixture(scope="module")
def slow_run(faces_dir, judge, dlib_embedder):
    src, mask, crop, res, photo = _protect(faces_dir, dlib_embedder, 256, ParametricConfig())
    before, after = judge.distances(src.rgb), judge.distances(photo)
    print(f"dlib-bin distances before {before} after {after}; info {res.info}")
    return src, mask, crop, res, photo, before, after


@pytest.mark.slow
def test_slow_default_settings_raise_dlib_distance(slow_run):
    src, mask, crop, res, photo, before, after = slow_run
    _check_locality_and_colour(src, mask, crop, res, photo)
    assert after["obama2.jpg"] > before["obama2.jpg"] + 0.04, (before, after)
    assert after["obama3.jpg"] > before["obama3.jpg"], (before, after)


@pytest.mark.slow
@pytest.mark.xfail(strict=True, reason="lips-only makeup cannot move dlib past 0.6 on obama: defaults reach ~0.43 "
                   "(obama2) / ~0.35 (obama3) from 0.35 / 0.33, and even unconstrained lip pixels (200 Adam steps) "
                   "only 0.50 / 0.43; lips+eyes+cheeks reach ~0.55 / 0.50 (see the parametric engine report)")
def test_slow_issue6_acceptance_distance_above_0_6(slow_run):
    *_, after = slow_run
    assert after["obama2.jpg"] > 0.6 and after["obama3.jpg"] > 0.6, after


def test_foundation_protects_obama_against_dlib_bin_on_both_held_photos(tmp_path, faces_dir, judge):
    """The skin region is large enough where the lips are not: through `masque.protect` (full photo, paste-back,
    default settings, pair obama2.jpg) dlib-bin no longer matches obama to obama2 *or* to the unseen obama3."""
    import masque

    out = tmp_path / "obama.png"
    report = masque.protect(faces_dir / "obama.jpg", "tan foundation", out=out, pair=[faces_dir / "obama2.jpg"],
                            engine="parametric", surrogates=["dlib"])
    assert report.settings["regions"] == ["skin"]
    after = judge.distances(read_image(out).rgb)
    assert after["obama2.jpg"] > 0.6 and after["obama3.jpg"] > 0.6, after
