"""Fast CPU mode: adversarial makeup from the bounded parameters of real cosmetics (no diffusion weights needed).

`create_engine("parametric", embedders=[...], config=ParametricConfig(...))` builds a `ParametricEngine`.
"""

from __future__ import annotations

from collections.abc import Sequence

from ...embedders import FaceEmbedder
from ..base import register_engine
from .engine import ParametricConfig, ParametricEngine
from .makeup import PARAMS, STRENGTH_SCALE, CosmeticLayer, bounds_for


@register_engine("parametric")
def build_parametric(embedders: Sequence[FaceEmbedder], config: ParametricConfig | None = None) -> ParametricEngine:
    return ParametricEngine(embedders, config)


__all__ = ["PARAMS", "STRENGTH_SCALE", "CosmeticLayer", "ParametricConfig", "ParametricEngine", "bounds_for",
           "build_parametric"]
