"""The `diffusion` engine: `MasquePipeline` behind the `Engine` protocol of `masque.engines.base`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch

from ...embedders import FaceEmbedder, create_embedder
from ..base import ProgressCallback, ProtectResult, register_engine
from .config import DiffusionConfig
from .pipeline import DEFAULT_SOURCE_PROMPT, MasquePipeline


class DiffusionEngine:
    """MASQUE: null-text inversion, prompt-to-prompt with mask fusion, pairwise adversarial guidance."""

    name = "diffusion"

    def __init__(self, pipeline: MasquePipeline, embedders: Sequence[FaceEmbedder],
                 source_prompt: str = DEFAULT_SOURCE_PROMPT, target_word: str | Sequence[str] | None = None):
        self.pipeline = pipeline
        self.embedders = list(embedders)
        self.source_prompt = source_prompt
        self.target_word = target_word

    @property
    def config(self):
        return self.pipeline.config

    @property
    def model_id(self) -> str:
        return self.pipeline.backbone.source

    @property
    def crop_size(self) -> int:
        """The model's native resolution: the crop size at which no resizing happens."""
        return self.pipeline.resolution

    def protect(self, crop: torch.Tensor, mask: torch.Tensor, prompt: str, anchors: Sequence[torch.Tensor],
                seed: int = 0, progress: ProgressCallback | None = None,
                region_masks: Mapping[str, torch.Tensor] | None = None) -> ProtectResult:
        """``region_masks`` is accepted for the protocol and not needed: the text prompt already tells the UNet which
        makeup goes where, and the union ``mask`` bounds the edit."""
        return self.pipeline.protect(crop, mask, prompt, anchors, self.embedders, source_prompt=self.source_prompt,
                                     target_word=self.target_word, seed=seed, progress=progress)


@register_engine("diffusion")
def create_diffusion_engine(*, model: str | None = None, device=None, torch_dtype=None,
                            embedders: Sequence[FaceEmbedder | str] = (), config: DiffusionConfig | None = None,
                            pipeline: MasquePipeline | None = None, source_prompt: str = DEFAULT_SOURCE_PROMPT,
                            target_word: str | Sequence[str] | None = None) -> DiffusionEngine:
    """Build the engine from a model id/folder (or a ready ``pipeline``); embedders may be names or instances."""
    pipe = pipeline or MasquePipeline.from_pretrained(model, device=device, torch_dtype=torch_dtype, config=config)
    dev = str(pipe.device)
    models = [create_embedder(e, device=dev) if isinstance(e, str) else e for e in embedders]
    return DiffusionEngine(pipe, models, source_prompt, target_word)
