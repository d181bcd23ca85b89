"""Frozen settings of the diffusion engine, with the defaults of null-text inversion / prompt-to-prompt / MASQUE.

Every schedule is written as a *fraction* of the denoising steps so the same config works for 50 steps (paper) and
for 4-step smoke tests. A config is plain data: `asdict(config)` goes into the output sidecar.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Literal

from ...adversarial import ObjectiveConfig
from ...errors import InputError


@dataclass(frozen=True)
class SchedulerConfig:
    """DDIM settings of the SD v1.x null-text-inversion setup (docs/protocol.md); override a loaded scheduler config."""

    beta_start: float = 0.00085
    beta_end: float = 0.012
    beta_schedule: str = "scaled_linear"
    clip_sample: bool = False
    set_alpha_to_one: bool = False
    steps_offset: int = 1


INVERSION_METHODS = ("direct", "null-text", "negative-prompt")
# `--strength` level names (`masque.makeup.prompt.STRENGTHS`) on the diffusion engine's adversarial guidance
# strength, so `--until-protected` can step this engine up the same ladder. natural is the paper's 1.0; the others
# scale the guidance step linearly (not measured here: no Stable Diffusion weights were available). A number given
# to `--strength` is used as it is.
GUIDANCE_LEVELS = {"subtle": 0.5, "natural": 1.0, "bold": 1.5, "max": 2.0}


@dataclass(frozen=True)
class InversionConfig:
    """DDIM inversion with the source prompt, then what makes guided sampling from x_T retrace it.

    ``method``:
    - ``"direct"`` (Ju et al. 2023, "Direct Inversion" / PnP inversion): store, per step, the difference between the
      inverted latent and the guided DDIM step from it; the edit adds it to the source branch, which then retraces
      the inversion exactly. One batched forward per step, no optimisation. The default: measured on the tiny model
      (`benchmarks/bench_inversion.py`, 64², 50 steps) it reconstructs the source latent to 5e-11 with 100 UNet NFE
      for the inversion, where null-text at the paper's settings takes 1650 NFE and leaves 9e-2 (negative-prompt:
      50 NFE, 7.5e-4).
    - ``"null-text"`` (Mokady et al. 2023, Alg. 1): per step, optimise the null embedding with Adam.
    - ``"negative-prompt"`` (Miyake et al. 2023): the source-prompt embedding stands in for the null embedding; no
      extra model calls, but the reconstruction is plain w = 1 DDIM inversion's (not exact).
    """

    method: Literal["direct", "null-text", "negative-prompt"] = "direct"
    num_steps: int = 50
    guidance_scale: float = 7.5
    inner_iters: int = 10  # at most this many Adam steps per denoising step
    lr: float = 1e-2  # Adam learning rate at step 0 ...
    lr_decay_horizon: int = 100  # ... decayed as lr * (1 - i / max(horizon, 2 * num_steps)), see `null_text_lr`
    # fp16 backbones: the null-text loss (1e-5..1e-3) gives gradients below fp16's smallest normal, so the loss is
    # multiplied by this before backward (dynamic: halved on overflow); Adam is invariant to the scale.
    loss_scale: float = 2.0 ** 16
    # direct: add the offsets to the target branch too (PnP inversion's "add_target" variant), so a target prompt
    # equal to the source reproduces the source exactly and the makeup region starts from a faithful face; False is
    # the paper's source-only variant (the target follows the source through attention injection only).
    offset_target: bool = True
    early_stop: float = 1e-5  # stop the inner loop when loss < early_stop + i * early_stop_slope
    early_stop_slope: float = 2e-5
    optimise_null: bool = True  # False gives plain DDIM inversion (null embedding of "" at every step)


@dataclass(frozen=True)
class EditConfig:
    """Prompt-to-prompt attention control and local blend (Hertz et al. 2022) fused with the region mask (MASQUE).

    ``mask_fusion`` chooses the latent blend mask M in ``z_tgt <- z_src + M * (z_tgt - z_src)``:
    ``"mask"`` the face-region mask only, ``"attention"`` the thresholded cross-attention map of the target words
    only, ``"both"`` their product (the attention map gated by the region: edits stay inside the region *and* where
    the words attend).
    """

    cross_replace: float = 0.8  # cross-attention of aligned words is replaced/refined for this fraction of steps
    word_replace: tuple[tuple[str, float], ...] = ()  # per-word overrides of `cross_replace`, e.g. (("face", 0.4),)
    self_replace: float = 0.5  # self-attention of the target is replaced by the source's for this fraction
    self_replace_res: float = 0.5  # ... on maps with side <= this fraction of the latent side (32 of 64 in SD)
    blend_res: float = 0.25  # local-blend maps: the side closest to this fraction of the latent (16 of 64 in SD)
    blend_threshold: float = 0.3
    blend_start: float = 0.2  # blending starts after this fraction of steps
    blend_pool: int = 3  # max-pool kernel applied to the attention map
    mask_fusion: Literal["mask", "attention", "both"] = "both"


@dataclass(frozen=True)
class GuidanceConfig:
    """Pairwise adversarial guidance on the target latent (MASQUE).

    In steps ``[start, end)`` (fractions) each of ``iters`` inner iterations predicts x0 from the target latent,
    decodes it, composites it with the source crop through the pixel mask, and takes a normalised gradient step
    ``z <- z - strength * step_size * M * g / rms(M * g)`` on L = `masque.adversarial.Objective`.
    ``strength = 0`` turns guidance off. ``through_unet`` also back-propagates through the UNet's noise prediction
    (costs a UNet forward+backward per iteration); by default the noise prediction is held fixed, so the gradient
    only flows through the VAE decoder and the FR models.
    """

    strength: float = 1.0
    step_size: float = 0.05
    iters: int = 2
    start: float = 0.5
    end: float = 1.0
    through_unet: bool = False
    composite: bool = True
    # the objective (`masque.adversarial.ObjectiveConfig`: terms such as source repulsion, margin, EOT for
    # robustness to JPEG/resize/blur, the balancing strategy)
    objective: ObjectiveConfig = field(default_factory=ObjectiveConfig)


@dataclass(frozen=True)
class DiffusionConfig:
    inversion: InversionConfig = field(default_factory=InversionConfig)
    edit: EditConfig = field(default_factory=EditConfig)
    guidance: GuidanceConfig = field(default_factory=GuidanceConfig)
    scheduler: SchedulerConfig = field(default_factory=SchedulerConfig)

    def to_dict(self) -> dict:
        return asdict(self)

    def validate(self) -> DiffusionConfig:
        """Raise `InputError` on a setting outside its range; returns self so it chains."""
        inv, ed, gd = self.inversion, self.edit, self.guidance
        _check(inv.num_steps >= 1, "inversion.num_steps", ">= 1", inv.num_steps)
        _check(inv.inner_iters >= 0, "inversion.inner_iters", ">= 0", inv.inner_iters)
        _check(inv.method in INVERSION_METHODS, "inversion.method", " or ".join(map(repr, INVERSION_METHODS)),
               inv.method)
        _check(inv.loss_scale >= 1, "inversion.loss_scale", ">= 1", inv.loss_scale)
        _check(inv.lr > 0 and inv.lr_decay_horizon >= 1, "inversion.lr/lr_decay_horizon", "> 0 and >= 1",
               (inv.lr, inv.lr_decay_horizon))
        for name, val in [("edit.cross_replace", ed.cross_replace), ("edit.self_replace", ed.self_replace),
                          ("edit.blend_start", ed.blend_start), ("guidance.start", gd.start), ("guidance.end", gd.end),
                          ("edit.blend_threshold", ed.blend_threshold)] + [(f"edit.word_replace[{w!r}]", f)
                                                                            for w, f in ed.word_replace]:
            _check(0.0 <= val <= 1.0, name, "a fraction in [0, 1]", val)
        _check(ed.mask_fusion in ("mask", "attention", "both"), "edit.mask_fusion", "'mask', 'attention' or 'both'",
               ed.mask_fusion)
        _check(ed.blend_pool >= 1 and ed.blend_pool % 2 == 1, "edit.blend_pool", "an odd integer >= 1", ed.blend_pool)
        _check(gd.iters >= 0, "guidance.iters", ">= 0", gd.iters)
        _check(gd.strength >= 0 and gd.step_size >= 0, "guidance.strength/step_size", ">= 0",
               (gd.strength, gd.step_size))
        return self


def _check(ok: bool, name: str, rule: str, value) -> None:
    if not ok:
        raise InputError(f"`{name}` must be {rule}, got {value!r}.")


def null_text_lr(cfg: InversionConfig, step: int) -> float:
    """Adam learning rate of null-text step ``step``: ``lr * (1 - step / horizon)``.

    The paper's horizon of 100 at its 50 steps ends the decay at about half the initial rate; longer schedules
    stretch the horizon to ``2 * num_steps`` so the rate stays in ``(lr / 2, lr]`` (with 100 it turned negative
    after step 100 and Adam refused it).
    """
    horizon = max(cfg.lr_decay_horizon, 2 * cfg.num_steps)
    return cfg.lr * (1.0 - step / horizon)


def step_count(fraction: float, num_steps: int) -> int:
    """Number of leading steps covered by ``fraction`` of a ``num_steps`` schedule (rounded down)."""
    return int(fraction * num_steps)


def guidance_level(config: DiffusionConfig) -> str | None:
    """The `GUIDANCE_LEVELS` name of ``config``'s guidance strength; None for another number."""
    value = config.guidance.strength
    return next((k for k, v in GUIDANCE_LEVELS.items() if abs(v - value) < 1e-9), None)
