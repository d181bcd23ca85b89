"""The engines MASQUE knows, as data and without importing torch: help texts, CLI choices, the web page, batches and
the evaluator read this table; `masque.engines.base.create_engine` imports an engine's module only when it is first
used.

What an engine supports is declared here, once, as typed fields (`EngineEntry`): front ends and the pipeline read the
entry instead of comparing engine names or probing an engine object. What needs the engine's config classes (the
strength level a config runs at) is declared where the engine registers (`masque.engines.base.register_engine`).
"""

from __future__ import annotations

from dataclasses import dataclass

OPTION_NAMES = ("steps", "eot", "model", "device", "source_prompt", "target_word", "guidance_scale", "strength",
                "mask_fusion", "inversion", "reshape")  # the fields of `masque.engines.base.EngineOptions`


@dataclass(frozen=True)
class EngineEntry:
    """A known engine: the module that registers it (imported on first use, so `--help` stays fast and the fast
    engine never loads diffusers), one line for help texts, and its capabilities.

    ``options``: the `EngineOptions` fields it accepts (any other one set is refused in one line,
    `EngineOptions.refuse`); ``gpu``: it asks a GPU when the device is not the CPU (batch workers, the evaluator);
    ``weights``: it needs generator weights besides the FR models (`--model` / `masque models fetch sd`), so a front
    end checks they are present before offering it; ``level_presets``: its strength levels are the measured presets
    (what the web page's strength control and its expected-protection chips describe); ``auto_rank``: `auto` runs the
    available engine of lowest rank.
    """

    name: str
    module: str
    summary: str
    options: frozenset[str]
    gpu: bool = False
    weights: bool = False
    level_presets: bool = False
    auto_rank: int = 0

    def __post_init__(self):
        unknown = self.options - set(OPTION_NAMES)
        if unknown:
            raise ValueError(f"engine {self.name!r} declares unknown options {sorted(unknown)}")

    def accepts(self, option: str) -> bool:
        return option in self.options


KNOWN_ENGINES: dict[str, EngineEntry] = {e.name: e for e in (
    EngineEntry("parametric", "masque.engines.parametric",
                "fast CPU mode: optimised real-cosmetics parameters, no diffusion weights needed",
                options=frozenset({"steps", "eot", "device", "strength", "reshape"}), level_presets=True, auto_rank=1),
    EngineEntry("diffusion", "masque.engines.diffusion",
                "MASQUE: Stable Diffusion edit with adversarial guidance (needs SD weights; GPU advised)",
                options=frozenset(OPTION_NAMES) - {"reshape"}, gpu=True, weights=True, auto_rank=0),
)}


def engine_names() -> list[str]:
    return list(KNOWN_ENGINES)


def engine_entry(name: str) -> EngineEntry | None:
    """The entry of engine ``name``; None for a name that is no engine (``auto`` before it is resolved)."""
    return KNOWN_ENGINES.get(name)


def needs_gpu(name: str, device: str | None) -> bool:
    """Whether a worker running engine ``name`` on ``device`` (None: cuda when there is one) asks a GPU."""
    entry = engine_entry(name)
    return entry is not None and entry.gpu and (device or "cuda").startswith("cuda")


def auto_order() -> list[str]:
    """The engines `auto` prefers, best first: the first whose weights are present runs."""
    return sorted(KNOWN_ENGINES, key=lambda n: KNOWN_ENGINES[n].auto_rank)


__all__ = ["KNOWN_ENGINES", "OPTION_NAMES", "EngineEntry", "auto_order", "engine_entry", "engine_names",
           "needs_gpu"]
