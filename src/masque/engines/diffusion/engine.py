"""The `diffusion` engine: `MasquePipeline` behind the `Engine` protocol of `masque.engines.base`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from ...embedders import FaceEmbedder, create_embedder
from ...errors import InputError
from ...makeup.prompt import MakeupPlan, resolve_plan
from ..base import EngineOptions, FaceJob, ProgressCallback, ProtectResult, register_engine
from .config import GUIDANCE_LEVELS, DiffusionConfig, guidance_level
from .pipeline import DEFAULT_SOURCE_PROMPT, MasquePipeline


class DiffusionEngine:
    """MASQUE: inversion (direct, null-text or negative-prompt), prompt-to-prompt with mask fusion, pairwise
    adversarial guidance."""

    name = "diffusion"

    def __init__(self, pipeline: MasquePipeline, embedders: Sequence[FaceEmbedder],
                 source_prompt: str = DEFAULT_SOURCE_PROMPT, target_word: str | Sequence[str] | None = None):
        self.pipeline = pipeline
        self.embedders = list(embedders)
        self.source_prompt = source_prompt
        self.target_word = target_word

    @property
    def config(self) -> DiffusionConfig:
        return self.pipeline.config

    @property
    def strength_level(self) -> str | None:
        """The `GUIDANCE_LEVELS` name of the configured guidance strength; None for another number."""
        return guidance_level(self.config)

    def with_strength(self, level: str) -> DiffusionEngine:
        """The same loaded pipeline and surrogates with the guidance strength of ``level`` (`GUIDANCE_LEVELS`)."""
        if level not in GUIDANCE_LEVELS:
            raise InputError(f"`strength` must be one of {', '.join(GUIDANCE_LEVELS)}, got {level!r}.")
        guidance = replace(self.config.guidance, strength=GUIDANCE_LEVELS[level])
        return DiffusionEngine(self.pipeline.with_config(guidance=guidance), self.embedders, self.source_prompt,
                               self.target_word)

    @property
    def crop_size(self) -> int:
        """The model's native resolution: the crop size at which no resizing happens."""
        return self.pipeline.resolution

    def plan(self, prompt: str, region: str | Sequence[str] | None = None) -> MakeupPlan:
        """`Engine.plan`: `diffusion_plan` (no weights read)."""
        return diffusion_plan(prompt, region)

    def protect(self, job: FaceJob, progress: ProgressCallback | None = None, start: Any = None) -> ProtectResult:
        """`Engine.protect`; the union ``job.mask`` bounds the edit (per-region masks are not needed)."""
        res = self.pipeline.protect(job.crop, job.mask, job.plan.prompt, list(job.anchors), self.embedders,
                                    source_prompt=self.source_prompt, target_word=self.target_word, seed=job.seed,
                                    progress=progress, anchor_embeddings=job.anchor_embeddings)
        details = dict(res.details)
        before, after = details.pop("similarity_before", {}), details.pop("similarity_after", {})
        return replace(res, details=details, similarity_before=before, similarity_after=after)


def diffusion_plan(prompt: str, region: str | Sequence[str] | None = None,
                   config: DiffusionConfig | None = None) -> MakeupPlan:
    """What the diffusion engine paints: the regions of the products and effects the one vocabulary finds (or the
    explicit ``region``). The text prompt itself draws the makeup (shades come from the words, not from the plan), so
    effects such as freckles are accepted and there is no strength level."""
    return resolve_plan(prompt, None, region)


def diffusion_options(options: EngineOptions) -> dict:
    """Map the user's knobs onto `DiffusionConfig` (unset ones keep the paper's defaults) and the factory's model,
    device and prompt arguments."""
    from ...adversarial import EOTConfig

    options.refuse("diffusion")  # what its catalog entry does not accept (the parametric reshape)
    cfg = DiffusionConfig()
    inv = cfg.inversion
    if options.steps is not None:
        inv = replace(inv, num_steps=options.steps)
    if options.guidance_scale is not None:
        inv = replace(inv, guidance_scale=options.guidance_scale)
    if options.inversion is not None:
        inv = replace(inv, method=options.inversion)
    guid = cfg.guidance if options.strength is None else replace(cfg.guidance, strength=_strength(options.strength))
    if options.eot:
        guid = replace(guid, objective=replace(guid.objective, eot=EOTConfig()))
    edit = cfg.edit if options.mask_fusion is None else replace(cfg.edit, mask_fusion=options.mask_fusion)
    cfg = replace(cfg, inversion=inv, guidance=guid, edit=edit).validate()
    words = [w.strip() for w in options.target_word.split(",")] if options.target_word else None
    return {"config": cfg, "model": options.model, "device": options.device,
            "source_prompt": options.source_prompt or DEFAULT_SOURCE_PROMPT, "target_word": words}


def _strength(value: float | str) -> float:
    """``--strength`` for this engine: the adversarial guidance strength, a number >= 0 or a level name
    (`GUIDANCE_LEVELS`; text from a form or a flag is read here, so every front end accepts the same values)."""
    if value in GUIDANCE_LEVELS:
        return GUIDANCE_LEVELS[value]
    try:
        level = float(value)
    except (TypeError, ValueError):
        raise InputError(field="strength", value=value, rule=f"must be a number >= 0 or one of "
                         f"{', '.join(GUIDANCE_LEVELS)} for the diffusion engine, got {value!r}") from None
    if not level >= 0:
        raise InputError(field="strength", value=value,
                         rule=f"must be a number >= 0 for the diffusion engine, got {value!r}")
    return level


def until_level(config: DiffusionConfig) -> str:
    """The level `--until-protected` starts from: the name of the configured guidance strength; a number that is no
    level cannot be stepped up from, in one line."""
    level = guidance_level(config)
    if level is None:
        value = config.guidance.strength
        raise InputError(field="strength", value=value, rule=lambda n: f"must be a level name "
                         f"({', '.join(GUIDANCE_LEVELS)}) with {n.until_protected}, got the number {value}")
    return level


@register_engine("diffusion", config=DiffusionConfig, options=diffusion_options, plan=diffusion_plan,
                 level_of=until_level)
def create_diffusion_engine(*, model: str | None = None, device=None, torch_dtype=None,
                            embedders: Sequence[FaceEmbedder | str] = (), config: DiffusionConfig | None = None,
                            pipeline: MasquePipeline | None = None, source_prompt: str = DEFAULT_SOURCE_PROMPT,
                            target_word: str | Sequence[str] | None = None) -> DiffusionEngine:
    """Build the engine from a model id/folder (or a ready ``pipeline``); embedders may be names or instances."""
    pipe = pipeline or MasquePipeline.from_pretrained(model, device=device, torch_dtype=torch_dtype, config=config)
    dev = str(pipe.device)
    models = [create_embedder(e, device=dev) if isinstance(e, str) else e for e in embedders]
    return DiffusionEngine(pipe, models, source_prompt, target_word)
