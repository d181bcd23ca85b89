"""Pairwise adversarial guidance on the target latent (MASQUE).

At step t with target latent z_t and noise prediction eps:

    x0_hat = (z_t - sqrt(1 - alpha_bar_t) eps) / sqrt(alpha_bar_t)          (DDIM's x0 prediction, eq. 12 of DDIM;
                                                                             by prediction_type, `split_prediction`)
    x_hat  = m * D(x0_hat / s) + (1 - m) * x_src                           (decode, composite with the source crop)
    L      = `masque.adversarial.Objective`(x_hat)                          (its terms: the dodge from the anchors ...)
    z_t   <- z_t - strength * step_size * M * g / rms(M * g),  g = dL/dz_t (or the objective's balanced gradient)

with s = ``vae.config.scaling_factor``, m the pixel mask and M the latent blend mask, so the latent outside M never
moves. The loss, its balancing and its score live in `masque.adversarial.Objective`; this module only routes
gradients to the latent (loss-scaled when the backbone is fp16: the per-pixel gradient entering the fp16 VAE decoder
underflows otherwise).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from ...adversarial import Objective
from ...trace import CostTrace
from .backbone import Backbone
from .config import GuidanceConfig, step_count
from .inversion import cfg_eps, split_prediction, unet_eps
from .precision import LossScaler


@dataclass
class GuidanceContext:
    """Everything guidance needs that is fixed for one image."""

    objective: Objective  # the anchors' (and source's) embeddings, computed once; one EOT sampler per image
    source_image: torch.Tensor  # (1, 3, R, R) native-resolution source crop in [0, 1]
    pixel_mask: torch.Tensor  # (1, 1, R, R)
    trace: CostTrace
    losses: list[float] = field(default_factory=list)  # loss of every inner iteration, for the sidecar
    scores: list[float] = field(default_factory=list)  # `Objective.score` of every inner iteration (one EOT draw)
    scaler: LossScaler | None = None  # loss scale of the fp16 VAE-decoder gradient (default: by the backbone dtype)


def guidance_steps(cfg: GuidanceConfig, num_steps: int) -> range:
    """Denoising-step indices in the window [start, end) (fractions of the schedule); empty when disabled."""
    if cfg.strength == 0 or cfg.iters == 0 or cfg.step_size == 0:
        return range(0)
    return range(step_count(cfg.start, num_steps), step_count(cfg.end, num_steps))


def decode(bb: Backbone, z0: torch.Tensor, trace: CostTrace | None, backward: bool = False) -> torch.Tensor:
    """VAE decode of a latent to an image in [0, 1] (fp32), counted in the trace."""
    if trace is not None:
        trace.add("vae_decode", backward=backward)
    img = bb.vae.decode((z0 / bb.vae.config.scaling_factor).to(bb.dtype)).sample.float()
    return (img / 2 + 0.5).clamp(0, 1)


def guide(bb: Backbone, z: torch.Tensor, eps: torch.Tensor, t, latent_mask: torch.Tensor, ctx: GuidanceContext,
          cfg: GuidanceConfig, *, cond: torch.Tensor | None = None, null: torch.Tensor | None = None,
          scale: float = 1.0) -> torch.Tensor:
    """``cfg.iters`` normalised gradient steps on the target latent ``z`` (1, C, h, w) inside ``latent_mask``.

    With ``cfg.through_unet`` the noise prediction is recomputed from z (needs ``cond``/``null``, the target-prompt
    and null embeddings, and the CFG ``scale``); otherwise ``eps`` is held fixed.
    """
    a_t = bb.scheduler.alphas_cumprod[int(t)].to(z.device)
    m_lat = latent_mask.to(z)
    scaler = ctx.scaler if ctx.scaler is not None else LossScaler.for_dtype(bb.dtype)
    for _ in range(cfg.iters):
        zg = z.detach().requires_grad_(True)
        with torch.enable_grad():
            if cfg.through_unet:
                eps_u, eps_c = unet_eps(bb, torch.cat([zg, zg]), t, torch.cat([null, cond]), ctx.trace,
                                        backward=True).chunk(2)
                e = cfg_eps(eps_u, eps_c, scale)
            else:
                e = eps.detach()
            x0, _ = split_prediction(bb.scheduler, e, a_t, zg)
            img = decode(bb, x0, ctx.trace, backward=True)
            if cfg.composite:
                img = ctx.pixel_mask * img + (1 - ctx.pixel_mask) * ctx.source_image
            adv = ctx.objective(img)
            g = ctx.objective.gradient(adv, lambda loss, retain, zg=zg: scaler.grad(loss, [zg], retain)[0])
        ctx.losses.append(float(adv.loss.detach()))
        ctx.scores.append(ctx.objective.score(adv))
        del adv, img, x0, e  # free the retained graph
        g = m_lat * g
        rms = g.pow(2).sum().div(m_lat.expand_as(g).sum().clamp_min(1)).sqrt()
        if bool(torch.isfinite(rms)) and rms > 0:
            z = z - cfg.strength * cfg.step_size * g / rms
    return z.detach()
