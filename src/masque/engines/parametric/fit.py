"""Fit and select: optimise the carriers for one or several faces, then choose among the candidate iterates.

`fit` runs Adam on the carriers against each face's `Objective` (one painter and one objective per face; the
carriers are shared, so several photos of a person fit one portable set). It keeps the best iterate by the
objective's score (the worst surrogate past its stop target, on this step's EOT draw) and stops once every face's
objective is reached. `select` judges the candidates without EOT on the faces at full size and keeps the one
furthest past the targets: under EOT the "best" iterate was judged on one random draw, so the last iterate is a
second candidate.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch

from ...adversarial import Objective, PairwiseLoss
from ...optim import Adam
from ..base import Reshaped
from .carriers import Carriers, CarrierState
from .render import Painter

StepCallback = Callable[[int, int], None]


@dataclass
class Candidate:
    """A candidate iterate: the carriers' state (None: the reference makeup, nothing fitted) after ``iteration``
    steps."""

    state: CarrierState | None
    iteration: int


@dataclass
class Fit:
    candidates: list[Candidate]
    steps_run: int
    stopped_early: bool


@dataclass
class Choice:
    """The chosen candidate, its render on each face (and the motion of each, when a carrier moves pixels) and the
    objective's judgement of it (without EOT)."""

    candidate: Candidate
    images: list[torch.Tensor]
    judged: list[PairwiseLoss] = field(default_factory=list)
    geometry: list[Reshaped | None] = field(default_factory=list)


def _grad_of(image: torch.Tensor):
    return lambda loss, retain: torch.autograd.grad(loss, image, retain_graph=retain)[0]


def fit(painters: Sequence[Painter], objectives: Sequence[Objective], carriers: Carriers, *, steps: int,
        min_steps: int, on_step: StepCallback | None = None, started: bool = False) -> Fit:
    """Up to ``steps`` Adam steps on ``carriers`` (never stopping before ``min_steps``), painter i judged by
    objective i; each face's step direction is its objective's balancing strategy, summed over faces. ``started``:
    the carriers already hold a start (`Carriers.start_from`), which is then the step-0 candidate instead of the
    reference makeup."""
    if len(painters) != len(objectives) or not painters:
        raise ValueError("`fit` needs one objective per painter, and at least one face")
    opts = [Adam(module.parameters(), lr=lr) for _, module, lr in carriers.optimised()]
    best_score, best = float("inf"), Candidate(carriers.snapshot() if started else None, 0)
    steps_run, stopped_early = 0, False
    for step in range(steps):
        rendered = [painter().image for painter in painters]
        images = [r.detach().requires_grad_() for r in rendered]
        advs = [objective(image) for objective, image in zip(objectives, images, strict=True)]
        steps_run = step + 1
        score = max(objective.score(adv) for objective, adv in zip(objectives, advs, strict=True))
        if score < best_score:
            best_score, best = score, Candidate(carriers.snapshot(), step + 1)
        if on_step is not None:
            on_step(steps_run, steps)
        if min_steps <= steps_run < steps and all(
                objective.reached(adv, image) for objective, adv, image in zip(objectives, advs, images, strict=True)):
            stopped_early = True
            break
        for opt in opts:
            opt.zero_grad()
        for objective, adv, image, out in zip(objectives, advs, images, rendered, strict=True):
            out.backward(objective.gradient(adv, _grad_of(image)))
        for opt in opts:
            opt.step()
    candidates = [best]
    if any(objective.eot is not None for objective in objectives) and steps_run and not stopped_early:
        candidates.append(Candidate(carriers.snapshot(), steps_run))
    return Fit(candidates, steps_run, stopped_early)


@torch.no_grad()
def select(painters: Sequence[Painter], objectives: Sequence[Objective], carriers: Carriers,
           candidates: Sequence[Candidate]) -> Choice:
    """The candidate whose worst face is furthest past its goal (`Objective.distance`), judged without EOT on
    ``painters`` (the faces at full size); the carriers are left in the chosen state."""
    chosen, chosen_score = None, float("inf")
    for candidate in candidates:
        if candidate.state is not None:
            carriers.load(candidate.state)
        renders = [painter(reference=candidate.state is None) for painter in painters]
        images = [r.image for r in renders]
        judged = [objective.judge(image) for objective, image in zip(objectives, images, strict=True)]
        score = max(objective.distance(j) for objective, j in zip(objectives, judged, strict=True))
        if chosen is None or score < chosen_score:
            chosen, chosen_score = Choice(candidate, images, judged, [r.geometry for r in renders]), score
    if chosen.candidate.state is not None:  # the settings as chosen (for the sidecar and whoever renders next)
        carriers.load(chosen.candidate.state)
    return chosen
