"""Fast CPU mode: adversarial makeup from a few differentiable makeup parameters (no diffusion weights needed).

`create_engine("parametric", embedders=[...], config=ParametricConfig(...))` builds a `ParametricEngine`.
"""

from __future__ import annotations

from collections.abc import Sequence

from ...embedders import FaceEmbedder
from ..base import register_engine
from .colors import NAMED_COLORS, MakeupColor, color_for_prompt, parse_color
from .engine import ParametricConfig, ParametricEngine
from .makeup import MakeupBounds, MakeupLayer


@register_engine("parametric")
def build_parametric(embedders: Sequence[FaceEmbedder], config: ParametricConfig | None = None) -> ParametricEngine:
    return ParametricEngine(embedders, config)


__all__ = [
    "NAMED_COLORS", "MakeupBounds", "MakeupColor", "MakeupLayer", "ParametricConfig", "ParametricEngine",
    "build_parametric", "color_for_prompt", "parse_color",
]
