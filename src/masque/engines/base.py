"""The `Engine` seam: a prepared `FaceJob` in, a protected crop (`ProtectResult`) out.

Every front end (`masque protect`, the web page, `masque evaluate`, benchmarks, tests) builds its jobs with the one
preparation stage (`masque.pipeline.prepare`) and calls ``engine.protect(job)``; engines never re-parse the prompt or
re-embed anchors, they read what the job holds.

Seeding rule (one for every engine): ``job.seed`` is the run's seed plus the face's index in the photo (0 = largest
face). An engine draws every random number it needs from local ``torch.Generator`` objects seeded from ``job.seed``
(for EOT: ``config.eot.seed + job.seed``); library code never touches the global RNG, so the same job and config give
the same result whatever ran before.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any, Protocol

import torch

from ..errors import InputError
from ..makeup.prompt import MakeupPlan
from ..trace import CostTrace
from .catalog import KNOWN_ENGINES, engine_entry, engine_names

ProgressCallback = Callable[[str, int, int], None]  # (stage, done, total)


@dataclass(frozen=True, eq=False)
class FaceJob:
    """One face, prepared once: everything an engine needs, nothing it would have to re-derive.

    ``crop`` (1, 3, S, S) in [0, 1] at the engine's crop size, framed by the generation template; ``mask`` (1, 1, S, S)
    the union of ``region_masks`` ({region: (1, 1, S, S)}, in the plan's region order); ``plan``: what the engine
    understood of the prompt (`Engine.plan`: products, shades, effects, regions), computed once per prompt by the
    preparation stage; ``anchors``: crops of other photos of the same person (the crop itself in single mode) and
    ``anchor_embeddings`` / ``source_embeddings`` their and the crop's embeddings per surrogate name ((K, D) and (1,
    D)); ``aligned``: the photo alignment the crop came from (``faces.align.AlignedFace``, for paste-back; ``None`` for
    an input that already was an aligned crop). ``bare_regions``: the plan's regions found covered (hair, a mask,
    ...), left bare (their masks are zero); ``occlusion``: what was seen per region (``faces.occlusion.Occlusion``),
    whose occluder pixels are already cut from every mask.
    """

    crop: torch.Tensor
    mask: torch.Tensor
    region_masks: Mapping[str, torch.Tensor]
    prompt: str
    plan: MakeupPlan
    anchors: tuple[torch.Tensor, ...]
    anchor_embeddings: Mapping[str, torch.Tensor]
    source_embeddings: Mapping[str, torch.Tensor]
    seed: int = 0
    index: int = 0
    anchor_label: str = "self"  # "self" (single mode) or "pair:<file>,..."
    aligned: Any = None
    bare_regions: tuple[str, ...] = ()
    occlusion: Any = None

    def bare_reasons(self) -> dict[str, str]:
        """Why each bare region was left bare ("covered by hair or something else dark (93 % of it)")."""
        return self.occlusion.reasons(self.bare_regions) if self.occlusion is not None else {}

    @property
    def regions(self) -> tuple[str, ...]:
        return tuple(self.region_masks)

    def similarity_before(self) -> dict[str, float]:
        """Mean cosine of the unprotected crop to the anchors per surrogate, from the prepared embeddings (no
        model call): the number an engine's ``similarity_after`` is read against."""
        return {name: float((self.source_embeddings[name] @ emb.T).mean()) for name, emb in
                self.anchor_embeddings.items()}


@dataclass(frozen=True)
class Reshaped:
    """What a result that moves pixels carries for the paste-back, which warps the photo itself at full resolution
    (pasting the moved crop's difference instead would ghost every edge): ``texture`` the protected crop before the
    warp, ``motion`` (1, 2, S, S) where each crop pixel's content moves (crop px, x then y), ``region`` (1, 1, S, S)
    where the warp applies (exactly nothing moves outside it)."""

    texture: torch.Tensor
    motion: torch.Tensor
    region: torch.Tensor


@dataclass
class ProtectResult:
    """``image``: protected crop (1, 3, S, S) in [0, 1]; ``trace``: the engine's model calls; ``details``: engine-
    specific diagnostics for the sidecar (settings, losses, shades); ``similarity_before``/``_after``: mean cosine to
    the anchors per surrogate on the crop (the engine's own view; verdicts come from `masque.pipeline.judge`)."""

    image: torch.Tensor
    trace: CostTrace = field(default_factory=CostTrace)
    details: dict = field(default_factory=dict)
    similarity_before: dict[str, float] = field(default_factory=dict)
    similarity_after: dict[str, float] = field(default_factory=dict)
    reshaped: Reshaped | None = None  # set by an engine whose result moves pixels (the parametric reshape)
    # the engine's own record of the parameters it chose, handed back as ``start`` to protect the same face at another
    # strength from there (escalation); None for an engine that fits nothing it could start from
    state: Any = None

    @property
    def pasted(self) -> torch.Tensor:
        """The crop whose difference the paste-back adds (the texture, when the result also moves pixels)."""
        return self.image if self.reshaped is None else self.reshaped.texture


class Engine(Protocol):
    name: str
    crop_size: int  # side of the generation crop the engine works at
    embedders: list  # the white-box surrogates the job's embeddings belong to
    config: Any  # the engine's frozen config dataclass (serialised into the sidecar)

    def plan(self, prompt: str, region: str | Sequence[str] | None = None) -> MakeupPlan:
        """What this engine understood of ``prompt`` (`masque.makeup.resolve_plan`, the one vocabulary), with the
        regions to mask (``region``: the user's explicit choice); a one-line `InputError` for words it cannot paint.
        Reads no weights. Called once per prompt, by `masque.pipeline.prepare` only; stored as ``FaceJob.plan``."""
        ...

    def protect(self, job: FaceJob, progress: ProgressCallback | None = None, start: Any = None) -> ProtectResult:
        """Protect ``job.crop`` inside ``job.mask``; pixels where the mask is 0 come back unchanged. ``start``: a
        previous result's ``state`` for the same face (escalation goes on from the level below instead of from
        scratch); an engine that cannot use one ignores it."""
        ...

    @property
    def strength_level(self) -> str | None:
        """The strength level (`masque.makeup.prompt.STRENGTHS`) this engine runs at; None when its setting is no
        level (a diffusion guidance strength given as a number). Escalation starts here."""
        ...

    def with_strength(self, level: str) -> Engine:
        """The same loaded models at strength ``level``: what `--until-protected` climbs with. An engine without
        levels raises a one-line `InputError`."""
        ...


@dataclass(frozen=True)
class EngineOptions:
    """The user-facing knobs (CLI flags, web settings); each engine maps them onto its frozen config and refuses the
    ones it has no use for. ``None`` keeps the engine's default."""

    steps: int | None = None
    eot: bool = False
    model: str | None = None
    device: str | None = None
    source_prompt: str | None = None
    target_word: str | None = None
    guidance_scale: float | None = None
    strength: float | str | None = None  # diffusion: guidance strength; parametric: subtle|natural|bold|max
    mask_fusion: str | None = None
    inversion: str | None = None
    reshape: float | None = None  # parametric: the reshape's amplitude (px at a 256² crop; 0 = none)

    def refuse(self, engine: str) -> None:
        """One-line error for the first option that is set but not among those ``engine`` accepts (its catalog
        entry's ``options``)."""
        accepted = KNOWN_ENGINES[engine].options
        for f in fields(self):
            if f.name not in accepted and getattr(self, f.name) != f.default:
                raise InputError(field=f.name, value=getattr(self, f.name),
                                 rule=f"does not apply to the {engine} engine",
                                 hint={"cli": "drop it or choose another `--engine`", "web": "choose the other method",
                                       "api": "drop it or choose another `engine`"})


Planner = Callable[[str, "str | Sequence[str] | None", Any], MakeupPlan]  # (prompt, region, config) -> plan


LevelOf = Callable[[Any], str]  # engine config -> the strength level it runs at (a one-line InputError if none)


@dataclass(frozen=True)
class _Registered:
    factory: Callable[..., Engine]
    config: type
    options: Callable[[EngineOptions], dict]
    plan: Planner
    level_of: LevelOf | None = None


_ENGINES: dict[str, _Registered] = {}


def register_engine(name: str, *, config: type, options: Callable[[EngineOptions], dict], plan: Planner,
                    level_of: LevelOf | None = None):
    """Register ``factory(embedders=..., config=..., **kw)`` with its frozen config class, the function that maps
    `EngineOptions` onto factory keyword arguments (``config=`` included), the engine's planner (what its
    ``Engine.plan`` returns, callable before any weights load) and, for an engine with strength levels, ``level_of``:
    the level a config of it runs at (what `--until-protected` starts from, read before the engine loads; None: the
    engine has no levels). What needs no config class (accepted options, GPU, weights) is its `catalog` entry."""

    def deco(factory: Callable[..., Engine]):
        if engine_entry(name) is None:
            raise ValueError(f"engine {name!r} has no entry in masque.engines.catalog.KNOWN_ENGINES")
        _ENGINES[name] = _Registered(factory, config, options, plan, level_of)
        return factory

    return deco


def list_engines() -> list[str]:
    return engine_names()


def _registered(name: str) -> _Registered:
    if name not in _ENGINES and name in KNOWN_ENGINES:
        importlib.import_module(KNOWN_ENGINES[name].module)
    if name not in _ENGINES:
        raise InputError(f"`engine` must be one of {list_engines()}, got {name!r}.")
    return _ENGINES[name]


def engine_kwargs(name: str, options: EngineOptions = EngineOptions()) -> dict:
    """Factory keyword arguments (``config=`` the engine's frozen config with the user's overrides applied)."""
    return _registered(name).options(options)


def check_prompt(name: str, prompt: str, region: str | Sequence[str] | None = None,
                 engine_kwargs: Mapping[str, Any] | None = None) -> MakeupPlan:
    """The plan engine ``name`` would make of ``prompt`` with these factory arguments, *before* loading it: front ends
    refuse a prompt the engine cannot paint in one line, without paying for the models first."""
    return _registered(name).plan(prompt, region, (engine_kwargs or {}).get("config"))


def config_level(name: str, config: Any = None) -> str:
    """The strength level engine ``name`` runs at with ``config`` (None: its default config), read before any model
    loads: where `--until-protected` starts. A one-line `InputError` for an engine without levels."""
    entry = _registered(name)
    if entry.level_of is None:
        raise InputError(field="until_protected", value=True,
                         rule=f"needs an engine with strength levels; the {name} engine has none")
    return entry.level_of(entry.config() if config is None else config)


def create_engine(name: str, **kwargs) -> Engine:
    return _registered(name).factory(**kwargs)
