"""The cosmetics model on a real face: invariants that hold for any parameter values."""

from __future__ import annotations

import kornia
import numpy as np
import pytest
import torch
from skimage.draw import polygon

from masque.engines.parametric import PARAMS, CosmeticLayer, bounds_for
from masque.engines.parametric.geometry import MIRROR, FaceGeometry
from masque.engines.parametric.makeup import MAX_TEXTURE, SHADE_RADIUS
from masque.errors import InputError
from masque.makeup import resolve_plan


def _randomise(layer: CosmeticLayer, scale: float, seed: int = 0) -> None:
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in layer.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * scale)


def test_every_parameter_stays_in_bounds_for_any_raw_value(face):
    aligned, crop = face
    layer = CosmeticLayer(crop, aligned.landmarks68, resolve_plan("full glam", "max"))
    for scale in (0.0, 3.0, 100.0):
        _randomise(layer, scale)
        for product, values in layer.values().items():
            for name, value in values.items():
                b = bounds_for(product, "max")[name]
                assert b.lo - 1e-6 <= value <= b.hi + 1e-6, (product, name, value, b)


def test_strength_scales_opacity_bounds_and_caps_them():
    for product, params in PARAMS.items():
        for name, b in params.items():
            lo_hi = [bounds_for(product, s)[name] for s in ("subtle", "natural", "bold", "max")]
            assert all(a.hi <= c.hi + 1e-9 for a, c in zip(lo_hi, lo_hi[1:], strict=False)), (product, name)
            assert all(x.hi <= max(0.95, b.hi) + 1e-9 for x in lo_hi)
    with pytest.raises(InputError, match="`strength`"):
        bounds_for("blush", "huge")


def test_shades_stay_in_their_colour_family(face):
    aligned, crop = face
    layer = CosmeticLayer(crop, aligned.landmarks68, resolve_plan("full glam with berry lips", "max"))
    _randomise(layer, 50.0)
    with torch.no_grad():
        for product, radius in SHADE_RADIUS.items():
            if product not in layer.plan.products:
                continue
            moved = layer.shade_lab(product) - layer.shade_lab(product, reference=True)
            assert float(moved.norm()) <= radius * 3**0.5 + 1e-4, product


def test_more_strength_means_more_makeup(face):
    aligned, crop = face
    change = []
    for strength in ("subtle", "natural", "bold", "max"):
        with torch.no_grad():
            out = CosmeticLayer(crop, aligned.landmarks68, resolve_plan("full glam", strength))(reference=True)
        change.append(float((out - crop).abs().mean()))
    assert change == sorted(change) and change[0] > 0, change


def test_skin_is_never_turned_grey_or_green(face):
    """Skin products are skin-hued: on the cheeks and forehead the result keeps a warm hue (a*, b* > 0) even with
    every parameter at an extreme."""
    aligned, crop = face
    layer = CosmeticLayer(crop, aligned.landmarks68, resolve_plan("full glam", "max"))
    geo = FaceGeometry(aligned.landmarks68, crop.shape[-1])
    skin = torch.from_numpy(geo.regions.skin())
    for scale in (0.0, 100.0):
        _randomise(layer, scale, seed=1)
        with torch.no_grad():
            lab = kornia.color.rgb_to_lab(layer())[0]
        a, b = lab[1][skin], lab[2][skin]
        assert float((a < 0).float().mean()) < 0.01 and float((b < 0).float().mean()) < 0.01
        chroma_before = kornia.color.rgb_to_lab(crop)[0][1:, skin].norm(dim=0).mean()
        assert float(torch.stack([a, b]).norm(dim=0).mean()) > 0.6 * float(chroma_before)  # not greyed out


def _mirror_landmarks(lm: np.ndarray, size: int) -> np.ndarray:
    flipped = lm.copy()
    flipped[:, 0] = size - 1 - flipped[:, 0]
    idx = [MIRROR.get(i, i) for i in range(68)]
    return flipped[idx]


@pytest.mark.parametrize("product", ["contour", "highlight", "bronzer"])
def test_contour_highlight_bronzer_are_left_right_symmetric(face, product):
    """On a symmetric face (landmarks averaged with their mirror image) the shading shapes are mirror images for any
    parameter values: placements are mirrored, never drawn per side."""
    aligned, crop = face
    size = crop.shape[-1]
    lm = aligned.landmarks68
    sym = 0.5 * (lm + _mirror_landmarks(lm, size))
    layer = CosmeticLayer(crop, sym, resolve_plan("contoured", "max"))
    _randomise(layer, 2.0, seed=3)
    v = lambda p, n: layer.value(p, n)  # noqa: E731
    with torch.no_grad():
        shape = layer._shading_shape(product, v)
    assert float(shape.max()) > 0.05
    assert torch.allclose(shape, torch.flip(shape, dims=[-1]), atol=0.02 * float(shape.max()))


def test_gradients_reach_every_parameter(face):
    aligned, crop = face
    layer = CosmeticLayer(crop, aligned.landmarks68, resolve_plan("full glam", "bold"))
    layer().sum().backward()
    dead = [n for n, p in layer.named_parameters() if p.grad is None or float(p.grad.abs().sum()) == 0.0]
    assert not dead


def test_smooth_by_default_texture_is_opt_in_and_bounded(face):
    aligned, crop = face
    plan = resolve_plan("pink blush", "natural")
    smooth = CosmeticLayer(crop, aligned.landmarks68, plan)
    assert smooth.texture is None
    textured = CosmeticLayer(crop, aligned.landmarks68, plan, texture=MAX_TEXTURE,
                             generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        textured.texture.mul_(1e4)
        diff = (textured() - smooth()).abs().max()
    assert 0 < float(diff) <= MAX_TEXTURE + 1e-6
    with pytest.raises(InputError, match="`texture`"):
        CosmeticLayer(crop, aligned.landmarks68, plan, texture=0.05)


def test_lipstick_reads_as_its_shade(face):
    """The reference red lipstick makes the lips redder (a* up) and leaves the face outside the lips unchanged."""
    aligned, crop = face
    layer = CosmeticLayer(crop, aligned.landmarks68, resolve_plan("red lipstick", "natural"))
    with torch.no_grad():
        out = layer(reference=True)
    lm = aligned.landmarks68
    rr, cc = polygon(lm[48:60, 1], lm[48:60, 0], crop.shape[-2:])
    lips = torch.zeros(crop.shape[-2:], dtype=torch.bool)
    lips[rr, cc] = True
    a_before = kornia.color.rgb_to_lab(crop)[0, 1][lips].mean()
    a_after = kornia.color.rgb_to_lab(out)[0, 1][lips].mean()
    assert float(a_after) > float(a_before) + 5
    far = torch.ones_like(lips)
    far[: int(lm[:, 1].max()) + 10] = False  # well below the chin
    assert torch.equal(out[..., far], crop[..., far])
