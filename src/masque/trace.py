"""Hardware-independent cost accounting.

Every UNet, VAE and face-recognition call made while protecting an image is counted here so benchmarks can report
cost in network function evaluations (NFE) next to seconds: a forward pass costs 1, a forward pass whose graph is
back-propagated costs 3 (forward + backward ~ 2 forwards).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field


@dataclass
class CostTrace:
    """Counts of model calls, keyed by component (``unet``, ``vae_encode``, ``vae_decode``, ``fr:<name>``)."""

    forward: Counter = field(default_factory=Counter)
    backward: Counter = field(default_factory=Counter)

    def add(self, component: str, n: int = 1, *, backward: bool = False) -> None:
        """Record ``n`` calls (batch elements are not counted separately: one call = one batched pass)."""
        (self.backward if backward else self.forward)[component] += n

    def calls(self, component: str) -> int:
        return self.forward[component] + self.backward[component]

    def nfe(self, component: str | None = None) -> int:
        keys = [component] if component else set(self.forward) | set(self.backward)
        return sum(self.forward[k] + 3 * self.backward[k] for k in keys)

    def merge(self, other: CostTrace) -> CostTrace:
        self.forward.update(other.forward)
        self.backward.update(other.backward)
        return self

    def to_dict(self) -> dict:
        keys = sorted(set(self.forward) | set(self.backward))
        rows = {k: {"forward": self.forward[k], "forward_backward": self.backward[k], "nfe": self.nfe(k)} for k in keys}
        return {"components": rows, "total_nfe": self.nfe()}


@dataclass
class StageTimes:
    """Wall-clock seconds per pipeline stage (load, detect, align_mask, anchors, engine, paste, write, judge), summed
    over faces; the sidecar records them so users and benchmarks see where a run's time goes."""

    seconds: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def __call__(self, stage: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[stage] = self.seconds.get(stage, 0.0) + time.perf_counter() - start

    def to_dict(self) -> dict[str, float]:
        return {k: round(v, 4) for k, v in self.seconds.items()}
