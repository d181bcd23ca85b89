"""Null-text inversion: far better reconstruction than plain DDIM inversion at guidance 7.5, exact cost counts."""

from __future__ import annotations

from dataclasses import replace

import torch
import torch.nn.functional as F

from masque.engines.diffusion.inversion import reconstruct
from masque.trace import CostTrace

from .conftest import FAST_INVERSION, STEPS

SRC = "A face of a human"
RECONSTRUCTION_MSE = 0.01  # latent MSE of x_T + null embeddings vs z0 (latents have unit variance by construction)


def _recon_mse(pipe, image, inversion_cfg, trace=None):
    p = pipe.with_config(inversion=inversion_cfg)
    inv = p.invert(image, SRC, trace=trace)
    z = reconstruct(p.backbone, inv, p.encode_prompt([SRC]), inversion_cfg.guidance_scale)
    return float(F.mse_loss(z, inv.latents[0])), inv


def test_null_text_beats_plain_ddim_inversion_tenfold(tiny_pipe, face_crop):
    image = F.interpolate(face_crop, size=(64, 64), mode="bilinear", antialias=True)
    assert FAST_INVERSION.guidance_scale == 7.5
    plain, _ = _recon_mse(tiny_pipe, image, replace(FAST_INVERSION, optimise_null=False))
    trace = CostTrace()
    nulltext, inv = _recon_mse(tiny_pipe, image, replace(FAST_INVERSION, early_stop=0.0, early_stop_slope=0.0), trace)
    assert nulltext * 10 <= plain, (plain, nulltext)
    assert nulltext < RECONSTRUCTION_MSE
    assert float(inv.latents[0].var()) > 0.5  # the tolerance is small relative to the latent's own spread
    assert len(inv.null_embeddings) == STEPS and inv.x_T.shape == inv.latents[0].shape
    assert not torch.equal(inv.null_embeddings[0], inv.null_embeddings[-1])
    # DDIM inversion: STEPS forwards; null-text: per step one conditional forward, `inner_iters` forward+backward
    # passes (early stop disabled) and one batched CFG forward.
    assert trace.forward["unet"] == 3 * STEPS and trace.backward["unet"] == STEPS * FAST_INVERSION.inner_iters
    assert trace.forward["vae_encode"] == 1


def test_early_stop_cuts_inner_iterations(tiny_pipe, face_crop):
    image = F.interpolate(face_crop, size=(64, 64), mode="bilinear", antialias=True)
    trace = CostTrace()
    tiny_pipe.with_config(inversion=replace(FAST_INVERSION, early_stop=1.0)).invert(image, SRC, trace=trace)
    assert trace.backward["unet"] == STEPS  # every loss is below 1.0 after one Adam step
