"""Loss scaling for gradients taken through fp16 networks (null-text's Adam loop, guidance through the VAE decoder).

The null-text loss sits at 1e-5..1e-3, so the upstream gradient per latent element (2 * residual / numel) is
3e-8..3e-6 at 512², below fp16's smallest normal (6.1e-5): the backward pass through an fp16 UNet flushes most of
it to zero and Adam then leaves the null embedding unchanged. Multiplying the loss by a large scale before backward
and dividing the (fp32) gradient by it afterwards keeps the backward pass in fp16's range; on overflow the scale is
halved, as `torch.amp.GradScaler` does. Unlike GradScaler this works with `torch.autograd.grad` (no optimiser) and
retries an overflowing gradient instead of skipping the step, which guidance needs (one iteration per step).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch


@dataclass
class LossScaler:
    """Dynamic loss scale; ``enabled=False`` (fp32/bf16 networks) takes plain gradients."""

    scale: float = 2.0 ** 16
    enabled: bool = True
    max_retries: int = 24  # halvings before giving up on a non-finite gradient (2^16 -> 2^-8)
    overflows: int = 0  # how many times the scale was halved (for diagnostics and tests)

    @classmethod
    def for_dtype(cls, dtype: torch.dtype, scale: float = 2.0 ** 16) -> LossScaler:
        """Enabled only for fp16: bf16 has fp32's exponent range and needs no scaling."""
        return cls(scale=scale, enabled=dtype == torch.float16)

    def grad(self, loss: torch.Tensor, inputs: Sequence[torch.Tensor], retain_graph: bool = False
             ) -> list[torch.Tensor]:
        """``d loss / d inputs`` in the inputs' dtype, computed as ``d (scale * loss) / d inputs / scale``.

        A non-finite scaled gradient halves the scale and recomputes (so the graph is retained: callers drop their
        references to it, e.g. ``del loss``, before the next forward pass to keep peak memory at one graph); a
        gradient that stays non-finite at the smallest scale is returned as it is. ``retain_graph``: keep the
        graph for another gradient of the same forward pass (per-model balancing).
        """
        if not self.enabled:
            return list(torch.autograd.grad(loss, inputs, retain_graph=retain_graph))
        for attempt in range(self.max_retries + 1):
            last = attempt == self.max_retries
            grads = torch.autograd.grad(loss * self.scale, inputs, retain_graph=retain_graph or not last)
            grads = [g.float() / self.scale for g in grads]
            if last or all(bool(torch.isfinite(g).all()) for g in grads):
                return [g.to(x.dtype) for g, x in zip(grads, inputs, strict=True)]
            self.scale /= 2
            self.overflows += 1
        raise AssertionError("unreachable")
