"""DDIM inversion and null-text optimisation (Mokady et al. 2023, "Null-text Inversion", Alg. 1).

Symbols: z_t latents, eps_theta(z_t, t, c) the UNet's noise prediction, c the source-prompt embedding, phi_t the
per-step null ("unconditional") embedding, w the guidance scale, alpha_bar_t = `scheduler.alphas_cumprod[t]`.

1. DDIM inversion (eq. 3 run backwards) with eps_theta(z_t, t, c): z*_0 -> z*_1 -> ... -> z*_T.
2. From z_T, for t = T..1: minimise || z*_{t-1} - DDIM(z_t, eps_cfg(z_t, t, c, phi_t)) ||^2 over phi_t with Adam,
   where eps_cfg = eps(phi) + w (eps(c) - eps(phi)) (classifier-free guidance, eq. 2); then step z_t with phi_t.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ...trace import CostTrace
from .backbone import Backbone
from .config import InversionConfig


@dataclass
class InversionResult:
    x_T: torch.Tensor  # (1, C, h, w)
    null_embeddings: list[torch.Tensor]  # one (1, L, D) per denoising step, in denoising order
    latents: list[torch.Tensor]  # DDIM-inverted trajectory z*_0 .. z*_T
    losses: list[float | None]  # final null-text loss of each step (None: not optimised)


def unet_eps(bb: Backbone, z: torch.Tensor, t, emb: torch.Tensor, trace: CostTrace | None,
             backward: bool = False) -> torch.Tensor:
    """One (batched) UNet call, counted in the trace; returns the noise prediction in fp32."""
    if trace is not None:
        trace.add("unet", backward=backward)
    return bb.unet(z.to(bb.dtype), t, encoder_hidden_states=emb.to(bb.dtype)).sample.float()


def cfg_eps(eps_uncond: torch.Tensor, eps_cond: torch.Tensor, scale: float) -> torch.Tensor:
    """Classifier-free guidance: eps(phi) + w (eps(c) - eps(phi))."""
    return eps_uncond + scale * (eps_cond - eps_uncond)


def ddim_next(scheduler, eps: torch.Tensor, t: int, z: torch.Tensor) -> torch.Tensor:
    """Inverse DDIM step z_{t-Δ} -> z_t (deterministic, eta = 0) with the scheduler's own alpha_bar table."""
    prev_t = int(t) - scheduler.config.num_train_timesteps // scheduler.num_inference_steps
    a_prev = scheduler.alphas_cumprod[prev_t] if prev_t >= 0 else scheduler.final_alpha_cumprod
    a_t = scheduler.alphas_cumprod[int(t)]
    x0 = (z - (1 - a_prev) ** 0.5 * eps) / a_prev ** 0.5
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
                  ) -> tuple[list[torch.Tensor], list[float | None]]:
    """Step 2: per-step null embeddings phi_t so that guided DDIM from z_T retraces the inverted trajectory."""
    sched = bb.scheduler
    n = len(sched.timesteps)
    nulls, losses = [], []
    phi = null.detach().float().clone()
    z = latents[-1]
    for i, t in enumerate(sched.timesteps):
        target = latents[n - i - 1]
        loss_item = None
        if cfg.optimise_null and cfg.inner_iters > 0:
            with torch.no_grad():
                eps_c = unet_eps(bb, z, t, cond, trace)
            phi.requires_grad_(True)
            opt = torch.optim.Adam([phi], lr=cfg.lr * (1.0 - i / cfg.lr_decay_horizon))
            for _ in range(cfg.inner_iters):
                eps_u = unet_eps(bb, z, t, phi, trace, backward=True)
                rec = ddim_prev(sched, cfg_eps(eps_u, eps_c, cfg.guidance_scale), t, z)
                loss = F.mse_loss(rec, target)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                loss_item = loss.item()
                if loss_item < cfg.early_stop + i * cfg.early_stop_slope:
                    break
            phi = phi.detach()
        nulls.append(phi.clone())
        losses.append(loss_item)
        with torch.no_grad():
            eps_u, eps_c = unet_eps(bb, torch.cat([z, z]), t, torch.cat([phi, cond]), trace).chunk(2)
            z = ddim_prev(sched, cfg_eps(eps_u, eps_c, cfg.guidance_scale), t, z)
        if progress is not None:
            progress("null-text", i + 1, n)
    return nulls, losses


def invert(bb: Backbone, z0: torch.Tensor, cond: torch.Tensor, null: torch.Tensor, cfg: InversionConfig,
           trace: CostTrace | None = None, progress=None) -> InversionResult:
    """DDIM inversion + null-text optimisation; the scheduler must already hold ``cfg.num_steps`` timesteps."""
    latents = ddim_invert(bb, z0, cond, trace)
    nulls, losses = optimise_null(bb, latents, cond, null, cfg, trace, progress)
    return InversionResult(latents[-1], nulls, latents, losses)


@torch.no_grad()
def reconstruct(bb: Backbone, inv: InversionResult, cond: torch.Tensor, scale: float,
                trace: CostTrace | None = None) -> torch.Tensor:
    """Guided DDIM from x_T with the per-step null embeddings (what the source branch of an edit computes)."""
    z = inv.x_T
    for t, phi in zip(bb.scheduler.timesteps, inv.null_embeddings, strict=True):
        eps_u, eps_c = unet_eps(bb, torch.cat([z, z]), t, torch.cat([phi, cond]), trace).chunk(2)
        z = ddim_prev(bb.scheduler, cfg_eps(eps_u, eps_c, scale), t, z)
    return z
