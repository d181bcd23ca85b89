"""The reshape (issue 30): zero at amplitude 0, bounded by its amplitude, confined to its support (in the crop and in
the full-resolution photo), retouch-like (eye openings never shrink, brows never lower, mouth corners never move up
or down, left and right alike), and part of what the seed fixes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from masque.embedders import create_embedder
from masque.engines import create_engine
from masque.engines.parametric import ParametricConfig
from masque.engines.parametric.geometry import forbidden_mask
from masque.engines.parametric.reshape import (
    EYES,
    FaceFrame,
    Reshape,
    ReshapeConfig,
    landmark_motion,
    polygon_area,
    support_of,
    warp,
)
from masque.errors import InputError
from masque.faces.paste import paste_back, warp_photo
from masque.faces.regions import RegionMasker
from masque.makeup import resolve_plan
from masque.pipeline import make_job

BOUND_TOL = 1e-5  # float32 rounding of a · fade · v · tanh(|v|) / |v|


def _support(face):
    aligned, crop = face
    mask = torch.from_numpy(RegionMasker()(aligned, resolve_plan("full glam", "natural").regions))[None, None]
    return mask, support_of(mask, forbidden_mask(aligned.landmarks68, crop.shape[-2:]))


def _saturated(face, amplitude, seed=1, config=ReshapeConfig()):
    """A reshape with random parameters far past saturation: the worst case each bound must survive."""
    aligned, _ = face
    _, support = _support(face)
    params = Reshape(amplitude, config)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        params.coefficients.copy_(torch.rand(params.coefficients.shape, generator=g) * 1.5)
        params.field.copy_(torch.randn(params.field.shape, generator=g) * 20)
    return params.on_face(aligned.landmarks68, support)


def test_zero_amplitude_moves_nothing_and_leaves_the_image_bit_identical(face):
    _, crop = face
    module = _saturated(face, 0.0)
    with torch.no_grad():
        assert torch.equal(module.motion(), torch.zeros_like(module.motion()))
        assert torch.equal(module(crop), crop)
    with pytest.raises(InputError, match="amplitude"):
        Reshape(-1.0)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_motion_is_bounded_by_the_amplitude_and_zero_outside_the_support(face, seed):
    _, crop = face
    amplitude = 2.0  # px at 256²; the fixture's crop is smaller, so the bound scales with its side
    module = _saturated(face, amplitude, seed)
    bound = amplitude * crop.shape[-1] / 256
    with torch.no_grad():
        m = module.motion()
        size = m.pow(2).sum(1).sqrt()[0]
        out = module(crop)
    assert float(size.max()) <= bound + BOUND_TOL
    assert float(size.max()) > 0.5 * bound  # saturated parameters use a good part of it
    outside = module.region[0, 0] == 0
    assert float(size[outside].max()) == 0.0
    assert torch.equal(out[0][:, outside], crop[0][:, outside])  # exactly the input outside
    assert float((out - crop).abs().max()) > 0


def test_the_support_is_the_region_and_the_openings_it_encloses_never_more(face):
    aligned, crop = face
    mask, support = _support(face)
    openings = torch.from_numpy(forbidden_mask(aligned.landmarks68, crop.shape[-2:]))
    lips = torch.from_numpy(RegionMasker()(aligned, ("lips",)))[None, None]
    lip_support = support_of(lips, openings.numpy())
    assert bool((support[0, 0] >= (mask[0, 0] > 0).float()).all())
    assert bool(support[0, 0][openings].min() == 1)  # full glam surrounds the eye openings and the inner mouth
    # lipstick alone encloses the inner mouth but not the eyes: the eyes never move for a lips-only prompt
    for eye in EYES:
        x, y = np.round(aligned.landmarks68[eye].mean(0)).astype(int)
        assert bool(openings[y, x]) and float(lip_support[0, 0, y, x]) == 0.0


def test_no_retouch_but_the_eyes_and_brows_reaches_an_eye(face):
    """With the eye and brow retouches off, whatever else moves, the eye openings do not move at all (the nose and lip
    retouches' Gaussian tails once shrank one by 0.002 %)."""
    aligned, _ = face
    module = _saturated(face, 3.0)
    with torch.no_grad():
        for i, name in enumerate(module.params.names):
            if name in ("eye_size", "brow_lift", "brow_tail"):
                module.params.coefficients[i] = -1.0  # clamped to 0: unused
        moved = landmark_motion(module.motion()[0], aligned.landmarks68)
    assert float(np.abs(moved[36:48] - aligned.landmarks68[36:48]).max()) == 0.0


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_retouch_never_an_expression(face, seed):
    """Whatever the parameters: each eye opening keeps or gains area, brows do not move down the face, mouth corners
    do not move at all."""
    aligned, _ = face
    lm = aligned.landmarks68
    module = _saturated(face, 3.0, seed)
    frame = FaceFrame(lm, module.side)
    with torch.no_grad():
        moved = landmark_motion(module.motion()[0], lm)
    for eye in EYES:
        assert polygon_area(moved[eye]) >= polygon_area(lm[eye]) * (1 - 1e-9)  # float64 rounding only
    down = (moved - lm) @ frame.ey  # crop px along the face's "down"
    # 0.01 px: the landmark falls between pixels and the field is sampled bilinearly (1 % of a pixel, invisible)
    assert float(down[17:27].max()) <= 1e-2  # brows: up or still
    assert float(np.abs(down[[48, 54]]).max()) <= 1e-2  # mouth corners: never up or down
    assert float(np.linalg.norm(moved[[48, 54]] - lm[[48, 54]], axis=1).max()) <= 1e-2  # nor in or out


def test_the_free_field_is_left_right_symmetric(face):
    module = _saturated(face, 1.0)
    g = torch.Generator().manual_seed(5)
    points = torch.rand(1, 7, 9, 2, generator=g) * 2 - 1
    with torch.no_grad():
        here = module.params.free(points)
        there = module.params.free(points * torch.tensor([-1.0, 1.0]))
    assert torch.allclose(here[:, 0], -there[:, 0], atol=1e-6)  # x flips
    assert torch.allclose(here[:, 1], there[:, 1], atol=1e-6)  # y is the same


def test_basis_only_and_field_only_are_each_bounded(face):
    for config in (ReshapeConfig(field=False), ReshapeConfig(basis=False)):
        module = _saturated(face, 1.0, config=config)
        with torch.no_grad():
            size = module.motion().pow(2).sum(1).sqrt()
        assert 0 < float(size.max()) <= face[1].shape[-1] / 256 + BOUND_TOL
    with pytest.raises(InputError, match="basis"):
        ReshapeConfig(basis=False, field=False)


def test_warp_by_a_uniform_motion_is_a_translation():
    g = torch.Generator().manual_seed(0)
    image = torch.rand(1, 3, 40, 40, generator=g)
    motion = torch.zeros(1, 2, 40, 40)
    motion[:, 0] = 1.0  # every pixel's content one px to the right
    out = warp(image, motion, torch.ones(1, 1, 40, 40))
    assert torch.allclose(out[..., 5:35, 6:35], image[..., 5:35, 5:34], atol=1e-5)


def _engine(reshape, seed_steps=3):
    return create_engine("parametric", embedders=[create_embedder("tiny-random")],
                         config=ParametricConfig(steps=seed_steps, reshape=reshape, stop_threshold=None))


def _job(engine, face, pair, seed=0):
    aligned, crop = face
    plan = engine.plan("full glam")
    mask = torch.from_numpy(RegionMasker()(aligned, plan.regions))[None, None]
    return make_job(engine, crop, mask, "full glam", regions=plan.regions, plan=plan, anchors=[pair],
                    aligned=aligned, seed=seed)


def test_the_engine_returns_the_motion_and_the_seed_fixes_it(face, pair):
    aligned, crop = face
    engine = _engine(1.0)
    job = _job(engine, face, pair)
    first, again = engine.protect(job), engine.protect(job)
    assert first.reshaped is not None
    assert torch.equal(first.image, again.image) and torch.equal(first.reshaped.motion, again.reshaped.motion)
    assert torch.equal(warp(first.reshaped.texture, first.reshaped.motion, first.reshaped.region), first.image)
    outside = first.reshaped.region[0, 0] == 0
    assert torch.equal(first.image[0][:, outside], crop[0][:, outside])
    report = first.details["reshape"]
    assert report["max_px"] <= report["amplitude_px"] + BOUND_TOL
    assert set(report["retouch"]) and report["max_landmark_iod_pct"] >= 0
    assert "texture_ssim" in first.details["quality"]
    assert _engine(0.0).protect(_job(_engine(0.0), face, pair)).reshaped is None


def test_paste_back_moves_the_photo_itself_and_nothing_outside_the_support(faces_dir, face, tmp_path):
    """At full resolution: a uniform crop-space motion moves the photo's pixels by its photo-space equivalent inside
    the support, and every pixel farther than 1.5 crop px from the support is bit-identical in the written PNG."""
    from masque.io import read_image, write_image

    aligned, crop = face
    rgb = read_image(faces_dir / "obama.jpg").rgb
    _, support = _support(face)
    side = crop.shape[-1]
    motion = np.zeros((2, side, side))
    motion[0] = 0.5  # half a crop px to the right, about two photo px on this face
    mask = np.zeros((side, side))
    out = paste_back(rgb, aligned, aligned.crop, mask, motion, support[0, 0].numpy())
    write_image(tmp_path / "moved.png", out)
    written = read_image(tmp_path / "moved.png").rgb
    from scipy.ndimage import distance_transform_edt

    far = distance_transform_edt(support[0, 0].numpy() == 0) > 1.5
    h, w = rgb.shape[:2]
    ys, xs = np.mgrid[0:h, 0:w]
    m = aligned.matrix
    cx, cy = m[0, 0] * xs + m[0, 1] * ys + m[0, 2], m[1, 0] * xs + m[1, 1] * ys + m[1, 2]
    inside_crop = (cx >= 0) & (cy >= 0) & (cx < side - 1) & (cy < side - 1)
    far_px = ~inside_crop
    far_px[inside_crop] = far[np.round(cy[inside_crop]).astype(int), np.round(cx[inside_crop]).astype(int)]
    assert np.array_equal(written[far_px], rgb[far_px])
    shift = 0.5 / aligned.scale  # photo px
    cheek = aligned.landmarks68[30]  # the nose tip, deep inside the support
    p = np.linalg.inv(m) @ np.array([cheek[0], cheek[1], 1.0])
    y, x = int(p[1]), int(p[0])
    from scipy.ndimage import shift as nd_shift

    expected = nd_shift(rgb[y - 20:y + 20, x - 20:x + 20].astype(float), (0, shift, 0), order=3, mode="nearest")
    assert np.abs(written[y - 10:y + 10, x - 10:x + 10].astype(float) - expected[10:30, 10:30]).max() <= 2.0
    assert np.array_equal(warp_photo(rgb, aligned, np.zeros((2, side, side)), support[0, 0].numpy()), rgb)


def test_the_free_field_never_reaches_the_eyes_brows_or_lips(face):
    """Where expressions are read only the retouch basis moves the face: W is exactly 0 on every eye, brow and lip
    landmark (a free field there squinted, frowned and thinned the lips)."""
    from masque.engines.parametric.reshape import free_weight

    aligned, crop = face
    frame = FaceFrame(aligned.landmarks68, crop.shape[-1])
    w = free_weight(frame)
    pts = np.round(aligned.landmarks68[np.r_[17:27, 36:68]]).astype(int)
    assert float(w[pts[:, 1], pts[:, 0]].max()) == 0.0
    assert float(w.max()) == 1.0  # and it is free elsewhere (cheeks, nose, forehead)
