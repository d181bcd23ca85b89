"""The `auto` engine choice: the diffusion engine (MASQUE) when Stable Diffusion weights are present locally, else the
fast `parametric` engine, with one line saying which runs and why.

A fresh install has no diffusion weights, and nothing downloads during a run, so defaulting to `diffusion` would make
the main command fail out of the box. The check only looks at files (the folder, `masque models fetch`'s snapshot or
the Hugging Face cache); it never loads a model and never touches the network.
"""

from __future__ import annotations

from dataclasses import dataclass

from .catalog import KNOWN_ENGINES, engine_names

AUTO = "auto"
ENGINE_CHOICES = (AUTO, *engine_names())  # what users may ask for


@dataclass(frozen=True)
class EngineChoice:
    requested: str  # what the user asked for ("auto", "diffusion", "parametric")
    name: str  # the engine that runs
    reason: str  # one line: why this engine

    @property
    def line(self) -> str:
        return f"Engine: {self.name} ({self.reason})."


def choose_engine(requested: str, model: str | None = None) -> EngineChoice:
    """Resolve ``requested`` (``auto`` or an engine name) to the engine that runs, for SD weights ``model``."""
    from ..errors import InputError

    if requested not in ENGINE_CHOICES:
        raise InputError(f"`engine` must be one of {ENGINE_CHOICES}; got {requested!r}.")
    if requested != AUTO:
        return EngineChoice(requested, requested, "chosen explicitly")
    from .diffusion.backbone import local_weights_problem

    problem = local_weights_problem(model)
    if problem is None:
        from .diffusion.backbone import resolve_model

        return EngineChoice(AUTO, "diffusion", f"auto: Stable Diffusion weights found at {resolve_model(model)!r}")
    return fallback_choice(f"no Stable Diffusion weights here: {problem}")


def fallback_choice(why: str) -> EngineChoice:
    """`auto` settling on the fast engine, saying why and how to get the diffusion engine."""
    return EngineChoice(AUTO, "parametric", f"auto: {why}; the fast parametric engine runs instead "
                                            "(`masque models fetch sd` or `--model DIR` enables the diffusion engine)")


def build_engine(choice: EngineChoice, embedders, options: dict):
    """Create ``choice``'s engine; under `auto`, diffusion weights that turn out unloadable fall back to the fast
    engine (default settings) instead of failing. Returns ``(engine, the choice that ran)``."""
    from ..errors import WeightsError
    from .base import create_engine, engine_kwargs

    try:
        return create_engine(choice.name, embedders=embedders, **options), choice
    except WeightsError as exc:
        if choice.requested != AUTO or not KNOWN_ENGINES[choice.name].weights:  # only weights can fail to load
            raise
        fallback = fallback_choice(f"the Stable Diffusion weights did not load ({exc})")
        return create_engine(fallback.name, embedders=embedders, **engine_kwargs(fallback.name)), fallback
