"""The protective finish (issue 19): confined to its mask, bounded by its amplitude, zero at amplitude 0, band-limited;
the strength dial, `with_strength` and the white-box report."""

from __future__ import annotations

import pytest
import torch

from masque.adversarial import EOTConfig, ObjectiveConfig
from masque.embedders import create_embedder
from masque.engines import create_engine
from masque.engines.parametric import STRENGTH_PRESETS, Finish, FinishConfig, ParametricConfig, ParametricEngine
from masque.engines.parametric.finish import edge_fade
from masque.engines.parametric.geometry import forbidden_mask
from masque.engines.parametric.makeup import CosmeticLayer
from masque.engines.parametric.render import Canvas, finish_support
from masque.errors import InputError
from masque.faces.regions import RegionMasker
from masque.makeup import STRENGTHS, resolve_plan
from masque.pipeline import make_job

BOUND_TOL = 1e-6  # float32 rounding of ε · fade · (luma + chroma mix)


@pytest.fixture(scope="module")
def embedders():
    return [create_embedder("tiny-random")]


def _support(size=96):
    s = torch.zeros(1, 1, size, size)
    s[..., 20:70, 15:80] = 1.0
    return s


class _OnSupport:
    """A finish field saturated by random parameters, laid on one support (its fade computed once)."""

    def __init__(self, support, amplitude, config=FinishConfig(), saturate=True):
        self.field = Finish(support.shape[-1], amplitude, config)
        self.fade = self.field.fade_of(support)
        if saturate:
            with torch.no_grad():
                self.field.theta.copy_(torch.randn(self.field.theta.shape,
                                                   generator=torch.Generator().manual_seed(1)) * 50)

    def __call__(self):
        return self.field(self.fade)

    def usage(self):
        return self.field.usage(self.fade)


_saturated = _OnSupport


def test_finish_is_bounded_confined_and_zero_at_zero_amplitude():
    support = _support()
    eps = 8 / 255
    with torch.no_grad():
        delta = _saturated(support, eps)()
        zero = _saturated(support, 0.0)()
    assert float(delta.abs().max()) <= eps + BOUND_TOL
    assert float(delta.abs().max()) > 0.5 * eps  # saturated parameters reach a good part of the bound
    assert torch.equal(delta * (support == 0), torch.zeros_like(delta))  # exactly nothing outside the support
    assert torch.equal(zero, torch.zeros_like(zero))
    with pytest.raises(InputError, match="amplitude"):
        Finish(support.shape[-1], -1.0)
    with pytest.raises(InputError, match="`support` must be 96"):
        Finish(96, eps).fade_of(torch.ones(1, 1, 64, 64))


def test_finish_is_luminance_led_and_fades_at_the_edge():
    support = _support()
    eps = 8 / 255
    with torch.no_grad():
        delta = _saturated(support, eps)()
    colour = delta - delta.mean(1, keepdim=True)  # what is not the same in every channel
    assert float(colour.abs().max()) <= FinishConfig().chroma * eps * 1.5 + BOUND_TOL
    support = torch.zeros(1, 1, 256, 256)
    support[..., 50:200, 40:220] = 1.0
    fade = edge_fade(support, FinishConfig().edge)[0, 0, :, 130]  # a column through the middle
    assert float(fade[49]) == 0.0 and float(fade[50]) < 0.15 and float(fade[60]) > 0.9  # 0 → 1 within 10 px
    assert torch.all(fade[50:61].diff() >= 0)


def test_finish_is_band_limited():
    """No single-pixel speckle or hard edges even with saturated parameters: structure with periods under 4 px is a
    small share of the field's energy (a 256² crop, where `fine` is 1 px)."""
    support = torch.ones(1, 1, 256, 256)
    with torch.no_grad():
        luma = _saturated(support, 1.0)()[0, 0, 32:224, 32:224]
    spectrum = torch.fft.fft2(luma - luma.mean()).abs() ** 2
    n = luma.shape[0]
    f = torch.fft.fftfreq(n).abs()
    high = (f[:, None] > 0.25) | (f[None, :] > 0.25)  # periods under 4 px
    assert float(spectrum[high].sum() / spectrum.sum()) < 0.1


def _job(engine, face, pair, prompt="full glam"):
    aligned, crop = face
    plan = resolve_plan(prompt, engine.config.strength)
    mask = torch.from_numpy(RegionMasker()(aligned, plan.regions))[None, None]
    return make_job(engine, crop, mask, prompt, regions=plan.regions, plan=plan, anchors=[pair], aligned=aligned), mask


def test_the_engine_never_touches_pixels_outside_the_area_and_never_the_openings(face, pair, embedders):
    aligned, crop = face
    engine = create_engine("parametric", embedders=embedders,
                           config=ParametricConfig(steps=2, finish=12.0, stop_threshold=None, reshape=0.0))
    job, mask = _job(engine, face, pair)
    out = engine.protect(job).image  # what is painted (the reshape, which moves pixels, has its own tests)
    forbidden = torch.from_numpy(forbidden_mask(aligned.landmarks68, crop.shape[-2:]))
    outside = (mask[0, 0] == 0) | forbidden
    assert torch.equal(out[0][:, outside], crop[0][:, outside])
    plan = resolve_plan("full glam", "natural")
    canvas = Canvas.of(crop, mask, aligned.landmarks68, crop.shape[-1])
    support = finish_support(canvas, CosmeticLayer(canvas.crop, canvas.landmarks, plan))
    brows = torch.from_numpy(CosmeticLayer(canvas.crop, canvas.landmarks, plan).geo.regions.brows())
    assert float(support[0, 0][brows].abs().max()) == 0.0  # brows are hair: no finish


def test_the_finish_changes_the_result_by_at_most_its_amplitude(face, pair, embedders):
    """Same cosmetic settings (0 steps = the reference makeup, then finish parameters forced to saturation)."""
    aligned, crop = face
    plan = resolve_plan("full glam", "natural")
    mask = torch.from_numpy(RegionMasker()(aligned, plan.regions))[None, None]
    canvas = Canvas.of(crop, mask, aligned.landmarks68, crop.shape[-1])
    layer = CosmeticLayer(canvas.crop, canvas.landmarks, plan)
    eps = 6 / 255
    fin = _saturated(finish_support(canvas, layer), eps)
    with torch.no_grad():
        made = layer()
        with_finish = canvas.compose((made + fin()).clamp(0, 1))
        without = canvas.compose(made)
    assert float((with_finish - without).abs().max()) <= eps + BOUND_TOL
    assert float((with_finish - without).abs().max()) > 0


def test_strength_presets_fill_the_config_and_the_sidecar_states_the_amplitude(face, pair, embedders):
    assert list(STRENGTH_PRESETS) == list(STRENGTHS)
    amplitudes = [STRENGTH_PRESETS[s].finish for s in STRENGTHS]
    assert amplitudes == sorted(amplitudes)  # escalation climbs in order
    engine = create_engine("parametric", embedders=embedders,
                           config=ParametricConfig(strength="bold", steps=1, stop_threshold=None))
    res = engine.protect(_job(engine, face, pair)[0])
    assert res.details["settings"]["finish"] == pytest.approx(STRENGTH_PRESETS["bold"].finish)
    assert res.details["settings"]["steps"] == 1  # a user's explicit steps win over the preset
    assert ParametricConfig(strength="max").resolved().steps == STRENGTH_PRESETS["max"].steps
    assert ParametricConfig(strength="max", finish=0).resolved().finish == 0
    for level in STRENGTHS:  # the EOT copies per step follow the preset unless the user set an EOT of their own
        assert ParametricConfig(strength=level).resolved().objective.eot.samples == STRENGTH_PRESETS[level].eot_samples
    own = ObjectiveConfig(eot=EOTConfig(samples=3))
    assert ParametricConfig(strength="max", objective=own).resolved().objective.eot.samples == 3
    assert ParametricConfig(strength="max", eot=False).resolved().objective.eot is None
    with pytest.raises(InputError, match="`finish`"):
        ParametricConfig(finish=-1)


def test_with_strength_keeps_the_embedders_and_changes_only_the_strength(embedders):
    engine = ParametricEngine(embedders, ParametricConfig(steps=3, lr=0.2))
    other = engine.with_strength("max")
    assert len(other.embedders) == len(engine.embedders)
    assert all(a is b for a, b in zip(other.embedders, engine.embedders, strict=True))
    assert other.config.strength == "max" and engine.config.strength == "natural"
    assert {k: v for k, v in vars(other.config).items() if k != "strength"} == {
        k: v for k, v in vars(engine.config).items() if k != "strength"}
    with pytest.raises(InputError, match="`strength`"):
        engine.with_strength("extreme")


def test_white_box_report_agrees_with_similarity_after(face, pair, embedders):
    engine = create_engine("parametric", embedders=embedders, config=ParametricConfig(steps=2, stop_threshold=None))
    res = engine.protect(_job(engine, face, pair)[0])
    for m in embedders:
        assert res.details["white_box"][m.name] == (res.similarity_after[m.name] < m.verdict_threshold)


def test_usage_reports_how_much_of_the_bound_is_used():
    """The sidecar's finish usage: ε itself, the largest |Δ| within it, the mean over the support below that; a
    finish that has not moved uses none of it."""
    eps = 8 / 255
    used = _saturated(_support(), eps).usage()
    assert used["amplitude"] == pytest.approx(8.0, abs=1e-4)
    assert 0 < used["mean_abs"] <= used["max_abs"] <= 8.0 + BOUND_TOL * 255
    idle = _OnSupport(_support(), eps, saturate=False).usage()
    assert idle["mean_abs"] == pytest.approx(0.0, abs=1e-9) and idle["max_abs"] == pytest.approx(0.0, abs=1e-9)
