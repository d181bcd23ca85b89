"""Adam for the engines' few parameters, through torch's own functional update (`torch.optim.adam.adam`).

Why not `torch.optim.Adam`: constructing any `torch.optim.Optimizer` imports ``torch._dynamo`` (its
``add_param_group`` is wrapped by ``torch._disable_dynamo``), which costs ~1 s on 2 cores — more than everything else
the fast engine's command does besides importing torch and optimising (issue 15). The functional form runs the same
arithmetic (torch's single-tensor Adam) without that import. `tests/test_optim.py` checks it against
`torch.optim.Adam` step for step.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch.optim.adam import adam


class Adam:
    """Adam (no weight decay, no AMSGrad) over ``params``; ``step()`` skips parameters that have no gradient."""

    def __init__(self, params: Iterable[torch.Tensor], lr: float, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8):
        self.params = list(params)
        self.lr, self.betas, self.eps = lr, betas, eps
        self.exp_avgs = [torch.zeros_like(p, memory_format=torch.preserve_format) for p in self.params]
        self.exp_avg_sqs = [torch.zeros_like(p, memory_format=torch.preserve_format) for p in self.params]
        self.state_steps = [torch.zeros((), dtype=torch.float32) for _ in self.params]  # incremented by `adam`

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        live = [i for i, p in enumerate(self.params) if p.grad is not None]
        if not live:
            return
        pick = lambda xs: [xs[i] for i in live]  # noqa: E731
        adam(pick(self.params), [self.params[i].grad for i in live], pick(self.exp_avgs), pick(self.exp_avg_sqs),
             [], pick(self.state_steps), foreach=False, amsgrad=False, beta1=self.betas[0], beta2=self.betas[1],
             lr=self.lr, weight_decay=0.0, eps=self.eps, maximize=False)
