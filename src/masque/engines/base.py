"""The `Engine` seam: turn an aligned face crop into a protected one inside a region mask."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import torch

from ..trace import CostTrace

ProgressCallback = Callable[[str, int, int], None]  # (stage, done, total)


@dataclass
class ProtectResult:
    """``image``: protected crop (1, 3, H, W) in [0, 1]; ``trace``: model-call counts; ``info``: per-engine details
    (similarities before/after, settings) that go into the JSON sidecar."""

    image: torch.Tensor
    trace: CostTrace = field(default_factory=CostTrace)
    info: dict = field(default_factory=dict)


class Engine(Protocol):
    name: str
    crop_size: int  # side of the generation crop the engine works best at

    def protect(
        self,
        crop: torch.Tensor,
        mask: torch.Tensor,
        prompt: str,
        anchors: Sequence[torch.Tensor],
        seed: int = 0,
        progress: ProgressCallback | None = None,
        region_masks: Mapping[str, torch.Tensor] | None = None,
    ) -> ProtectResult:
        """``crop`` (1, 3, H, W) in [0, 1] framed by the generation template; ``mask`` (1, 1, H, W) in [0, 1];
        ``anchors``: crops of other photos of the same person (the source crop itself in single mode);
        ``region_masks``: ``mask`` split per region when the prompt names several ("red lipstick and plum
        eyeshadow"), for engines that colour regions separately."""
        ...


_ENGINES: dict[str, Callable[..., Engine]] = {}


def register_engine(name: str):
    def deco(factory: Callable[..., Engine]):
        _ENGINES[name] = factory
        return factory

    return deco


def list_engines() -> list[str]:
    return sorted(set(_ENGINES) | set(KNOWN_ENGINES))


# Engines register themselves when their module is imported; importing lazily keeps `--help` fast.
KNOWN_ENGINES = {"diffusion": "masque.engines.diffusion", "parametric": "masque.engines.parametric"}


def create_engine(name: str, **kwargs) -> Engine:
    import importlib

    from ..errors import InputError

    if name not in _ENGINES and name in KNOWN_ENGINES:
        importlib.import_module(KNOWN_ENGINES[name])
    if name not in _ENGINES:
        raise InputError(f"`engine` must be one of {list_engines()}, got {name!r}.")
    return _ENGINES[name](**kwargs)
