"""DDIM inversion and the three ways of making guided sampling retrace it (`InversionConfig.method`).

Symbols: z_t latents, eps_theta(z_t, t, c) the UNet's noise prediction, c the source-prompt embedding, phi_t the
per-step null ("unconditional") embedding, w the guidance scale, alpha_bar_t = `scheduler.alphas_cumprod[t]`.

1. DDIM inversion (eq. 3 run backwards) with eps_theta(z_t, t, c): z*_0 -> z*_1 -> ... -> z*_T.
2. From z_T, for t = T..1, one of
   - null-text (Mokady et al. 2023, Alg. 1): minimise || z*_{t-1} - DDIM(z_t, eps_cfg(z_t, t, c, phi_t)) ||^2 over
     phi_t with Adam, where eps_cfg = eps(phi) + w (eps(c) - eps(phi)) (classifier-free guidance); then step z_t;
   - direct (Ju et al. 2023): phi_t = phi("") and the offset d_t = z*_{t-1} - DDIM(z*_t, eps_cfg) is stored; the
     source branch of the edit adds d_t after each step and so retraces z* exactly;
   - negative-prompt (Miyake et al. 2023): phi_t = c, so eps_cfg = eps(c) and sampling is w = 1 DDIM.

The UNet's output is converted by ``scheduler.config.prediction_type`` (epsilon, v_prediction or sample) wherever
an x0 or a noise estimate is formed, as diffusers' DDIM schedulers do; classifier-free guidance is affine in the
output, so it is applied to the raw outputs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ...optim import Adam
from ...trace import CostTrace
from .backbone import Backbone
from .config import InversionConfig, null_text_lr
from .precision import LossScaler


@dataclass
class InversionResult:
    x_T: torch.Tensor  # (1, C, h, w)
    null_embeddings: list[torch.Tensor]  # one (1, L, D) per denoising step, in denoising order
    latents: list[torch.Tensor]  # DDIM-inverted trajectory z*_0 .. z*_T
    losses: list[float | None]  # final null-text loss of each step (None: not optimised)
    offsets: list[torch.Tensor] | None = None  # direct inversion: d_t added to the source branch after each step
    method: str = "null-text"
    inner_losses: list[list[float]] | None = None  # null-text: every inner iteration's loss, per step


def unet_eps(bb: Backbone, z: torch.Tensor, t, emb: torch.Tensor, trace: CostTrace | None,
             backward: bool = False) -> torch.Tensor:
    """One (batched) UNet call, counted in the trace; returns the model output (noise, or v for v-prediction
    models: see `split_prediction`) in fp32."""
    if trace is not None:
        trace.add("unet", backward=backward)
    return bb.unet(z.to(bb.dtype), t, encoder_hidden_states=emb.to(bb.dtype)).sample.float()


def cfg_eps(eps_uncond: torch.Tensor, eps_cond: torch.Tensor, scale: float) -> torch.Tensor:
    """Classifier-free guidance: eps(phi) + w (eps(c) - eps(phi))."""
    return eps_uncond + scale * (eps_cond - eps_uncond)


def split_prediction(scheduler, out: torch.Tensor, alpha_bar, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(x0, eps) from the model output at a latent ``z`` of noise level ``alpha_bar``, by the scheduler's
    ``prediction_type`` (the formulas of diffusers' `DDIMScheduler.step`)."""
    kind = scheduler.config.prediction_type
    a, b = alpha_bar ** 0.5, (1 - alpha_bar) ** 0.5
    if kind == "epsilon":
        return (z - b * out) / a, out
    if kind == "v_prediction":
        return a * z - b * out, a * out + b * z
    if kind == "sample":
        return out, (z - a * out) / b
    raise ValueError(f"`scheduler.config.prediction_type` must be 'epsilon', 'v_prediction' or 'sample', got {kind!r}.")


def ddim_next(scheduler, out: torch.Tensor, t: int, z: torch.Tensor) -> torch.Tensor:
    """Inverse DDIM step z_{t-Δ} -> z_t (deterministic, eta = 0) with the scheduler's own alpha_bar table; the
    model output is read at the latent's own noise level, as `DDIMInverseScheduler.step` does."""
    prev_t = int(t) - scheduler.config.num_train_timesteps // scheduler.num_inference_steps
    a_prev = scheduler.alphas_cumprod[prev_t] if prev_t >= 0 else scheduler.final_alpha_cumprod
    a_t = scheduler.alphas_cumprod[int(t)]
    x0, eps = split_prediction(scheduler, out, a_prev, z)
    return a_t ** 0.5 * x0 + (1 - a_t) ** 0.5 * eps


def ddim_prev(scheduler, eps: torch.Tensor, t, z: torch.Tensor) -> torch.Tensor:
    """Forward DDIM step via the scheduler (differentiable tensor maths, eta = 0)."""
    return scheduler.step(eps, t, z).prev_sample


def ddim_invert(bb: Backbone, z0: torch.Tensor, cond: torch.Tensor, trace: CostTrace | None) -> list[torch.Tensor]:
    """Step 1: the inverted trajectory [z*_0, ..., z*_T] under the conditional prediction."""
    sched = bb.scheduler
    latents = [z0]
    z = z0
    for t in reversed(sched.timesteps):
        with torch.no_grad():
            eps = unet_eps(bb, z, t, cond, trace)
        z = ddim_next(sched, eps, int(t), z)
        latents.append(z)
    return latents


def optimise_null(bb: Backbone, latents: list[torch.Tensor], cond: torch.Tensor, null: torch.Tensor,
                  cfg: InversionConfig, trace: CostTrace | None,
                  progress: Callable[[str, int, int], None] | None = None,
                  ) -> tuple[list[torch.Tensor], list[float | None], list[list[float]]]:
    """Step 2: per-step null embeddings phi_t so that guided DDIM from z_T retraces the inverted trajectory."""
    sched = bb.scheduler
    n = len(sched.timesteps)
    nulls, losses, inner = [], [], []
    phi = null.detach().float().clone()
    scaler = LossScaler.for_dtype(bb.dtype, cfg.loss_scale)
    z = latents[-1]
    for i, t in enumerate(sched.timesteps):
        target = latents[n - i - 1]
        loss_item, step_losses = None, []
        if cfg.optimise_null and cfg.inner_iters > 0:
            with torch.no_grad():
                eps_c = unet_eps(bb, z, t, cond, trace)
            phi.requires_grad_(True)
            opt = Adam([phi], lr=null_text_lr(cfg, i))
            for _ in range(cfg.inner_iters):
                eps_u = unet_eps(bb, z, t, phi, trace, backward=True)
                loss = F.mse_loss(ddim_prev(sched, cfg_eps(eps_u, eps_c, cfg.guidance_scale), t, z), target)
                (grad,) = scaler.grad(loss, [phi])
                loss_item = loss.item()
                del eps_u, loss  # free the retained graph before the next forward pass
                if bool(torch.isfinite(grad).all()):  # as GradScaler: a gradient that overflowed at every scale
                    phi.grad = grad                  # skips the step
                    opt.step()
                step_losses.append(loss_item)
                if loss_item < cfg.early_stop + i * cfg.early_stop_slope:
                    break
            phi = phi.detach()
        nulls.append(phi.clone())
        losses.append(loss_item)
        inner.append(step_losses)
        with torch.no_grad():
            eps_u, eps_c = unet_eps(bb, torch.cat([z, z]), t, torch.cat([phi, cond]), trace).chunk(2)
            z = ddim_prev(sched, cfg_eps(eps_u, eps_c, cfg.guidance_scale), t, z)
        if progress is not None:
            progress("null-text", i + 1, n)
    return nulls, losses, inner


@torch.no_grad()
def direct_offsets(bb: Backbone, latents: list[torch.Tensor], cond: torch.Tensor, null: torch.Tensor, scale: float,
                   trace: CostTrace | None, progress=None) -> list[torch.Tensor]:
    """Direct inversion's per-step offsets d_t = z*_{t-1} - DDIM(z_t, eps_cfg) along the source branch's own path
    (z_{t-1} = DDIM(z_t, eps_cfg) + d_t, which is z*_{t-1} up to rounding): one batched forward per step."""
    sched = bb.scheduler
    n = len(sched.timesteps)
    offsets = []
    z = latents[-1]
    for i, t in enumerate(sched.timesteps):
        eps_u, eps_c = unet_eps(bb, torch.cat([z, z]), t, torch.cat([null, cond]), trace).chunk(2)
        rec = ddim_prev(sched, cfg_eps(eps_u, eps_c, scale), t, z)
        offsets.append(latents[n - i - 1] - rec)
        z = rec + offsets[-1]
        if progress is not None:
            progress("inversion", i + 1, n)
    return offsets


def invert(bb: Backbone, z0: torch.Tensor, cond: torch.Tensor, null: torch.Tensor, cfg: InversionConfig,
           trace: CostTrace | None = None, progress=None) -> InversionResult:
    """DDIM inversion + ``cfg.method``; the scheduler must already hold ``cfg.num_steps`` timesteps."""
    latents = ddim_invert(bb, z0, cond, trace)
    n = len(bb.scheduler.timesteps)
    if cfg.method == "null-text":
        nulls, losses, inner = optimise_null(bb, latents, cond, null, cfg, trace, progress)
        return InversionResult(latents[-1], nulls, latents, losses, method=cfg.method, inner_losses=inner)
    if cfg.method == "direct":
        offsets = direct_offsets(bb, latents, cond, null, cfg.guidance_scale, trace, progress)
        return InversionResult(latents[-1], [null] * n, latents, [None] * n, offsets=offsets, method=cfg.method)
    if cfg.method == "negative-prompt":
        return InversionResult(latents[-1], [cond] * n, latents, [None] * n, method=cfg.method)
    raise ValueError(f"`inversion.method` must be 'direct', 'null-text' or 'negative-prompt', got {cfg.method!r}.")


@torch.no_grad()
def reconstruct(bb: Backbone, inv: InversionResult, cond: torch.Tensor, scale: float,
                trace: CostTrace | None = None) -> torch.Tensor:
    """Guided DDIM from x_T with the per-step null embeddings and direct inversion's offsets (what the source branch
    of an edit computes)."""
    z = inv.x_T
    for i, (t, phi) in enumerate(zip(bb.scheduler.timesteps, inv.null_embeddings, strict=True)):
        eps_u, eps_c = unet_eps(bb, torch.cat([z, z]), t, torch.cat([phi, cond]), trace).chunk(2)
        z = ddim_prev(bb.scheduler, cfg_eps(eps_u, eps_c, scale), t, z)
        if inv.offsets is not None:
            z = z + inv.offsets[i]
    return z
