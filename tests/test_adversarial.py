"""The pairwise objective's extensions: surrogate selection, source repulsion, margin hinge, EOT transforms."""

from __future__ import annotations

import io
from dataclasses import replace

import numpy as np
import pytest
import torch
from PIL import Image

from masque.adversarial import (
    EOT,
    Dodge,
    EOTConfig,
    ObjectiveConfig,
    Repel,
    diff_jpeg,
    encode_anchors,
    gaussian_blur,
    jitter_alignment,
    margin_threshold,
    pairwise_loss,
    random_resize,
    select_surrogates,
)
from masque.embedders import create_embedder
from masque.errors import InputError
from masque.trace import CostTrace

ZOO = ["ir152", "irse50", "facenet", "mobileface"]


@pytest.fixture(scope="module")
def tiny():
    return create_embedder("tiny-random", weights=None)


def _crop(seed: int, size: int = 32) -> torch.Tensor:
    return torch.rand(1, 3, size, size, generator=torch.Generator().manual_seed(seed))


# ---- surrogate selection -----------------------------------------------------------------------------------------

def test_leave_one_out_holds_out_the_black_box():
    surrogates, held = select_surrogates(ZOO, black_box="facenet")
    assert surrogates == ["ir152", "irse50", "mobileface"] and held == ["facenet"]
    for target in ZOO:  # the literature protocol: optimise on three, test on the fourth
        s, h = select_surrogates(ZOO, black_box=target)
        assert h == [target] and target not in s and len(s) == 3


def test_explicit_surrogates_leave_the_rest_as_black_boxes():
    assert select_surrogates(ZOO, surrogates=["irse50", "ir152"]) == (["irse50", "ir152"], ["facenet", "mobileface"])
    assert select_surrogates(ZOO) == (ZOO, [])  # white-box: everything optimised, nothing held out


@pytest.mark.parametrize("kwargs, match", [
    ({"surrogates": ["ir152"], "black_box": "ir152"}, "must not contain the black-box"),
    ({"surrogates": ["arcface"]}, "available models"),
    ({"black_box": "vgg"}, "available models"),
    ({"surrogates": []}, "is empty"),
])
def test_selection_errors_are_one_line(kwargs, match):
    with pytest.raises(InputError, match=match) as err:
        select_surrogates(ZOO, **kwargs)
    assert "\n" not in str(err.value)


def test_single_model_cannot_be_both_surrogate_and_black_box():
    with pytest.raises(InputError, match="is empty"):
        select_surrogates(["dlib"], black_box="dlib")


# ---- objective terms ---------------------------------------------------------------------------------------------

def test_default_objective_is_unchanged_mean_cosine(tiny):
    x, a = _crop(0), [_crop(1), _crop(2)]
    res = pairwise_loss([tiny], x, a)
    with torch.no_grad():
        expected = (tiny(x) @ tiny(torch.cat(a)).T).mean()
    assert torch.allclose(res.loss, expected) and res.per_model["tiny-random"] == pytest.approx(float(expected))


def test_the_closest_anchor_can_weigh_extra_as_the_verdict_judges(tiny):
    """``worst`` is the cosine to the closest anchor (a judge matching any reference recognises the face);
    ``worst_anchor`` w mixes it into the loss: (1 - w) · mean + w · max, the same as the mean for one anchor."""
    x, a = _crop(0), [_crop(1), _crop(2)]
    with torch.no_grad():
        cos = (tiny(x) @ tiny(torch.cat(a)).T)[0]
    res = pairwise_loss([tiny], x, a, config=ObjectiveConfig(terms=(Dodge(worst_anchor=0.5),)))
    assert res.worst["tiny-random"] == pytest.approx(float(cos.max()), abs=1e-6)
    assert float(res.loss) == pytest.approx(0.5 * float(cos.mean()) + 0.5 * float(cos.max()), abs=1e-6)
    one = pairwise_loss([tiny], x, a[:1], config=ObjectiveConfig(terms=(Dodge(worst_anchor=0.5),)))
    assert float(one.loss) == pytest.approx(float(cos[0]), abs=1e-6)


def test_source_repulsion_adds_weighted_cosine_to_the_source(tiny):
    x, a, s = _crop(0), [_crop(1)], _crop(3)
    base = pairwise_loss([tiny], x, a).loss
    res = pairwise_loss([tiny], x, a, source=s, config=ObjectiveConfig(terms=(Dodge(), Repel(0.5))))
    with torch.no_grad():
        cos_src = float(tiny(x) @ tiny(s).T)
    assert float(res.loss) == pytest.approx(float(base) + 0.5 * cos_src, abs=1e-6)
    # Precomputed source embeddings give the same value; a missing source is a clear error.
    emb = encode_anchors([tiny], [s])
    repel = ObjectiveConfig(terms=(Dodge(), Repel(0.5)))
    assert torch.allclose(pairwise_loss([tiny], x, a, source=emb, config=repel).loss, res.loss)
    with pytest.raises(InputError, match="`source` is required"):
        pairwise_loss([tiny], x, a, config=ObjectiveConfig(terms=(Dodge(), Repel(0.5))))


def test_margin_hinge_switches_off_models_already_past_their_threshold(tiny):
    x, a = _crop(0), [_crop(1)]
    cos = pairwise_loss([tiny], x, a).per_model["tiny-random"]
    t = margin_threshold(tiny)
    below = pairwise_loss([tiny], x, a, config=ObjectiveConfig(margin=t - cos - 0.05))  # cos < t - margin
    assert float(below.loss) == 0.0 and below.per_model["tiny-random"] == pytest.approx(cos)
    above = pairwise_loss([tiny], x, a, config=ObjectiveConfig(margin=t - cos + 0.05))
    assert float(above.loss) == pytest.approx(0.05, abs=1e-5)


def test_margin_uses_the_dlib_rule_when_no_far_thresholds():
    dlib = create_embedder("dlib", weights=None)
    assert margin_threshold(dlib) == dlib.thresholds["dlib_l2_0.6"]


# ---- EOT -----------------------------------------------------------------------------------------------------

def test_diff_jpeg_approximates_real_jpeg_and_passes_gradients(faces_dir):
    img = Image.open(faces_dir / "obama.jpg").convert("RGB").resize((128, 160))
    x = torch.from_numpy(np.array(img)).permute(2, 0, 1)[None].float() / 255
    for q in (50, 90):
        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=q, subsampling="4:2:0")  # what encoders do by default
        ref = torch.from_numpy(np.array(Image.open(buf))).permute(2, 0, 1)[None].float() / 255
        ours = diff_jpeg(x, q)
        # Much closer to PIL's JPEG than JPEG is to the original (same tables, transform and chroma subsampling;
        # measured 0.26 at q50 and 0.40 at q90, rounding and upsampling details aside).
        assert (ours - ref).abs().mean() < 0.5 * (ref - x).abs().mean()
    xg = x.clone().requires_grad_(True)
    diff_jpeg(xg, 60).sum().backward()
    assert torch.isfinite(xg.grad).all() and xg.grad.abs().mean() > 0.1


def test_blur_and_resize_keep_shape_and_smooth():
    x = torch.rand(2, 3, 40, 48, generator=torch.Generator().manual_seed(0))
    for y in (gaussian_blur(x, 1.0), random_resize(x, 0.5)):
        assert y.shape == x.shape
        assert y.diff(dim=-1).abs().mean() < 0.6 * x.diff(dim=-1).abs().mean()
    assert torch.allclose(gaussian_blur(torch.full((1, 3, 16, 16), 0.3), 1.5), torch.full((1, 3, 16, 16), 0.3))


def test_alignment_jitter_is_a_similarity_warp_about_the_centre():
    x = torch.zeros(1, 1, 33, 33)
    x[..., 16, 20] = 1.0  # a dot 4 px right of the centre
    assert torch.allclose(jitter_alignment(x, (0.0, 0.0), 1.0, 0.0), x, atol=1e-5)
    moved = jitter_alignment(x, (3 / 33, 0.0), 1.0, 0.0)
    assert moved[0, 0, 16, 23] > 0.9  # shifted right by 3 px
    turned = jitter_alignment(x, (0.0, 0.0), 1.0, 90.0)
    peak = divmod(int(turned[0, 0].argmax()), 33)
    assert peak in ((12, 16), (20, 16))  # 4 px above or below the centre (a quarter turn)
    bigger = jitter_alignment(x, (0.0, 0.0), 1.5, 0.0)
    assert bigger[0, 0, 16, 22] > 0.4  # 4 px * 1.5 = 6 px from the centre
    xg = torch.rand(1, 3, 16, 16, requires_grad=True)
    jitter_alignment(xg, (0.02, -0.01), 1.03, 3.0).sum().backward()
    assert torch.isfinite(xg.grad).all() and xg.grad.abs().sum() > 0


def test_each_model_draws_its_own_transforms(tiny):
    x, a = _crop(0, 64), [_crop(1, 64)]
    cfg = EOTConfig(samples=1, p=1.0, seed=3)
    twin = create_embedder("tiny-random", weights=None)  # same weights, so only the draws can differ
    twin.load_state_dict(tiny.state_dict())
    draws = EOT(cfg)
    first, second = draws(x), draws(x)
    assert not torch.equal(first, second)
    shared = pairwise_loss([tiny, twin], x, a, eot=EOT(replace(cfg, per_model=False)))
    per_model = pairwise_loss([tiny, twin], x, a, eot=EOT(cfg))
    with torch.no_grad():
        e = EOT(cfg)
        expected = torch.stack([(m(e(x)) @ m(torch.cat(a)).T).mean() for m in (tiny, twin)]).mean()
    assert torch.allclose(per_model.loss, expected, atol=1e-6)
    assert not torch.allclose(per_model.loss, shared.loss, atol=1e-6)


def test_eot_is_seeded_draws_vary_and_loss_averages_samples(tiny):
    x, a = _crop(0, 64), [_crop(1, 64)]
    cfg = EOTConfig(samples=3, p=1.0, seed=7)
    e1, e2 = EOT(cfg), EOT(cfg)
    first = e1(x)
    assert first.shape == (3, 3, 64, 64) and torch.equal(first, e2(x))  # same seed, same draws
    assert not torch.equal(first, e1(x))  # the next call draws new transforms
    trace = CostTrace()
    res = pairwise_loss([tiny], x, a, config=ObjectiveConfig(eot=cfg), trace=trace)
    with torch.no_grad():
        expected = (tiny(EOT(cfg)(x)) @ tiny(torch.cat(a)).T).mean()
    assert torch.allclose(res.loss, expected, atol=1e-6)
    assert trace.backward["fr:tiny-random"] == 1  # the copies are embedded in one batched call
    xg = x.clone().requires_grad_(True)
    pairwise_loss([tiny], xg, a, eot=EOT(cfg)).loss.backward()
    assert torch.isfinite(xg.grad).all() and xg.grad.abs().sum() > 0
