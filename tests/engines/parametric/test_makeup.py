"""The makeup layer: exact outside the mask, bounded, deterministic, differentiable."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from masque.engines.parametric.makeup import (
    MakeupBounds,
    MakeupLayer,
    delta_e,
    linear_to_srgb,
    rgb_to_lab,
    srgb_to_linear,
)

RED = torch.tensor([0.7, 0.07, 0.18])


def _scene(size=48, seed=0):
    g = torch.Generator().manual_seed(seed)
    crop = torch.rand(1, 3, size, size, generator=g)
    mask = torch.zeros(1, 1, size, size)
    mask[..., 10:30, 12:40] = 1.0
    mask[..., 8:10, 12:40] = 0.5  # feathered edge
    return crop, mask


def _randomise(layer, seed=1, scale=3.0):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in layer.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * scale)


def test_pixels_outside_mask_are_bitwise_unchanged():
    crop, mask = _scene()
    layer = MakeupLayer((48, 48))
    _randomise(layer)
    out = layer(crop, mask, RED)
    outside = (mask == 0).expand_as(crop)
    assert torch.equal(out[outside], crop[outside])
    assert (out[(mask == 1).expand_as(crop)] != crop[(mask == 1).expand_as(crop)]).float().mean() > 0.9
    assert out.min() >= 0 and out.max() <= 1


def test_texture_respects_its_linf_budget():
    crop, mask = _scene()
    eps = 4 / 255
    layer = MakeupLayer((48, 48), MakeupBounds(texture_eps=eps))
    _randomise(layer, scale=50.0)  # saturate tanh
    no_tex = MakeupLayer((48, 48), MakeupBounds(texture_eps=0.0))
    no_tex.load_state_dict({k: v for k, v in layer.state_dict().items() if k != "texture"})
    diff = (layer(crop, mask, RED) - no_tex(crop, mask, RED)).abs()
    assert diff.max() <= eps + 1e-6
    assert diff.max() > 0.5 * eps  # the texture does act


def test_opacity_and_fields_stay_in_bounds():
    b = MakeupBounds(opacity=0.6, opacity_range=0.1)
    layer = MakeupLayer((16, 16), b)
    assert float(layer.opacity().detach()) == pytest.approx(0.6)
    for v in (-100.0, 100.0):
        with torch.no_grad():
            layer.opacity_logit.fill_(v)
        assert 0.5 - 1e-6 <= float(layer.opacity().detach()) <= 0.7 + 1e-6


def test_reference_ignores_parameters_and_tints_toward_pigment():
    crop, mask = _scene()
    layer = MakeupLayer((48, 48))
    ref0 = layer(crop, mask, RED, reference=True)
    _randomise(layer)
    assert torch.equal(layer(crop, mask, RED, reference=True), ref0)
    inside = (mask == 1).expand_as(crop)
    lab_in, lab_ref = rgb_to_lab(crop)[inside].view(3, -1), rgb_to_lab(ref0)[inside].view(3, -1)
    assert lab_ref[1].mean() > lab_in[1].mean() + 10  # a* (redness) rises under red lipstick


def test_shading_survives_the_makeup():
    """Real makeup keeps the skin's light and shade: the made-up luminance stays correlated with the original."""
    crop, mask = _scene()
    out = MakeupLayer((48, 48))(crop, mask, RED, reference=True)
    inside = (mask == 1)[0, 0]
    l_in, l_out = rgb_to_lab(crop)[0, 0][inside], rgb_to_lab(out)[0, 0][inside]
    corr = torch.corrcoef(torch.stack([l_in, l_out]))[0, 1]
    assert corr > 0.8


def test_deterministic_given_generator_seed():
    crop, mask = _scene()
    a = MakeupLayer((48, 48), generator=torch.Generator().manual_seed(3))(crop, mask, RED)
    b = MakeupLayer((48, 48), generator=torch.Generator().manual_seed(3))(crop, mask, RED)
    c = MakeupLayer((48, 48), generator=torch.Generator().manual_seed(4))(crop, mask, RED)
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_gradients_reach_every_parameter_and_not_outside_mask():
    crop, mask = _scene()
    crop.requires_grad_(True)
    layer = MakeupLayer((48, 48))
    out = layer(crop, mask, RED)
    out.sum().backward()
    for name, p in layer.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, name
    assert torch.isfinite(crop.grad).all()


def test_colour_maths_round_trip_and_reference_values():
    x = torch.rand(1, 3, 8, 8)
    assert torch.allclose(linear_to_srgb(srgb_to_linear(x)), x, atol=1e-5)
    white = rgb_to_lab(torch.ones(1, 3, 1, 1)).flatten()
    assert white.tolist() == pytest.approx([100.0, 0.0, 0.0], abs=0.05)
    red = rgb_to_lab(torch.tensor([1.0, 0.0, 0.0]).view(1, 3, 1, 1)).flatten()
    assert red.tolist() == pytest.approx([53.24, 80.09, 67.20], abs=0.1)  # standard sRGB red in CIELAB (D65)
    assert float(delta_e(x, x).max()) < 1e-4


def test_bounds_are_a_frozen_dataclass():
    with pytest.raises(dataclasses.FrozenInstanceError):
        MakeupBounds().grid = 3  # type: ignore[misc]


def test_coverage_makes_sheer_makeup_closer_to_bare_skin():
    crop, mask = _scene()
    layer = MakeupLayer((48, 48))
    full = (layer(crop, mask, RED, reference=True) - crop).abs().sum()
    sheer = (layer(crop, mask, RED, reference=True, coverage=0.5) - crop).abs().sum()
    assert 0 < sheer < 0.75 * full
