"""The carriers of one protection: the parameter modules an optimisation moves, each with its own Adam step.

Every carrier is portable: it holds nothing of any one face (the cosmetic settings are bounded values in the face's
landmark frame, the finish field lives in the aligned crop's frame), so the same carriers can be fitted on several
faces at once and painted on a new one (`render.Painter` binds them to a face). A new carrier is one more entry:
a module, its learning rate, and its step in `render.Painter.__call__`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import nn

from ...makeup.prompt import MakeupPlan
from .finish import Finish, FinishConfig
from .reshape import Reshape, ReshapeConfig
from .settings import CosmeticSettings

CarrierState = dict[str, dict[str, torch.Tensor]]


@dataclass
class Carriers:
    """The cosmetic settings (always), the protective finish and the reshape (None when their amplitude is 0), with
    their steps."""

    cosmetics: CosmeticSettings
    cosmetics_lr: float
    finish: Finish | None = None
    finish_lr: float = 0.0
    reshape: Reshape | None = None
    reshape_lr: float = 0.0

    @classmethod
    def new(cls, plan: MakeupPlan, side: int, *, lr: float, finish: float, finish_lr: float,
            finish_shape: FinishConfig, reshape: float = 0.0, reshape_lr: float = 0.0,
            reshape_shape: ReshapeConfig = ReshapeConfig()) -> Carriers:
        """Fresh carriers (the tutorial makeup, no finish or reshape yet) for ``plan`` on ``side``² crops;
        ``finish`` in /255, ``reshape`` in px at a 256² crop."""
        field = None if finish <= 0 else Finish(side, finish / 255.0, finish_shape)
        shape = None if reshape <= 0 else Reshape(reshape, reshape_shape)
        return cls(CosmeticSettings(plan), lr, field, finish_lr, shape, reshape_lr)

    def optimised(self) -> Iterator[tuple[str, nn.Module, float]]:
        """(name, module, Adam learning rate) of every carrier present, in a fixed order."""
        yield "cosmetics", self.cosmetics, self.cosmetics_lr
        if self.finish is not None:
            yield "finish", self.finish, self.finish_lr
        if self.reshape is not None:
            yield "reshape", self.reshape, self.reshape_lr

    def snapshot(self) -> CarrierState:
        """A detached copy of every carrier's parameters (a candidate iterate)."""
        return {name: {k: v.detach().clone() for k, v in module.state_dict().items()}
                for name, module, _ in self.optimised()}

    def start_from(self, state: CarrierState) -> None:
        """Go on from another fit's chosen parameters (another strength's, on the same face): every carrier both
        have, of the same shape, is loaded; a carrier this level adds (a reshape, a finish) starts fresh."""
        for name, module, _ in self.optimised():
            values = state.get(name)
            own = module.state_dict()
            if values is not None and {k: v.shape for k, v in values.items()} == {k: v.shape for k, v in own.items()}:
                module.load_state_dict(values)

    def load(self, state: CarrierState) -> None:
        for name, module, _ in self.optimised():
            module.load_state_dict(state[name])
