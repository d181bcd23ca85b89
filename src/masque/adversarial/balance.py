"""How the surrogates share one step: a named strategy turns one evaluation into the gradient an engine follows.

``grad_of(loss, retain_graph)`` differentiates a scalar with respect to whatever the engine steps on (the rendered
crop of the parametric engine, the latent of the diffusion engine, loss-scaled there), so a strategy never knows
which engine calls it. A new strategy is one function with ``@register_balance("name")``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch

from ..errors import InputError
from .terms import PairwiseLoss, registrar

GradOf = Callable[[torch.Tensor, bool], torch.Tensor]
Balance = Callable[[PairwiseLoss, GradOf, "Mapping[str, float] | None", float], torch.Tensor]
BALANCES: dict[str, Balance] = {}
register_balance = registrar(BALANCES, "balance")


def balance_named(name: str) -> Balance:
    if name not in BALANCES:
        raise InputError(f"`balance` must be one of {', '.join(repr(n) for n in BALANCES)}, got {name!r}.")
    return BALANCES[name]


@register_balance("loss")
def mean_loss(adv: PairwiseLoss, grad_of: GradOf, targets: Mapping[str, float] | None, done: float) -> torch.Tensor:
    """The gradient of the models' mean loss."""
    return grad_of(adv.loss, False)


@register_balance("gradient")
def unit_gradients(adv: PairwiseLoss, grad_of: GradOf, targets: Mapping[str, float] | None,
                   done: float) -> torch.Tensor:
    """Σ_m w_m ∇L_m / ‖∇L_m‖: each model's gradient scaled to unit norm before they are summed, so a model whose
    cosine moves slowly, or whose calibrated slope 1 / (1 − t) is small, is not drowned by the others; a model
    already past its target (closest anchor below ``targets``) weighs ``done``."""
    total = None
    names = list(adv.terms)
    for i, name in enumerate(names):
        g = grad_of(adv.terms[name], i < len(names) - 1)
        past = targets is not None and adv.worst[name] < targets[name]
        if total is None:
            total = torch.zeros_like(g)
        total += (done if past else 1.0) * g / g.norm().clamp_min(1e-12)
    return total
