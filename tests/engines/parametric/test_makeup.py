"""The cosmetics model on a real face: invariants that hold for any parameter values."""

from __future__ import annotations

import kornia
import numpy as np
import pytest
import torch
from skimage.draw import polygon

from masque.engines.parametric import PARAMS, CosmeticLayer, bounds_for
from masque.engines.parametric.colour import CHROMA_RANGE, HUE_TOLERANCE
from masque.engines.parametric.geometry import MIRROR, FaceGeometry, forbidden_mask
from masque.engines.parametric.products import PRODUCTS
from masque.engines.parametric.settings import SHADE_LIGHTNESS
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
        for product, values in layer.settings.values().items():
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


def _lch(lab: torch.Tensor) -> tuple[float, float, float]:
    return float(lab[0]), float(torch.hypot(lab[1], lab[2])), float(torch.rad2deg(torch.atan2(lab[2], lab[1])))


@pytest.mark.parametrize("prompt", ["full glam with berry lips", "pink blush, red lipstick, smoky eyeshadow",
                                    "natural everyday look", "tan foundation"])
def test_shades_stay_in_their_colour_family_for_any_raw_value(face, prompt):
    """Lightness, chroma and hue are bounded separately: the hue never turns more than HUE_TOLERANCE / 2 degrees
    cooler (towards mauve/blue) nor HUE_TOLERANCE warmer, the chroma never more than CHROMA_RANGE / 2 duller, the
    lightness never more than half its range darker."""
    aligned, crop = face
    layer = CosmeticLayer(crop, aligned.landmarks68, resolve_plan(prompt, "max"))
    assert layer.settings.shade_raw
    for scale, seed in ((0.0, 0), (3.0, 1), (50.0, 2), (50.0, 3), (1e4, 4)):
        _randomise(layer, scale, seed)
        with torch.no_grad():
            for product in layer.settings.shade_raw:
                (l0, c0, h0), (l1, c1, h1) = _lch(layer.shade_lab(product, True)), _lch(layer.shade_lab(product))
                assert -SHADE_LIGHTNESS[product] / 2 - 1e-3 <= l1 - l0 <= SHADE_LIGHTNESS[product] + 1e-3, product
                assert c0 * (1 - CHROMA_RANGE / 2) - 1e-3 <= c1 <= c0 * (1 + CHROMA_RANGE) + 1e-3, (product, c0, c1)
                if c0 > 5.0:  # a hue angle means something
                    warm = 1.0 if np.sin(np.radians(60.0 - h0)) >= 0 else -1.0
                    turn = warm * ((h1 - h0 + 180.0) % 360.0 - 180.0)
                    assert -HUE_TOLERANCE / 2 - 1e-2 <= turn <= HUE_TOLERANCE + 1e-2, (product, h0, h1)


def _hue(lab: torch.Tensor, area: torch.Tensor) -> float:
    mean = lab[:, area].mean(1)
    return float(torch.rad2deg(torch.atan2(mean[2], mean[1])))


def test_rendered_lips_and_blush_keep_the_prompt_hue_for_any_raw_value(face):
    """What the optimiser can reach: the lips' and the blushed cheeks' mean hue stays between the wearer's own and
    the requested shade's (within a few degrees), never cooler than both (the mauve drift)."""
    aligned, crop = face
    layer = CosmeticLayer(crop, aligned.landmarks68, resolve_plan("full glam", "max"))
    lab_in = kornia.color.rgb_to_lab(crop)[0]
    with torch.no_grad():
        lips = (layer.lip_sd > 2) & ~torch.from_numpy(forbidden_mask(aligned.landmarks68, tuple(crop.shape[-2:])))
        blush = PRODUCTS["blush"].shape(layer, lambda p, n: layer.settings.value(p, n, True))
        cheeks = (blush > 0.6) & (layer.skin_area > 0.5)
    tol = 5.0
    for scale, seed in ((0.0, 0), (3.0, 1), (100.0, 2), (100.0, 3)):
        _randomise(layer, scale, seed)
        with torch.no_grad():
            lab_out = kornia.color.rgb_to_lab(layer())[0]
            for product, area in (("lipstick", lips), ("blush", cheeks)):
                shade = _lch(layer.shade_lab(product, True))[2]
                own = _hue(lab_in, area)
                got = _hue(lab_out, area)
                assert min(own, shade) - tol <= got <= max(own, shade) + HUE_TOLERANCE + tol, (product, own, shade,
                                                                                                got)


def test_smoky_eyeshadow_is_deepest_at_the_lash_line_and_never_on_the_eyes(face):
    """A smoky eye darkens the lid clearly already at the natural strength, most near the lashes, less towards the
    crease, and leaves the eye openings to the engine's crisp cut (the plan's mask reaches the lids)."""
    from masque.faces.regions import RegionMasker

    aligned, crop = face
    plan = resolve_plan("smoky eyeshadow", "natural")
    layer = CosmeticLayer(crop, aligned.landmarks68, plan)
    with torch.no_grad():
        out = layer(reference=True)
    drop = (kornia.color.rgb_to_lab(crop)[0, 0] - kornia.color.rgb_to_lab(out)[0, 0])
    (area, t, _), _ = layer.lids[0], layer.lids[1]
    lid = (area > 0.5) & ~torch.from_numpy(forbidden_mask(aligned.landmarks68, tuple(crop.shape[-2:])))
    near, crease = lid & (t < 0.2), lid & (t > 0.55) & (t < 0.8)
    assert float(drop[near].mean()) > 5.0, float(drop[near].mean())  # ΔL* 5: plainly visible
    assert float(drop[near].mean()) > 1.5 * float(drop[crease].mean())
    mask = torch.from_numpy(RegionMasker()(aligned, plan.regions))
    assert float(mask[near].mean()) > 0.9  # the lids are paint-able, not only the ring around the eye
    assert plan.products["eyeshadow"].rgb is not None


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
    v = lambda p, n: layer.settings.value(p, n)  # noqa: E731
    with torch.no_grad():
        shape = PRODUCTS[product].shape(layer, v)
    assert float(shape.max()) > 0.05
    assert torch.allclose(shape, torch.flip(shape, dims=[-1]), atol=0.02 * float(shape.max()))


def test_gradients_reach_every_parameter(face):
    aligned, crop = face
    layer = CosmeticLayer(crop, aligned.landmarks68, resolve_plan("full glam", "bold"))
    layer().sum().backward()
    dead = [n for n, p in layer.named_parameters() if p.grad is None or float(p.grad.abs().sum()) == 0.0]
    assert not dead


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


def test_the_registry_holds_one_class_per_vocabulary_product_in_render_order():
    """Every product the vocabulary names has its class (bounds, shade rule, render step, order); the layer paints
    them in the registry's order: foundation first, the shading products together, lipstick last."""
    from masque.engines.parametric.products import Shading, in_order
    from masque.makeup.vocabulary import PRODUCTS as WORDS

    assert set(PRODUCTS) == set(WORDS)
    order = [p.name for p in in_order(WORDS)]
    assert order[0] == "foundation" and order[-1] == "lipstick"
    shading = [i for i, p in enumerate(in_order(WORDS)) if isinstance(p, Shading)]
    assert shading == list(range(shading[0], shading[0] + 3))  # contour, bronzer, highlight: one multiply blend
    assert set(PARAMS) == set(WORDS) | {"eyeshadow:smoky"}
