"""ParametricEngine with the tiny random embedder on a real face: invariants of the optimisation."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
from skimage.draw import polygon

from masque.adversarial import BALANCES, TERMS, ObjectiveConfig, PairwiseLoss
from masque.embedders import create_embedder
from masque.engines import create_engine
from masque.engines.parametric import STRENGTH_PRESETS, ParametricConfig, ParametricEngine, bounds_for
from masque.errors import InputError
from masque.faces.regions import RegionMasker
from masque.makeup import resolve_plan
from masque.pipeline import make_job


@pytest.fixture(scope="module")
def embedders():
    return [create_embedder("tiny-random")]


def _engine(embedders, **kw):
    kw.setdefault("steps", 6)
    kw.setdefault("stop_threshold", None)
    return create_engine("parametric", embedders=embedders, config=ParametricConfig(**kw))


def _run(face, pair, embedders, prompt="full glam", mask=None, **kw):
    aligned, crop = face
    plan = resolve_plan(prompt, kw.get("strength", "natural"))
    if mask is None:
        mask = torch.from_numpy(RegionMasker()(aligned, plan.regions))[None, None]
    engine = _engine(embedders, **kw)
    job = make_job(engine, crop, mask, prompt, regions=plan.regions, plan=plan, anchors=[pair], aligned=aligned)
    return engine.protect(job), mask


def test_registered_factory_builds_the_engine(embedders):
    assert isinstance(_engine(embedders), ParametricEngine)


@pytest.mark.parametrize("optimise_size", [None, 64])  # 64: optimised on a half-size copy, rendered at full size
def test_pixels_outside_the_mask_are_bit_identical(face, pair, embedders, optimise_size):
    """Outside the mask and off the face: the mask's holes (eye openings, inner mouth) are moved with their lids and
    lips by the reshape, never painted (the next test), so the face's landmark hull is set aside here."""
    aligned, crop = face
    res, mask = _run(face, pair, embedders, "full glam", strength="max", lr=2.0, optimise_size=optimise_size)
    hull = np.zeros(crop.shape[-2:], bool)
    rr, cc = polygon(aligned.landmarks68[[*range(17), 26, 24, 19, 17], 1], aligned.landmarks68[[*range(17), 26, 24, 19,
                                                                                               17], 0], hull.shape)
    hull[rr, cc] = True
    outside = ((mask[0, 0] == 0) & ~torch.from_numpy(hull)).expand_as(crop[0])[None]
    assert torch.equal(res.image[outside], crop[outside])
    assert float((res.image - crop).abs().max()) > 0.05  # and it did paint inside


@pytest.mark.parametrize("prompt, optimise_size", [("full glam", None), ("smoky eye", None), ("red lipstick", None),
                                                   ("full glam", 64)])
def test_eyeballs_teeth_and_nostrils_are_never_painted(face, pair, embedders, prompt, optimise_size):
    """Polygons drawn here straight from the landmarks (not the engine's masks), with an all-ones mask so only the
    engine's own cut protects them."""
    aligned, crop = face
    lm, shape = aligned.landmarks68, crop.shape[-2:]
    keep = np.zeros(shape, bool)
    for idx in (slice(36, 42), slice(42, 48), slice(60, 68), slice(31, 36)):  # eyes, inner mouth, nostrils
        rr, cc = polygon(lm[idx, 1], lm[idx, 0], shape)
        keep[rr, cc] = True
    assert keep.sum() > 100
    res, _ = _run(face, pair, embedders, prompt, mask=torch.ones(1, 1, *shape), strength="max", lr=2.0,
                  optimise_size=optimise_size)
    keep_t = torch.from_numpy(keep).expand_as(crop[0])[None]
    painted = res.image if res.reshaped is None else res.reshaped.texture  # moved by the reshape, never painted
    assert torch.equal(painted[keep_t], crop[keep_t])


def test_optimised_parameters_stay_in_bounds_and_are_reported(face, pair, embedders):
    res, _ = _run(face, pair, embedders, "full glam", strength="bold", lr=5.0)
    params = res.details["parameters"]
    assert set(params) == set(resolve_plan("full glam").products)
    for product, values in params.items():
        for name, value in values.items():
            b = bounds_for(product, "bold")[name]
            assert b.lo - 1e-6 <= value <= b.hi + 1e-6


def test_similarity_drops_and_quality_is_reported(face, pair, embedders):
    res, _ = _run(face, pair, embedders, "full glam", strength="max", steps=10)
    before, after = res.similarity_before["tiny-random"], res.similarity_after["tiny-random"]
    assert after < before
    q = res.details["quality"]
    assert 0.5 < q["face_ssim"] < 1.0 and q["face_psnr"] > 15 and q["hf_energy"] >= 0
    assert set(q["shade_delta_e2000"]) == set(res.details["plan"]["products"])
    assert all(0 <= d <= 12 for d in q["shade_delta_e2000"].values())  # within the colour family
    assert res.details["plan"]["products"]["eyeliner"]["shade"] == "black"


def test_optimising_on_a_smaller_copy_renders_the_answer_at_full_size(face, pair, embedders):
    """The settings found at 64² are rendered on the 128² crop: the tutorial look (0 steps) is the same image either
    way, and after optimisation the answer is full-size, moved the surrogate, and its settings are in bounds."""
    full0, _ = _run(face, pair, embedders, "full glam", steps=0, optimise_size=None)
    small0, _ = _run(face, pair, embedders, "full glam", steps=0, optimise_size=64)
    assert torch.equal(full0.image, small0.image)
    res, _ = _run(face, pair, embedders, "full glam", strength="max", steps=8, optimise_size=64)
    assert res.image.shape == face[1].shape
    assert res.similarity_after["tiny-random"] < res.similarity_before["tiny-random"]
    for product, values in res.details["parameters"].items():
        for name, value in values.items():
            b = bounds_for(product, "max")[name]
            assert b.lo - 1e-6 <= value <= b.hi + 1e-6
    with pytest.raises(InputError, match="optimise_size"):
        ParametricConfig(optimise_size=8)


def test_deterministic_for_a_seed(face, pair, embedders):
    a, _ = _run(face, pair, embedders, "pink blush", steps=3)
    b, _ = _run(face, pair, embedders, "pink blush", steps=3)
    assert torch.equal(a.image, b.image)


def test_zero_steps_is_the_tutorial_makeup(face, pair, embedders):
    res, _ = _run(face, pair, embedders, "red lipstick", steps=0)
    assert res.details["iterations"] == 0 and float((res.image - face[1]).abs().max()) > 0.05


def test_every_fr_call_is_counted(face, pair, embedders):
    res, _ = _run(face, pair, embedders, "pink blush", steps=4)
    assert res.trace.backward["fr:tiny-random"] == 4  # one FR backward per step
    assert res.trace.nfe() > _run(face, pair, embedders, "pink blush", steps=2)[0].trace.nfe()


def test_bad_inputs_are_one_line_errors(face, pair, embedders):
    aligned, crop = face
    eng = _engine(embedders)
    mask = torch.ones(1, 1, *crop.shape[-2:])
    with pytest.raises(InputError, match="`mask` is empty"):
        eng.protect(make_job(eng, crop, mask * 0, "red lipstick", anchors=[pair], aligned=aligned))
    with pytest.raises(InputError, match="`strength`"):
        ParametricConfig(strength="heavy")
    with pytest.raises(InputError, match="`finish`"):
        ParametricConfig(finish=40.0)
    with pytest.raises(InputError, match="names no makeup"):
        eng.plan("sparkly unicorn")


def test_the_plan_is_resolved_at_the_configured_strength_and_gives_the_regions(embedders):
    eng = _engine(embedders, strength="bold")
    assert eng.plan("full glam").strength == "bold"
    assert eng.plan("full glam").regions == ("lips", "eyes", "brows", "cheeks", "skin")
    assert eng.plan("red lipstick").regions == ("lips",)


def test_early_stop_waits_for_the_minimum_steps(face, pair, embedders):
    """Targets above any cosine (a negative stop margin) count every surrogate as past from the first step, so the run
    stops as soon as it may: after ``min_steps``; `max` waits for its preset's minimum (capped by the steps)."""
    res, _ = _run(face, pair, embedders, "pink blush", steps=8, min_steps=3, stop_threshold="auto", stop_margin=-10)
    assert res.details["iterations"] == 3 and res.details["stopped_early"]
    res, _ = _run(face, pair, embedders, "pink blush", strength="max", steps=8, stop_threshold="auto",
                  stop_margin=-10)
    assert res.details["iterations"] == 8 and not res.details["stopped_early"]
    preset = STRENGTH_PRESETS["max"]
    assert 1 < preset.min_steps <= preset.steps
    assert ParametricConfig(strength="max").resolved().min_steps == preset.min_steps
    assert ParametricConfig(strength="max", steps=5).resolved().min_steps == 5


def test_gradient_balancing_gives_every_surrogate_a_unit_share():
    """Each model's image gradient counts with unit norm, so a model whose loss is 1000x steeper does not drown the
    other; a model already past its stop target counts `balance_done`."""
    image = torch.rand(1, 3, 8, 8, requires_grad=True)
    wa, wb = torch.randn(1, 3, 8, 8), torch.randn(1, 3, 8, 8)
    adv = PairwiseLoss(loss=torch.zeros(()), per_model={"a": 0.9, "b": 0.9}, worst={"a": 0.9, "b": 0.1},
                       terms={"a": (image * wa).sum(), "b": 1000 * (image * wb).sum()})
    got = BALANCES["gradient"](adv, lambda loss, retain: torch.autograd.grad(loss, image, retain_graph=retain)[0],
                               {"a": 0.5, "b": 0.5}, 0.25)
    want = wa / wa.norm() + 0.25 * wb / wb.norm()
    assert torch.allclose(got, want, atol=1e-6)
    with pytest.raises(InputError, match="balance"):
        ObjectiveConfig(balance="max")
    assert ParametricConfig(strength="max").resolved().objective.balance == STRENGTH_PRESETS["max"].balance


def test_a_balanced_run_lowers_the_similarity(face, pair, embedders):
    res, _ = _run(face, pair, embedders, "full glam", strength="max", steps=6,
                  objective=replace(ParametricConfig().objective, balance="gradient"))
    assert res.similarity_after["tiny-random"] < res.similarity_before["tiny-random"]
    assert res.details["settings"]["objective"]["balance"] == "gradient"


def test_a_new_term_reaches_the_parametric_engine_with_no_engine_change(face, pair, embedders, probe_term):
    """Acceptance of issue 27: a term registered outside the engines is optimised by the parametric engine from its
    configuration alone, and the sidecar names it."""
    Probe, calls = probe_term
    assert TERMS["test-probe"] is Probe
    aligned, crop = face
    plan = resolve_plan("red lipstick", "natural")
    mask = torch.from_numpy(RegionMasker()(aligned, plan.regions))[None, None]
    results = {}
    for name, extra in (("plain", ()), ("new", (Probe(5.0),))):
        objective = replace(ParametricConfig().objective, terms=(*ParametricConfig().objective.terms, *extra))
        engine = create_engine("parametric", embedders=embedders, config=ParametricConfig(
            steps=2, stop_threshold=None, objective=objective))
        job = make_job(engine, crop, mask, "red lipstick", regions=plan.regions, plan=plan, anchors=[pair],
                       aligned=aligned)
        calls.clear()
        results[name] = engine.protect(job)
        assert bool(calls) == (name == "new")
    kinds = [t["kind"] for t in results["new"].details["settings"]["objective"]["terms"]]
    assert kinds == ["dodge", "repel", "test-probe"]
    assert not torch.equal(results["new"].image, results["plain"].image)


def test_the_sidecar_objective_loads_back_into_the_configuration_that_ran(face, pair, embedders):
    """The objective a run used (terms by kind, EOT, the preset's balance) is in the sidecar and loads back equal."""
    import json

    res, _ = _run(face, pair, embedders, "red lipstick", strength="max", steps=1)
    stored = json.loads(json.dumps(res.details["settings"]["objective"]))
    ran = ParametricConfig(strength="max", steps=1, stop_threshold=None).resolved().objective
    assert ObjectiveConfig.from_dict(stored) == ran and ran.balance == "gradient" and ran.eot.samples == 2


def test_a_stronger_level_starts_from_the_level_below(face, pair, embedders):
    """Escalation goes on from where the level below stopped (`ProtectResult.state` -> ``start``): with zero steps
    the stronger level's answer is the start itself rendered at its own strength, not the tutorial makeup, and a
    carrier the start lacks (or has in another shape) starts fresh."""
    aligned, crop = face
    low, _ = _run(face, pair, embedders, "full glam", strength="natural", steps=3, lr=2.0)
    assert low.state is not None and set(low.state) == {"cosmetics", "finish", "reshape"}
    plan = resolve_plan("full glam", "bold")
    mask = torch.from_numpy(RegionMasker()(aligned, plan.regions))[None, None]
    engine = _engine(embedders, strength="bold", steps=0)
    job = make_job(engine, crop, mask, "full glam", regions=plan.regions, plan=plan, anchors=[pair], aligned=aligned)
    fresh, warm = engine.protect(job), engine.protect(job, start=low.state)
    assert not torch.equal(fresh.image, warm.image)
    for name in ("cosmetics", "finish", "reshape"):
        for key, value in low.state[name].items():
            assert torch.equal(warm.state[name][key], value), (name, key)
    partial = engine.protect(job, start={"cosmetics": low.state["cosmetics"]})
    assert float(partial.state["finish"]["theta"].abs().max()) == 0.0  # absent from the start: fresh
