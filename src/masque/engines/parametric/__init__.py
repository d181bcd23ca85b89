"""Fast CPU mode: adversarial makeup from a few differentiable makeup parameters (no diffusion weights needed).

`create_engine("parametric", embedders=[...], config=ParametricConfig(...))` builds a `ParametricEngine`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from ...adversarial import EOTConfig
from ...embedders import FaceEmbedder
from ..base import EngineOptions, register_engine
from .colors import NAMED_COLORS, MakeupColor, color_for_prompt, parse_color
from .engine import ParametricConfig, ParametricEngine
from .makeup import MakeupBounds, MakeupLayer


def parametric_options(options: EngineOptions) -> dict:
    """Map the user's knobs onto `ParametricConfig` (unset ones keep its defaults); diffusion-only knobs are refused."""
    options.refuse("parametric", "model", "guidance_scale", "strength", "mask_fusion", "target_word", "source_prompt",
                   "inversion")
    config = ParametricConfig() if options.steps is None else ParametricConfig(steps=options.steps)
    if options.eot:
        config = replace(config, pairwise=replace(config.pairwise, eot=EOTConfig()))
    return {"config": config}


@register_engine("parametric", config=ParametricConfig, options=parametric_options)
def build_parametric(embedders: Sequence[FaceEmbedder], config: ParametricConfig | None = None) -> ParametricEngine:
    return ParametricEngine(embedders, config)


__all__ = [
    "NAMED_COLORS", "MakeupBounds", "MakeupColor", "MakeupLayer", "ParametricConfig", "ParametricEngine",
    "build_parametric", "color_for_prompt", "parametric_options", "parse_color",
]
