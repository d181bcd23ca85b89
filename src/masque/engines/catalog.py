"""The engines MASQUE knows, as data and without importing torch: help texts, CLI choices and the web page read this
table; `masque.engines.base.create_engine` imports an engine's module only when it is first used."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class EngineEntry:
    """A known engine: the module that registers it (imported on first use, so `--help` stays fast and the fast
    engine never loads diffusers) and one line for help texts."""

    name: str
    module: str
    summary: str


KNOWN_ENGINES: dict[str, EngineEntry] = {e.name: e for e in (
    EngineEntry("parametric", "masque.engines.parametric",
                "fast CPU mode: optimised real-cosmetics parameters, no diffusion weights needed"),
    EngineEntry("diffusion", "masque.engines.diffusion",
                "MASQUE: Stable Diffusion edit with adversarial guidance (needs SD weights; GPU advised)"),
)}


def engine_names() -> list[str]:
    return list(KNOWN_ENGINES)
