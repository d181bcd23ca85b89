"""`MasquePipeline`: null-text inversion -> prompt-to-prompt edit with mask fusion -> pairwise adversarial guidance.

    pipe = MasquePipeline.from_pretrained("path/to/sd15")          # or a hub id, or $MASQUE_SD_MODEL
    result = pipe.protect(crop, mask, "red lipstick", anchors=[pair_crop], embedders=[irse50, facenet])
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F

from ...adversarial import Objective, encode_anchors
from ...embedders import FaceEmbedder
from ...errors import InputError
from ...makeup.prompt import require_prompt
from ...trace import CostTrace
from ..base import ProgressCallback, ProtectResult
from . import attention, blend
from .backbone import Backbone, MemoryConfig, load_backbone, make_scheduler
from .config import DiffusionConfig, step_count
from .guidance import GuidanceContext, decode, guidance_steps, guide
from .inversion import InversionResult, cfg_eps, invert, unet_eps
from .precision import LossScaler

DEFAULT_SOURCE_PROMPT = "A face of a human"


@dataclass
class StepState:
    """What `edit` reports after each denoising step (tests check the locality invariant with it)."""

    step: int
    z_src: torch.Tensor
    z_tgt: torch.Tensor
    mask: torch.Tensor  # latent blend mask used at this step
    blended: bool


@dataclass
class EditResult:
    z_src: torch.Tensor
    z_tgt: torch.Tensor
    mask: torch.Tensor
    target_tokens: tuple[int, ...]


class MasquePipeline:
    """Stable Diffusion components + `DiffusionConfig`; `protect` (alias `__call__`) runs the whole method."""

    def __init__(self, backbone: Backbone, config: DiffusionConfig | None = None):
        self.config = (config or DiffusionConfig()).validate()
        # own scheduler object (it holds the timesteps), shared network weights
        self.backbone = replace(backbone, scheduler=make_scheduler(dict(backbone.scheduler.config),
                                                                   self.config.scheduler))

    @classmethod
    def from_pretrained(cls, model_id_or_dir: str | None = None, *, device=None, torch_dtype=None,
                        config: DiffusionConfig | None = None, local_files_only: bool = True,
                        memory: MemoryConfig = MemoryConfig()) -> MasquePipeline:
        """Load from a diffusers folder or hub id (default ``$MASQUE_SD_MODEL`` or SD 1.5); `WeightsError` if not.
        ``memory``: VAE tiling / model offload (`MemoryConfig`)."""
        cfg = config or DiffusionConfig()
        bb = load_backbone(model_id_or_dir, device=device, torch_dtype=torch_dtype, scheduler=cfg.scheduler,
                           local_files_only=local_files_only, memory=memory)
        return cls(bb, cfg)

    @property
    def device(self) -> torch.device:
        return self.backbone.device

    @property
    def resolution(self) -> int:
        return self.backbone.resolution

    @property
    def latent_side(self) -> int:
        return int(self.backbone.unet.config.sample_size)

    # --- building blocks -------------------------------------------------------------------------------------------

    @torch.no_grad()
    def encode_prompt(self, prompts: Sequence[str]) -> torch.Tensor:
        tok = self.backbone.tokenizer
        ids = tok(list(prompts), padding="max_length", max_length=tok.model_max_length, truncation=True,
                  return_tensors="pt").input_ids.to(self.device)
        return self.backbone.text_encoder(ids)[0].float()

    @torch.no_grad()
    def encode_image(self, image: torch.Tensor, trace: CostTrace | None = None) -> torch.Tensor:
        """Image (1, 3, R, R) in [0, 1] -> latent z0 = s * E(x).mean (deterministic: the posterior mean)."""
        if trace is not None:
            trace.add("vae_encode")
        vae = self.backbone.vae
        posterior = vae.encode((image * 2 - 1).to(self.device, self.backbone.dtype)).latent_dist
        return posterior.mean.float() * vae.config.scaling_factor

    def invert(self, image: torch.Tensor, source_prompt: str = DEFAULT_SOURCE_PROMPT,
               trace: CostTrace | None = None, progress: ProgressCallback | None = None) -> InversionResult:
        """Inversion (``config.inversion.method``) of a native-resolution image (1, 3, R, R) under ``source_prompt``."""
        cfg = self.config.inversion
        self.backbone.scheduler.set_timesteps(cfg.num_steps)
        z0 = self.encode_image(image, trace)
        cond, null = self.encode_prompt([source_prompt, ""]).chunk(2)
        return invert(self.backbone, z0, cond, null, cfg, trace, progress)

    def edit(self, inv: InversionResult, source_prompt: str, target_prompt: str, target_words: Sequence[str],
             region: torch.Tensor, guidance: GuidanceContext | None = None, trace: CostTrace | None = None,
             on_step: Callable[[StepState], None] | None = None,
             progress: ProgressCallback | None = None) -> EditResult:
        """Prompt-to-prompt from x_T on the batch [source, target]; ``region`` is the latent region mask."""
        bb, cfg = self.backbone, self.config
        n, side, scale = cfg.inversion.num_steps, self.latent_side, cfg.inversion.guidance_scale
        bb.scheduler.set_timesteps(n)
        cond = self.encode_prompt([source_prompt, target_prompt])
        alignment = attention.align_prompts(bb.tokenizer, source_prompt, target_prompt, cfg.edit, n,
                                            tuple(target_words))
        sides = attention.attention_sides(bb.unet, side)
        ctrl = attention.AttentionController(cfg.edit, n, side, alignment,
                                             attention.pick_blend_side(sides, side, cfg.edit.blend_res), active=True)
        g_steps = guidance_steps(cfg.guidance, n) if guidance is not None else range(0)
        blend_from = step_count(cfg.edit.blend_start, n)
        region = region.to(self.device)
        z = torch.cat([inv.x_T, inv.x_T])
        mask = region
        previous = attention.install(bb.unet, ctrl)
        try:
            for i, t in enumerate(bb.scheduler.timesteps):
                ctrl.begin_step(i)
                null = inv.null_embeddings[i]
                with torch.no_grad():
                    eps_u, eps_c = unet_eps(bb, torch.cat([z, z]), t, torch.cat([null, null, cond]), trace).chunk(2)
                eps = cfg_eps(eps_u, eps_c, scale)
                mask = blend.fuse(region, ctrl.blend_maps, side, cfg.edit)
                if i in g_steps:
                    ctrl.active = False  # guidance passes run plain attention on a batch of one prompt
                    z_tgt = guide(bb, z[1:], eps[1:], t, mask, guidance, cfg.guidance, cond=cond[1:], null=null,
                                  scale=scale)
                    ctrl.active = True
                    z = torch.cat([z[:1], z_tgt])
                with torch.no_grad():
                    z = bb.scheduler.step(eps, t, z).prev_sample
                    if inv.offsets is not None:  # direct inversion: the source branch retraces z* exactly
                        z = z + inv.offsets[i] if cfg.inversion.offset_target else \
                            torch.cat([z[:1] + inv.offsets[i], z[1:]])
                    blended = i >= blend_from
                    if blended:
                        z = torch.cat([z[:1], blend.blend(z[:1], z[1:], mask)])
                if on_step is not None:
                    on_step(StepState(i, z[:1], z[1:], mask, blended))
                if progress is not None:
                    progress("edit", i + 1, n)
        finally:
            bb.unet.set_attn_processor(previous)
        blend.warn_if_attention_misses(region, ctrl.blend_maps, side, cfg.edit, tuple(target_words))
        return EditResult(z[:1], z[1:], mask, alignment.target_tokens)

    # --- the method ------------------------------------------------------------------------------------------------

    def check_inputs(self, crop, mask, prompt, anchors, embedders, source_prompt, target_words) -> None:
        if not isinstance(crop, torch.Tensor) or crop.ndim != 4 or crop.shape[:2] != (1, 3):
            raise InputError(f"`crop` must be a (1, 3, H, W) tensor, got {getattr(crop, 'shape', type(crop))}.")
        if not crop.is_floating_point() or crop.min() < 0 or crop.max() > 1:
            raise InputError("`crop` must be a float tensor with values in [0, 1]; divide uint8 images by 255.")
        if not isinstance(mask, torch.Tensor) or tuple(mask.shape) != (1, 1, *crop.shape[2:]):
            raise InputError(f"`mask` must have shape (1, 1, {crop.shape[2]}, {crop.shape[3]}) like `crop`, "
                             f"got {tuple(getattr(mask, 'shape', ()))}.")
        if mask.min() < 0 or mask.max() > 1:
            raise InputError("`mask` must hold values in [0, 1].")
        require_prompt(prompt)
        for a in anchors:
            if not isinstance(a, torch.Tensor) or a.ndim != 4 or a.shape[:2] != (1, 3):
                raise InputError(f"`anchors` must be (1, 3, H, W) crops, got {getattr(a, 'shape', type(a))}.")
        if not embedders and guidance_steps(self.config.guidance, self.config.inversion.num_steps):
            raise InputError("`embedders` must hold at least one FaceEmbedder when guidance is on "
                             "(or set `guidance.strength=0`).")
        words = prompt_words(f"{source_prompt} with {prompt}")
        missing = [w for w in target_words if w.lower() not in words]
        if missing:
            raise InputError(f"`target_word` must be words of the target prompt {f'{source_prompt} with {prompt}'!r}, "
                             f"got {missing}.")

    def protect(self, crop: torch.Tensor, mask: torch.Tensor, prompt: str, anchors: Sequence[torch.Tensor] = (),
                embedders: Sequence[FaceEmbedder] = (), *, source_prompt: str = DEFAULT_SOURCE_PROMPT,
                target_word: str | Sequence[str] | None = None, seed: int = 0,
                progress: ProgressCallback | None = None,
                on_step: Callable[[StepState], None] | None = None,
                anchor_embeddings: Mapping[str, torch.Tensor] | None = None) -> ProtectResult:
        """Protect an aligned face crop inside ``mask``; pixels where the mask is 0 are returned unchanged.

        ``anchor_embeddings``: the anchors' embeddings per model when already computed (a `FaceJob` carries them), so
        each anchor is embedded once per model.

        ``anchors``: other photos of the same person (empty: the crop itself); ``target_word``: the words whose
        cross-attention drives the local blend (default: the content words of ``prompt`` not in the source prompt,
        see `default_blend_words`);
        ``on_step`` receives each denoising step's latents (debugging, tests). The method is deterministic (DDIM with
        eta = 0, posterior-mean encoding); ``seed`` only draws the EOT transforms when guidance uses them (and is
        recorded in ``info``). ``progress(stage, done, total)`` is called with stages ``"null-text"`` (or
        ``"inversion"`` for the direct method) and ``"edit"``.
        """
        t_start = time.perf_counter()
        target_prompt = f"{source_prompt} with {prompt}"
        if target_word is None:
            words = default_blend_words(prompt, source_prompt)
        else:
            items = [target_word] if isinstance(target_word, str) else list(target_word)
            words = tuple(w for item in items for w in str(item).replace(",", " ").split())
        # 1. check inputs
        self.check_inputs(crop, mask, prompt, anchors, embedders, source_prompt, words)
        anchors = list(anchors) or [crop]  # single mode: push away from the source photo itself
        trace, timings, r = CostTrace(), {}, self.resolution
        # 2. resize to the model's native resolution
        dev = self.device
        crop_n = _resize(crop.float().to(dev), r)
        mask_n = _resize(mask.float().to(dev), r)
        # 3. anchors and "before" similarity
        anchor_emb = anchor_embeddings
        if anchor_emb is None:
            anchor_emb = encode_anchors(embedders, [a.float().to(dev) for a in anchors], trace) if embedders else {}
        objective = self._objective(embedders, anchor_emb, crop_n, trace, seed) if embedders else None
        before = objective.judge(crop.float().to(dev)).per_model if objective is not None else {}
        # 4. inversion of the source crop (null-text, direct or negative-prompt)
        t0 = time.perf_counter()
        inv = self.invert(crop_n, source_prompt, trace, progress)
        timings["inversion_s"] = time.perf_counter() - t0
        # 5. prompt-to-prompt edit with mask fusion and pairwise adversarial guidance
        t0 = time.perf_counter()
        ctx = None if objective is None else GuidanceContext(objective, crop_n, mask_n, trace,
                                                             scaler=LossScaler.for_dtype(self.backbone.dtype))
        region = blend.region_to_latent(mask_n, self.latent_side)
        res = self.edit(inv, source_prompt, target_prompt, words, region, ctx, trace, on_step, progress)
        timings["edit_s"] = time.perf_counter() - t0
        # 6. decode, resize back, composite: outside the mask the input crop is returned exactly
        with torch.no_grad():
            img = decode(self.backbone, res.z_tgt, trace)
        if img.shape[2:] != crop.shape[2:]:
            img = F.interpolate(img, size=crop.shape[2:], mode="bilinear", antialias=True, align_corners=False)
        m = mask.float().to(dev)
        out = m * img.clamp(0, 1) + (1 - m) * crop.float().to(dev)
        # 7. "after" similarity and the sidecar info
        after = objective.judge(out.float()).per_model if objective is not None else {}
        timings["total_s"] = time.perf_counter() - t_start
        info = {
            "engine": "diffusion", "model": self.backbone.source, "resolution": r, "seed": seed,
            "source_prompt": source_prompt, "target_prompt": target_prompt, "target_words": list(words),
            "config": self.config.to_dict(), "similarity_before": before, "similarity_after": after,
            "guidance_losses": ctx.losses if ctx is not None else [],
            "guidance_scores": ctx.scores if ctx is not None else [], "inversion_method": inv.method,
            "null_text_losses": inv.losses,
            "timings": timings,
        }
        return ProtectResult(out.to(crop.device, crop.dtype), trace, info)

    __call__ = protect

    def _objective(self, embedders, anchor_emb, crop_n, trace, seed: int) -> Objective:
        """The guidance objective of one image: its anchors, the source crop when a term needs it, EOT by seed."""
        config = self.config.guidance.objective
        source = encode_anchors(embedders, [crop_n], trace) if config.needs_source else None
        return Objective(embedders, config, anchor_emb, source, seed=seed, trace=trace)

    def with_config(self, **groups) -> MasquePipeline:
        """A pipeline sharing the components with some config groups replaced (``guidance=GuidanceConfig(...)``)."""
        return MasquePipeline(self.backbone, replace(self.config, **groups))


# Function words never drive the local blend: their cross-attention is spread over the whole image (P2P's blend
# words are content words: "lipstick", "eyeshadow"). Users can still name one explicitly with `target_word`.
FUNCTION_WORDS = frozenset({
    "a", "an", "the", "and", "or", "but", "nor", "with", "without", "of", "on", "in", "into", "onto", "at", "by", "for",
    "from", "to", "as", "some", "any", "this", "that", "these", "those", "his", "her", "their", "its", "my", "your",
    "our", "very", "more", "less"})


def prompt_words(prompt: str) -> list[str]:
    return [w.lower() for w in prompt.split()]


def default_blend_words(prompt: str, source_prompt: str = DEFAULT_SOURCE_PROMPT) -> tuple[str, ...]:
    """Words of ``prompt`` that are neither in ``source_prompt`` nor function words ("and", "a", "with"...)."""
    src_words = set(prompt_words(source_prompt))
    return tuple(dict.fromkeys(w for w in prompt_words(prompt) if w not in src_words and w not in FUNCTION_WORDS))


def _resize(x: torch.Tensor, size: int) -> torch.Tensor:
    if x.shape[-2:] == (size, size):
        return x
    return F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
