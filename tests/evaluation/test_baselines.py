"""PGD baselines on the shared pairwise objective: the budget holds, the loss falls, the mask confines."""

from __future__ import annotations

import pytest
import torch

from masque.adversarial import pairwise_loss
from masque.embedders import create_embedder
from masque.errors import InputError
from masque.evaluation.baselines import PGDBaseline, PGDConfig
from masque.pipeline import make_job


@pytest.fixture(scope="module")
def tiny():
    return create_embedder("tiny-random")


def _crop(seed: int, size: int = 64) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(1, 3, size, size, generator=g) * 0.8 + 0.1


def _protect(engine, crop, mask, anchor):
    return engine.protect(make_job(engine, crop, mask, "red lipstick", anchors=[anchor]))


def test_pgd_stays_in_budget_and_lowers_the_pairwise_loss(tiny):
    crop, anchor = _crop(0), _crop(1)
    cfg = PGDConfig(epsilon=4 / 255, step_size=1 / 255, steps=6)
    result = _protect(PGDBaseline([tiny], cfg), crop, torch.ones(1, 1, 64, 64), anchor)
    delta = result.image - crop
    assert float(delta.abs().max()) <= cfg.epsilon + 1e-6
    assert float(delta.abs().max()) > cfg.epsilon / 2  # it actually moved
    assert float(result.image.min()) >= 0 and float(result.image.max()) <= 1
    before = pairwise_loss([tiny], crop, [anchor], backward=False).loss
    after = pairwise_loss([tiny], result.image, [anchor], backward=False).loss
    assert after < before
    assert result.trace.calls("fr:tiny-random") >= cfg.steps
    assert result.similarity_after["tiny-random"] < result.similarity_before["tiny-random"]


def test_masked_pgd_leaves_pixels_outside_the_mask_untouched(tiny):
    crop, anchor = _crop(2), _crop(3)
    mask = torch.zeros(1, 1, 64, 64)
    mask[..., 20:44, 16:48] = 1.0
    result = _protect(PGDBaseline([tiny], PGDConfig(steps=3), masked=True), crop, mask, anchor)
    changed = (result.image - crop).abs().amax(1, keepdim=True) > 0
    assert bool(changed[mask > 0].any())
    assert not bool(changed[mask == 0].any())


def test_bad_budget_is_an_input_error(tiny):
    with pytest.raises(InputError, match="--epsilon"):
        PGDBaseline([tiny], PGDConfig(epsilon=0))
    with pytest.raises(InputError, match="--pgd-steps"):
        PGDBaseline([tiny], PGDConfig(steps=0))
