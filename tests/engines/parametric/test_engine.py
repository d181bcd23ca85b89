"""ParametricEngine with the tiny random embedder: invariants of the optimisation, not face-recognition quality."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch
from skimage import data
from skimage.transform import resize

from masque.adversarial import pairwise_loss
from masque.embedders import create_embedder
from masque.engines import create_engine
from masque.engines.parametric import ParametricConfig, ParametricEngine
from masque.errors import InputError
from masque.pipeline import make_job
from masque.trace import CostTrace

SIZE = 64


@pytest.fixture(scope="module")
def scene():
    """A real face (skimage's astronaut), a lips-like box mask and a second, shifted view as the anchor."""
    img = data.astronaut()[20:220, 140:340] / 255.0
    crop = torch.tensor(resize(img, (SIZE, SIZE), anti_aliasing=True), dtype=torch.float32).permute(2, 0, 1)[None]
    anchor = torch.roll(crop, shifts=(1, 2), dims=(2, 3))
    mask = torch.zeros(1, 1, SIZE, SIZE)
    mask[..., 40:50, 22:44] = 1.0
    return crop, mask, anchor


@pytest.fixture(scope="module")
def embedders():
    return [create_embedder("tiny-random")]


def _engine(embedders, **kw):
    kw.setdefault("color", "red")
    kw.setdefault("steps", 15)
    kw.setdefault("stop_threshold", None)
    return create_engine("parametric", embedders=embedders, config=ParametricConfig(**kw))


def _protect(eng, crop, mask, prompt, anchors, seed=0, region_masks=None, trace=None):
    """The one job-building path (`masque.pipeline.make_job`), then the engine."""
    return eng.protect(make_job(eng, crop, mask, prompt, anchors=anchors, seed=seed, region_masks=region_masks,
                                trace=trace))


def test_registered_factory_builds_the_engine(embedders):
    eng = _engine(embedders)
    assert isinstance(eng, ParametricEngine) and eng.name == "parametric"


def test_protect_lowers_similarity_and_leaves_outside_untouched(scene, embedders):
    crop, mask, anchor = scene
    res = _protect(_engine(embedders), crop, mask, "red lipstick", [anchor], seed=0)
    outside = (mask == 0).expand_as(crop)
    assert torch.equal(res.image[outside], crop[outside])
    assert res.image.shape == crop.shape and res.image.min() >= 0 and res.image.max() <= 1
    before, after = res.similarity_before["tiny-random"], res.similarity_after["tiny-random"]
    assert after < before - 0.01
    # the reported "after" is the returned image's own similarity
    check = pairwise_loss(embedders, res.image, [anchor], backward=False).per_model["tiny-random"]
    assert check == pytest.approx(after, abs=1e-5)
    assert res.details["colors"]["lips"]["name"] == "red" and res.details["iterations"] == 15


def test_lips_turn_redder(scene, embedders):
    from masque.engines.parametric.makeup import masked_mean, rgb_to_lab

    crop, mask, anchor = scene
    res = _protect(_engine(embedders), crop, mask, "red lipstick", [anchor])
    a_before = masked_mean(rgb_to_lab(crop), mask)[0, 1]
    a_after = masked_mean(rgb_to_lab(res.image), mask)[0, 1]
    assert a_after > a_before + 5


@pytest.mark.parametrize("budget", [1.0, 4.0])
def test_perceptual_budget_holds_for_the_answer(scene, embedders, budget):
    crop, mask, anchor = scene
    res = _protect(_engine(embedders, budget_delta_e=budget, lr=0.2), crop, mask, "red lipstick", [anchor])
    assert res.details["delta_e_mean"] <= budget + 1e-4


def test_deterministic_for_a_seed(scene, embedders):
    crop, mask, anchor = scene
    eng = _engine(embedders, steps=8)
    a = _protect(eng, crop, mask, "red lipstick", [anchor], seed=1).image
    b = _protect(eng, crop, mask, "red lipstick", [anchor], seed=1).image
    c = _protect(eng, crop, mask, "red lipstick", [anchor], seed=2).image
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_early_stop_when_every_surrogate_is_below_target(scene, embedders):
    crop, mask, anchor = scene
    # threshold far0.1 = 0.5 for tiny-random; margin -1 puts the target at 1.5, so step 1 already satisfies it
    eng = _engine(embedders, stop_threshold="far0.1", stop_margin=-1.0, min_steps=3)
    res = _protect(eng, crop, mask, "red lipstick", [anchor])
    assert res.details["stopped_early"] and res.details["iterations"] == 3
    assert res.details["stop_targets"] == {"tiny-random": pytest.approx(1.5)}
    # an unreachable target (cosine below -1) never stops
    eng = _engine(embedders, steps=5, stop_threshold="far0.1", stop_margin=2.0)
    res = _protect(eng, crop, mask, "red lipstick", [anchor])
    assert not res.details["stopped_early"] and res.details["iterations"] == 5


def test_every_fr_call_is_counted(scene, embedders):
    crop, mask, anchor = scene
    prep = CostTrace()
    res = _protect(_engine(embedders, steps=6), crop, mask, "red lipstick", [anchor, anchor], trace=prep)
    tr = res.trace
    assert tr.backward["fr:tiny-random"] == 6
    assert prep.forward["fr:tiny-random"] == 2  # prepared once: anchors (one batched call) and the source
    assert tr.forward["fr:tiny-random"] == 1  # the answer; "before" comes from the prepared embeddings
    assert res.details["seconds"] > 0 and "settings" in res.details and res.details["settings"]["steps"] == 6


def test_bad_inputs_are_one_line_errors(scene, embedders):
    crop, mask, anchor = scene
    eng = _engine(embedders, steps=1)
    with pytest.raises(InputError, match="`mask` is empty"):
        _protect(eng, crop, torch.zeros_like(mask), "red lipstick", [anchor])
    with pytest.raises(InputError, match="`mask` must have shape"):
        _protect(eng, crop, mask[..., :10, :], "red lipstick", [anchor])
    with pytest.raises(InputError, match="`anchors`"):
        eng.protect(replace(make_job(eng, crop, mask, "red lipstick"), anchors=()))
    with pytest.raises(InputError, match="`embedders`"):
        ParametricEngine([])
    with pytest.raises(InputError, match="`stop_threshold`"):
        _protect(_engine(embedders, stop_threshold="far42"), crop, mask, "red lipstick", [anchor])
    with pytest.raises(InputError, match="`steps`"):
        ParametricConfig(steps=-1)


def test_auto_stop_target_uses_far001_or_the_only_rule(embedders):
    eng = _engine(embedders, stop_threshold="auto", stop_margin=0.1)
    assert eng.stop_targets() == {"tiny-random": pytest.approx(0.6 - 0.1)}  # tiny-random far0.01 = 0.6
    assert _engine(embedders, stop_threshold=None).stop_targets() is None


def test_shared_objective_options_pass_through(scene, embedders):
    """EOT and source repulsion come from masque.adversarial; the engine stays seeded and counts the extra call."""
    from masque.adversarial import EOTConfig, PairwiseConfig

    crop, mask, anchor = scene
    pw = PairwiseConfig(source_weight=0.5, eot=EOTConfig(samples=2, p=1.0))
    eng = _engine(embedders, steps=4, pairwise=pw)
    a = _protect(eng, crop, mask, "red lipstick", [anchor], seed=3)
    b = _protect(eng, crop, mask, "red lipstick", [anchor], seed=3)
    assert torch.equal(a.image, b.image)
    assert a.trace.forward["fr:tiny-random"] == 1  # the answer (anchors and source come prepared with the job)
    assert a.trace.backward["fr:tiny-random"] == 4
    outside = (mask == 0).expand_as(crop)
    assert torch.equal(a.image[outside], crop[outside])


def test_region_masks_give_each_region_its_own_shade(scene, embedders):
    from masque.engines.parametric.makeup import masked_mean, rgb_to_lab

    crop, mask, anchor = scene
    eyes = torch.zeros_like(mask)
    eyes[..., 18:26, 14:50] = 1.0
    regions = {"lips": mask, "eyes": eyes}
    eng = create_engine("parametric", embedders=embedders, config=ParametricConfig(steps=3, stop_threshold=None))
    res = _protect(eng, crop, torch.maximum(mask, eyes), "red lipstick and blue eyeshadow", [anchor],
                      region_masks=regions)
    assert res.details["colors"]["lips"]["name"] == "red" and res.details["colors"]["eyes"]["name"] == "blue"
    lab_in, lab_out = rgb_to_lab(crop), rgb_to_lab(res.image)
    assert masked_mean(lab_out, mask)[0, 1] > masked_mean(lab_in, mask)[0, 1] + 5  # lips: a* up (redder)
    assert masked_mean(lab_out, eyes)[0, 2] < masked_mean(lab_in, eyes)[0, 2] - 5  # eyes: b* down (bluer)
    with pytest.raises(InputError, match="region_masks"):
        _protect(eng, crop, mask, "red lipstick", [anchor], region_masks={"lips": mask[..., :5]})
