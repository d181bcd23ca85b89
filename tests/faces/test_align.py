from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.ndimage import gaussian_filter

from masque.errors import InputError
from masque.faces.align import (
    align_face,
    alignment_matrix,
    apply_matrix,
    crop_to_tensor,
    tensor_to_crop,
    warp_array,
    weighted_similarity,
)
from masque.faces.detect import Face
from masque.faces.templates import (
    ARCFACE_112,
    FACENET_160,
    GENERATION_512,
    generation_template,
    similarity_matrix,
    warp_between,
)

NAMES = ["obama.jpg", "obama2.jpg", "obama3.jpg", "biden.jpg"]


def _eye_centres(lm68: np.ndarray) -> np.ndarray:
    return np.stack([lm68[36:42].mean(0), lm68[42:48].mean(0)])


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("template", [GENERATION_512, ARCFACE_112, FACENET_160], ids=lambda t: f"{t.name}{t.size}")
def test_eye_centres_land_on_template(photos, detections, name, template):
    aligned = align_face(photos[name].rgb, detections[name][0], template)
    assert aligned.crop.shape == (template.size, template.size, 3) and aligned.crop.dtype == np.uint8
    err = np.linalg.norm(_eye_centres(aligned.landmarks68) - template.pixels()[:2], axis=1)
    assert err.max() < 2.0


def test_crop_landmarks_follow_the_matrix(aligned, detections):
    a = aligned["obama.jpg"]
    np.testing.assert_allclose(a.landmarks68, apply_matrix(a.matrix, detections["obama.jpg"][0].landmarks68))
    assert a.face is detections["obama.jpg"][0]
    assert 0.5 < a.scale < 3.0


def test_equal_weights_give_plain_least_squares(detections):
    p = detections["biden.jpg"][0].points5
    np.testing.assert_allclose(
        weighted_similarity(p, ARCFACE_112.pixels(), np.ones(5)), similarity_matrix(p, ARCFACE_112.pixels()), atol=1e-9
    )
    # heavier eye weights pull the eyes closer to the template
    errs = [
        np.linalg.norm(
            apply_matrix(alignment_matrix(p, ARCFACE_112, w), p)[:2] - ARCFACE_112.pixels()[:2], axis=1
        ).max()
        for w in (1.0, 30.0)
    ]
    assert errs[1] < errs[0]


def test_crop_shows_the_face_not_the_background(aligned):
    """The aligned crop of the same face in two photos looks alike: mean colour of the face centre is skin, and the
    two Obama crops correlate more with each other than with a crop of the wrong place."""
    a, b = aligned["obama.jpg"].crop.astype(float), aligned["obama2.jpg"].crop.astype(float)
    centre = slice(200, 312)
    ga, gb = a[centre, centre].mean(2), b[centre, centre].mean(2)
    shifted = a[centre, 0:112].mean(2)
    corr = np.corrcoef(ga.ravel(), gb.ravel())[0, 1]
    assert corr > np.corrcoef(shifted.ravel(), gb.ravel())[0, 1]
    assert corr > 0.5


def test_numpy_crop_agrees_with_torch_warp(photos, detections, aligned):
    """Generation crop -> ArcFace 112 with the differentiable warp ~= aligning the photo straight to ArcFace 112."""
    name = "obama.jpg"
    via_torch = warp_between(crop_to_tensor(aligned[name].crop), GENERATION_512, ARCFACE_112)
    direct = crop_to_tensor(align_face(photos[name].rgb, detections[name][0], ARCFACE_112).crop)
    diff = (via_torch - direct).abs()
    assert diff.mean() < 0.02
    assert diff[..., 8:-8, 8:-8].quantile(0.99) < 0.12  # bilinear without anti-aliasing vs pre-filtered bicubic


def test_warp_array_matches_warp_between_exactly_on_smooth_image():
    """Same resampling (bilinear, magnifying so no pre-filter): both warps implement the same geometry."""
    rng = np.random.default_rng(0)
    img = gaussian_filter(rng.uniform(0, 1, (128, 128, 3)), (6, 6, 0))
    src, dst = generation_template(128, 0.8), ARCFACE_112.resized(160)  # ArcFace framing magnifies 1.25x
    matrix = similarity_matrix(src.pixels(), dst.pixels())
    ours = warp_array(img, matrix, (160, 160), order=1)
    theirs = warp_between(torch.from_numpy(img).permute(2, 0, 1)[None], src, dst)[0].permute(1, 2, 0).numpy()
    assert np.abs(ours - theirs).max() < 1e-6


def test_tensor_round_trip_is_exact(aligned):
    crop = aligned["biden.jpg"].crop
    t = crop_to_tensor(crop)
    assert t.shape == (1, 3, 512, 512) and t.dtype == torch.float32 and t.min() >= 0 and t.max() <= 1
    np.testing.assert_array_equal(tensor_to_crop(t), crop)
    np.testing.assert_array_equal(tensor_to_crop(t[0]), crop)
    with pytest.raises(InputError):
        tensor_to_crop(torch.zeros(2, 3, 4, 4))
    with pytest.raises(InputError):
        crop_to_tensor(crop.astype(np.float32))


def test_face_at_photo_border_aligns(photos, detections):
    """A face cut by the photo edge still gives a full crop (edge pixels repeated), not an error."""
    rgb, face = photos["obama.jpg"].rgb, detections["obama.jpg"][0]
    x = int(face.points5[2, 0])  # cut through the nose
    cut = Face(box=face.box, landmarks68=face.landmarks68 - [x, 0], score=face.score)
    a = align_face(np.ascontiguousarray(rgb[:, x:]), cut, generation_template(128))
    assert a.crop.shape == (128, 128, 3)
    # the left half of the crop repeats the photo's first column: little horizontal variation there
    assert a.crop[40:90, :20].astype(float).std(axis=1).mean() < a.crop[40:90, 70:90].astype(float).std(axis=1).mean()
