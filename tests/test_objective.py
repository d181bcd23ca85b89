"""The pluggable objective: named terms, their configuration round trip, the spread term, the mirror EOT, and the
score / stop / choose rules the engines share (a new term reaching an engine: tests/engines/*/)."""

from __future__ import annotations

import json
from dataclasses import asdict

import pytest
import torch

from masque.adversarial import (
    EOT,
    Dodge,
    EOTConfig,
    Objective,
    ObjectiveConfig,
    Repel,
    Spread,
    encode_anchors,
    pairwise_loss,
)
from masque.embedders import create_embedder
from masque.errors import InputError


@pytest.fixture(scope="module")
def tiny():
    return create_embedder("tiny-random", weights=None)


def _crop(seed: int, size: int = 32) -> torch.Tensor:
    return torch.rand(1, 3, size, size, generator=torch.Generator().manual_seed(seed))


def test_a_configuration_round_trips_through_the_sidecar_json():
    config = ObjectiveConfig(terms=(Dodge(worst_anchor=0.5), Repel(0.7), Spread(0.2)), calibrated=True, floor=-0.3,
                             eot=EOTConfig(samples=2, flip=0.5), balance="gradient", balance_done=0.1)
    stored = json.loads(json.dumps(asdict(config)))
    assert [t["kind"] for t in stored["terms"]] == ["dodge", "repel", "spread"]
    assert ObjectiveConfig.from_dict(stored) == config
    assert ObjectiveConfig.from_dict({}) == ObjectiveConfig()


@pytest.mark.parametrize("data, match", [
    ({"terms": [{"kind": "nope"}]}, "`kind` must be one of"),
    ({"terms": [{"kind": "dodge", "wieght": 1}]}, "no field"),
    ({"terms": [{"kind": "dodge", "weight": 0}]}, "non-zero weight"),
    ({"terms": [{"kind": "dodge"}, {"kind": "dodge"}]}, "each kind once"),
    ({"balance": "max"}, "`balance` must be one of"),
    ({"shaping": 1}, "no field"),
])
def test_bad_configurations_are_one_line_errors(data, match):
    with pytest.raises(InputError, match=match) as err:
        ObjectiveConfig.from_dict(data)
    assert "\n" not in str(err.value)


def test_spread_is_the_mean_cosine_between_different_protected_crops(tiny):
    x, a = torch.cat([_crop(0), _crop(4), _crop(5)]), [_crop(1)]
    base = pairwise_loss([tiny], x, a)
    res = pairwise_loss([tiny], x, a, config=ObjectiveConfig(terms=(Dodge(), Spread(0.5))))
    with torch.no_grad():
        e = tiny(x)
        pairs = (e @ e.T)[~torch.eye(3, dtype=torch.bool)]
    assert float(res.loss) == pytest.approx(float(base.loss) + 0.5 * float(pairs.mean()), abs=1e-6)
    one = pairwise_loss([tiny], x[:1], a, config=ObjectiveConfig(terms=(Dodge(), Spread(0.5))))
    assert float(one.loss) == pytest.approx(float(pairwise_loss([tiny], x[:1], a).loss), abs=1e-7)  # no pair: 0
    xg = x.clone().requires_grad_(True)  # it pushes the crops apart: its gradient is not zero
    pairwise_loss([tiny], xg, a, config=ObjectiveConfig(terms=(Spread(1.0),))).loss.backward()
    assert float(xg.grad.abs().sum()) > 0


def test_spread_counts_pairs_within_each_eot_draw(tiny):
    """Under EOT the embeddings are sample-major: crop i of one draw is compared with crop j of the same draw."""
    x, a = torch.cat([_crop(0), _crop(4)]), [_crop(1)]
    cfg = EOTConfig(samples=2, p=1.0, seed=2, per_model=False)
    got = pairwise_loss([tiny], x, a, config=ObjectiveConfig(terms=(Spread(1.0),)), eot=EOT(cfg))
    with torch.no_grad():
        e = tiny(EOT(cfg)(x)).reshape(2, 2, -1)
        want = (e[:, 0] * e[:, 1]).sum(-1).mean()
    assert float(got.loss) == pytest.approx(float(want), abs=1e-6)


def test_the_mirror_is_drawn_last_and_only_when_configured():
    x = _crop(0, 16)
    plain, mirrored = EOT(EOTConfig(samples=1, p=1.0, seed=1)), EOT(EOTConfig(samples=1, p=1.0, seed=1, flip=1.0))
    assert torch.allclose(mirrored(x), plain(x).flip(-1))
    with pytest.raises(InputError, match="flip"):
        EOT(EOTConfig(flip=2.0))


def test_the_objective_scores_stops_and_chooses_by_its_targets(tiny):
    x, a = _crop(0), [_crop(1)]
    anchors = encode_anchors([tiny], a)
    cos = pairwise_loss([tiny], x, anchors).worst["tiny-random"]
    loose = Objective([tiny], ObjectiveConfig(), anchors, targets={"tiny-random": cos + 0.1})
    strict = Objective([tiny], ObjectiveConfig(), anchors, targets={"tiny-random": cos - 0.1})
    adv = loose(x)
    assert loose.score(adv) == pytest.approx(-0.1, abs=1e-5) and loose.reached(adv, x)
    assert strict.distance(adv) == pytest.approx(0.1, abs=1e-5) and not strict.reached(adv, x)
    assert not Objective([tiny], ObjectiveConfig(), anchors).reached(adv, x)  # no targets: never stops early
    with pytest.raises(InputError, match="`source` is required"):
        Objective([tiny], ObjectiveConfig(terms=(Dodge(), Repel())), anchors)


def _protection_table():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "protection_table.py"
    spec = importlib.util.spec_from_file_location("protection_table", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_experiments_are_configurations_of_the_frontier_benchmark():
    """What `benchmarks/experiments/transfer_variants.patch` held as code is now `--set` of a configuration: the
    mirror EOT, a term switched off, a registered term added, another balance."""
    from masque.engines.parametric import ParametricConfig

    table = _protection_table()
    config = ParametricConfig(strength="max")
    for item in ("objective.eot.flip=0.5", "objective.terms.repel.weight=0", "objective.terms.spread.weight=0.5",
                 "objective.balance=loss", "objective.floor=-0.3"):
        config = table.override(config, item)
    objective = config.resolved().objective
    assert objective.eot.flip == 0.5 and objective.balance == "loss" and objective.floor == -0.3
    assert [(t.kind, t.weight) for t in objective.terms] == [("dodge", 1.0), ("repel", 0), ("spread", 0.5)]
    with pytest.raises(SystemExit, match="no objective term"):
        table.override(config, "objective.terms.fia.weight=1")
