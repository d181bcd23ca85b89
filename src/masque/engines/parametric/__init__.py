"""Fast CPU mode: adversarial makeup from the bounded parameters of real cosmetics (no diffusion weights needed).

`create_engine("parametric", embedders=[...], config=ParametricConfig(...))` builds a `ParametricEngine`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from operator import attrgetter

from ...adversarial import EOTConfig
from ...embedders import FaceEmbedder
from ...errors import InputError
from ...makeup.prompt import STRENGTHS
from ..base import EngineOptions, register_engine
from .engine import STRENGTH_PRESETS, ParametricConfig, ParametricEngine, StrengthPreset, parametric_plan
from .finish import Finish, FinishConfig
from .makeup import CosmeticLayer
from .settings import PARAMS, STRENGTH_SCALE, CosmeticSettings, bounds_for


def parametric_options(options: EngineOptions) -> dict:
    """Map the user's knobs onto `ParametricConfig` (unset ones keep its defaults); diffusion-only knobs are refused.
    ``strength`` is a level here (subtle | natural | bold | max)."""
    options.refuse("parametric")  # what the catalog entry does not accept: model, guidance_scale, ...
    config = ParametricConfig() if options.steps is None else ParametricConfig(steps=options.steps)
    if options.strength is not None:
        if options.strength not in STRENGTHS:
            raise InputError(field="strength", value=options.strength, rule=f"must be one of {', '.join(STRENGTHS)} "
                             f"for the parametric engine, got {options.strength!r}")
        config = replace(config, strength=options.strength)
    if options.eot:
        config = replace(config, objective=replace(config.objective, eot=EOTConfig()))
    if options.reshape is not None:
        config = replace(config, reshape=options.reshape)
    return {"config": config}


@register_engine("parametric", config=ParametricConfig, options=parametric_options, plan=parametric_plan,
                 level_of=attrgetter("strength"))
def build_parametric(embedders: Sequence[FaceEmbedder], config: ParametricConfig | None = None) -> ParametricEngine:
    return ParametricEngine(embedders, config)


__all__ = ["PARAMS", "STRENGTH_PRESETS", "STRENGTH_SCALE", "CosmeticLayer", "CosmeticSettings", "Finish",
           "FinishConfig", "ParametricConfig", "ParametricEngine", "StrengthPreset", "bounds_for", "build_parametric",
           "parametric_options", "parametric_plan"]
