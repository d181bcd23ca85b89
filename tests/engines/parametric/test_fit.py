"""fit / select / render: portable carriers fitted on several faces at once and painted on a face they never saw."""

from __future__ import annotations

import pytest
import torch

from masque.adversarial import Objective, ObjectiveConfig, encode_anchors
from masque.embedders import create_embedder
from masque.engines.parametric import FinishConfig
from masque.engines.parametric.carriers import Carriers
from masque.engines.parametric.fit import fit, select
from masque.engines.parametric.render import Canvas, Painter
from masque.faces.regions import RegionMasker
from masque.makeup import resolve_plan

from .conftest import _aligned


@pytest.fixture(scope="module")
def faces(faces_dir):
    from masque.faces.align import crop_to_tensor

    plan = resolve_plan("full glam", "natural")
    out = []
    for name in ("obama.jpg", "obama2.jpg", "obama3.jpg"):
        aligned = _aligned(faces_dir / name)
        mask = torch.from_numpy(RegionMasker()(aligned, plan.regions))[None, None].float()
        out.append(Canvas.of(crop_to_tensor(aligned.crop), mask, aligned.landmarks68, 128))
    return plan, out


def _objective(model, anchor: torch.Tensor) -> Objective:
    return Objective([model], ObjectiveConfig(), encode_anchors([model], [anchor]))


def test_one_set_of_carriers_is_fitted_on_two_faces_and_painted_on_a_third(faces):
    plan, (a, b, c) = faces
    model = create_embedder("tiny-random")
    carriers = Carriers.new(plan, 128, lr=0.3, finish=4.0, finish_lr=0.3, finish_shape=FinishConfig())
    painters = [Painter(a, plan, carriers), Painter(b, plan, carriers)]
    objectives = [_objective(model, b.crop), _objective(model, a.crop)]  # each photo away from the other
    start = carriers.snapshot()
    fitted = fit(painters, objectives, carriers, steps=3, min_steps=3)
    assert fitted.steps_run == 3 and not fitted.stopped_early and len(fitted.candidates) == 1
    choice = select(painters, objectives, carriers, fitted.candidates)
    assert len(choice.images) == 2 and choice.candidate.iteration >= 1
    moved = carriers.snapshot()
    assert any(not torch.equal(start[k][n], moved[k][n]) for k in start for n in start[k])
    # the same carriers on a face they were not fitted on: its own landmarks and skin, nothing outside its area
    with torch.no_grad():
        third = Painter(c, plan, carriers)()
    outside = (c.area == 0).expand_as(c.crop)
    assert torch.equal(third.image[outside], c.crop[outside])
    assert float((third.image - c.crop).abs().max()) > 0.02 and third.geometry is None
