"""Prompt-to-prompt control: word alignment, per-word schedule, and exact no-edit equivalence with plain diffusers."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch
from diffusers.models.attention_processor import AttnProcessor2_0

from masque.engines.diffusion import EditConfig
from masque.engines.diffusion.attention import align_prompts, attention_sides, pick_blend_side, word_spans
from masque.engines.diffusion.blend import region_to_latent
from masque.engines.diffusion.inversion import cfg_eps

from .conftest import FAST_INVERSION, METHODS, STEPS

SRC = "A face of a human"


def test_refinement_alignment_maps_shared_words_and_marks_new_ones(tiny_pipe):
    tok = tiny_pipe.backbone.tokenizer
    tgt = f"{SRC} with red lipstick"
    al = align_prompts(tok, SRC, tgt, EditConfig(), 50, ("red", "lipstick"))
    src_spans, tgt_spans = word_spans(tok, SRC), word_spans(tok, tgt)
    for (_, s0, s1), (_, t0, t1) in zip(src_spans, tgt_spans, strict=False):  # shared prefix maps token by token
        assert al.mapper[t0:t1].tolist() == list(range(s0, s1))
        assert (al.cutoff[t0:t1] == 40).all()  # 80% of 50 steps
    new = [p for w, s, e in tgt_spans[len(src_spans):] for p in range(s, e)]
    assert (al.mapper[new] == -1).all() and (al.cutoff[new] == 0).all()
    red, lip = tgt_spans[-2], tgt_spans[-1]
    assert al.target_tokens == tuple(range(red[1], red[2])) + tuple(range(lip[1], lip[2]))
    ids = tok(tgt, padding="max_length", max_length=tok.model_max_length).input_ids
    assert ids[lip[2]] == tok.eos_token_id  # word positions agree with tokenising the whole prompt
    assert al.mapper[lip[2]] == src_spans[-1][2]  # target EOS -> source EOS


def test_word_swap_and_per_word_schedule(tiny_pipe):
    tok = tiny_pipe.backbone.tokenizer
    cfg = EditConfig(word_replace=(("face", 0.4),))
    al = align_prompts(tok, "a face of a cat", "a face of a dog", cfg, 10)
    spans = word_spans(tok, "a face of a dog")
    _, f0, f1 = spans[1]
    _, d0, d1 = spans[4]
    assert (al.cutoff[f0:f1] == 4).all() and (al.cutoff[d0:d1] == 8).all()
    assert al.mapper[d0:d1].tolist() == list(range(d0, d1))  # same token count: swapped word takes cat's maps


def test_blend_resolution_rule():
    assert pick_blend_side([64, 32, 16, 8], 64, 0.25) == 16  # SD 1.5 at 512^2: the 16^2 maps
    assert pick_blend_side([16, 8], 16, 0.25) == 8  # tiny model: the coarsest available


@pytest.mark.parametrize("method", METHODS)
def test_no_edit_run_equals_plain_diffusers(tiny_pipe, face_crop, method):
    """Target prompt == source prompt, no guidance: every controlled latent equals a plain diffusers run (the UNet's
    default SDPA processors, as in inversion) from the same inversion."""
    pipe = tiny_pipe.with_config(inversion=replace(FAST_INVERSION, method=method, inner_iters=2))
    bb = pipe.backbone
    image = torch.nn.functional.interpolate(face_crop, size=(64, 64), mode="bilinear", antialias=True)
    inv = pipe.invert(image, SRC)
    controlled = []
    region = region_to_latent(torch.ones(1, 1, 64, 64), pipe.latent_side)
    pipe.edit(inv, SRC, SRC, [], region, on_step=lambda s: controlled.append((s.z_src, s.z_tgt)))
    assert len(controlled) == STEPS
    assert attention_sides(bb.unet, pipe.latent_side) == [16, 8]

    assert all(isinstance(p, AttnProcessor2_0) for p in bb.unet.attn_processors.values())  # restored after the edit
    cond = pipe.encode_prompt([SRC])
    bb.scheduler.set_timesteps(STEPS)
    z = inv.x_T
    with torch.no_grad():
        for i, ((z_src, z_tgt), t, null) in enumerate(zip(controlled, bb.scheduler.timesteps, inv.null_embeddings,
                                                          strict=True)):
            eps_u, eps_c = bb.unet(torch.cat([z, z]), t, encoder_hidden_states=torch.cat([null, cond])).sample.chunk(2)
            z = bb.scheduler.step(cfg_eps(eps_u, eps_c, pipe.config.inversion.guidance_scale), t, z).prev_sample
            if inv.offsets is not None:  # direct inversion (offsets on both branches, `offset_target`)
                z = z + inv.offsets[i]
            assert (z_src - z).abs().max() <= 1e-5
            assert (z_tgt - z).abs().max() <= 1e-5
    if method == "direct":  # ... and so retraces the inversion
        assert (z - inv.latents[0]).abs().max() <= 1e-5


def test_fp16_edit_source_branch_uses_the_inversion_kernel(tiny_sd_dir, face_crop):
    """fp16: the edit's source branch equals `reconstruct` (the UNet's default SDPA processors, as in inversion); the
    classic softmax-bmm kernel the edit used to run is 1e-2 away in fp16 on this model, so the test can tell."""
    from diffusers.models.attention_processor import AttnProcessor

    from masque.engines.diffusion import DiffusionConfig, GuidanceConfig, InversionConfig, MasquePipeline
    from masque.engines.diffusion.inversion import reconstruct

    cfg = DiffusionConfig(inversion=InversionConfig(method="direct", num_steps=STEPS),
                          guidance=GuidanceConfig(strength=0))
    pipe = MasquePipeline.from_pretrained(tiny_sd_dir, torch_dtype="fp16", config=cfg)
    image = torch.nn.functional.interpolate(face_crop, size=(64, 64), mode="bilinear", antialias=True)
    inv = pipe.invert(image, SRC)
    cond = pipe.encode_prompt([SRC])
    sdpa = reconstruct(pipe.backbone, inv, cond, 7.5)
    region = region_to_latent(torch.ones(1, 1, 64, 64), pipe.latent_side)
    res = pipe.edit(inv, SRC, f"{SRC} with red lipstick", ["red", "lipstick"], region)
    assert (res.z_src - sdpa).abs().max() <= 1e-4
    default = dict(pipe.backbone.unet.attn_processors)
    pipe.backbone.unet.set_attn_processor(AttnProcessor())
    classic = reconstruct(pipe.backbone, inv, cond, 7.5)
    pipe.backbone.unet.set_attn_processor(default)
    assert (classic - sdpa).abs().max() >= 5e-3


def test_default_blend_words_skip_function_words():
    from masque.engines.diffusion.pipeline import default_blend_words

    assert default_blend_words("red lipstick and a blue eyeshadow with glitter") == (
        "red", "lipstick", "blue", "eyeshadow", "glitter")
    assert default_blend_words("smoky eyes", "A face of a human with smoky") == ("eyes",)
    assert default_blend_words("with a and") == ()  # nothing left: the region mask alone drives the blend


def test_both_fusion_warns_when_the_attention_map_misses_the_region():
    import warnings

    from masque.engines.diffusion.blend import warn_if_attention_misses

    maps = torch.zeros(1, 1, 8, 8)
    maps[..., 1, 1] = 1.0  # words attend to the top-left corner
    region = torch.zeros(1, 1, 16, 16)
    region[..., 10:16, 4:12] = 1.0  # lips: bottom middle
    with pytest.warns(RuntimeWarning, match="mask_fusion='mask'"):
        assert warn_if_attention_misses(region, maps, 16, EditConfig(), ("red",)) == 0.0
    maps[..., 6, 4] = 1.0  # now it also covers part of the region
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert warn_if_attention_misses(region, maps, 16, EditConfig(), ("red",)) > 0.05
        assert warn_if_attention_misses(region, maps[..., :1, :1] * 0, 16, EditConfig(mask_fusion="mask"), ()) is None
