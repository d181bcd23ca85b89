from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from masque.errors import InputError
from masque.faces.align import AlignedFace, align_face, apply_matrix
from masque.faces.detect import Face
from masque.faces.paste import paste_back
from masque.faces.regions import RegionMasker
from masque.faces.templates import generation_template


@pytest.fixture(scope="module")
def lips_eyes(aligned):
    return {name: RegionMasker()(a, ["lips", "eyes"]) for name, a in aligned.items()}


def _photo_mask_support(original, aligned, mask):
    """Photo pixels where the warped mask is non-zero: an all-white edit of an all-black crop pasted on black."""
    black = np.zeros_like(original)
    white = np.full_like(aligned.crop, 255)
    return paste_back(black, replace(aligned, crop=np.zeros_like(aligned.crop)), white, mask).max(axis=2) > 0


@pytest.mark.parametrize("name", ["obama.jpg", "obama3.jpg", "biden.jpg"])
def test_identity_round_trip(photos, aligned, lips_eyes, name):
    """align -> identity edit -> paste back: exact outside the mask, within 2/255 inside."""
    rgb, a, mask = photos[name].rgb, aligned[name], lips_eyes[name]
    out = paste_back(rgb, a, a.crop.copy(), mask)
    assert out.dtype == np.uint8 and out.shape == rgb.shape
    support = _photo_mask_support(rgb, a, mask)
    assert support.sum() > 1000
    np.testing.assert_array_equal(out[~support], rgb[~support])
    assert np.abs(out.astype(int) - rgb)[support].max() <= 2


def test_the_feathered_edge_weighs_the_edit():
    """Mutant 1 of issue 10 (edit at full strength wherever the mask is > 0): with an identity alignment the warp is
    exact, so each pixel must move by mask x edit -- a ramp mask gives a ramp of changes, not a step."""
    size = 64
    rng = np.random.default_rng(0)
    photo = rng.integers(60, 150, (size, size, 3), dtype=np.uint8)
    aligned = AlignedFace(photo.copy(), np.eye(3), generation_template(size), np.zeros((68, 2)))
    ramp = np.tile(np.linspace(0.0, 1.0, size), (size, 1))  # 0 at the left edge, 1 at the right
    ramp[:, : size // 4] = 0.0
    protected = np.clip(photo.astype(int) + 80, 0, 255).astype(np.uint8)  # +80 everywhere (no clipping: <= 230)
    out = paste_back(photo, aligned, protected, ramp).astype(int)
    expected = np.rint(photo + 80 * ramp[..., None])  # the reference: out = original + M * edit, by hand
    assert np.abs(out - expected).max() <= 1
    half = np.argmin(np.abs(ramp[0] - 0.5))
    assert abs((out - photo)[:, half].mean() - 40) <= 1.5  # half strength where the mask is 0.5


def test_edit_lands_on_the_lips_only(photos, aligned, lips_eyes):
    rgb, a = photos["obama.jpg"].rgb, aligned["obama.jpg"]
    mask = RegionMasker()(a, ["lips"])
    red = a.crop.astype(float)
    red[..., 0] = 255.0
    out = paste_back(rgb, a, red.astype(np.uint8), mask)
    changed = np.any(out != rgb, axis=2)
    ys, xs = np.nonzero(changed)
    mouth = a.face.landmarks68[48:60]
    margin = 0.25 * a.face.eye_distance
    assert mouth[:, 0].min() - margin < xs.min() and xs.max() < mouth[:, 0].max() + margin
    assert mouth[:, 1].min() - margin < ys.min() and ys.max() < mouth[:, 1].max() + margin
    assert (out[..., 0].astype(int) - rgb[..., 0])[changed].mean() > 20  # red went up
    np.testing.assert_array_equal(out[..., 1:], rgb[..., 1:])  # green and blue were not edited


def test_crop_overhanging_the_photo(photos, detections):
    """Face cut by the photo edge: the part of the crop outside the photo is simply dropped."""
    rgb, face = photos["obama.jpg"].rgb, detections["obama.jpg"][0]
    x = int(face.points5[2, 0])
    part = np.ascontiguousarray(rgb[:, x:])
    cut = Face(box=face.box, landmarks68=face.landmarks68 - [x, 0], score=face.score)
    a = align_face(part, cut, generation_template(256))
    mask = RegionMasker()(a, ["skin"])
    out = paste_back(part, a, np.zeros_like(a.crop), mask)
    assert out.shape == part.shape
    assert np.any(out != part)
    left_edge = apply_matrix(np.linalg.inv(a.matrix), np.array([[0.0, 128.0]]))[0]  # crop's left edge -> photo
    assert left_edge[0] < 0  # the crop really does overhang the photo


def test_bad_arguments(photos, aligned, lips_eyes):
    rgb, a, mask = photos["obama.jpg"].rgb, aligned["obama.jpg"], lips_eyes["obama.jpg"]
    with pytest.raises(InputError, match="protected_crop"):
        paste_back(rgb, a, a.crop[:100], mask)
    with pytest.raises(InputError, match="mask"):
        paste_back(rgb, a, a.crop, mask * 2)
    with pytest.raises(InputError, match="mask"):
        paste_back(rgb, a, a.crop, mask[:10])
    with pytest.raises(InputError, match="original"):
        paste_back(rgb.astype(np.float32), a, a.crop, mask)
