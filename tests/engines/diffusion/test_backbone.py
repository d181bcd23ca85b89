"""Loading through the same `from_pretrained` path as real weights, and one-line `WeightsError`s."""

from __future__ import annotations

import shutil

import pytest
import torch

from masque.engines import create_engine
from masque.engines.diffusion import (
    MODEL_ENV,
    DiffusionConfig,
    GuidanceConfig,
    InversionConfig,
    MasquePipeline,
    SchedulerConfig,
    load_backbone,
)
from masque.errors import InputError, WeightsError
from masque.pipeline import make_job


def test_tiny_loads_from_disk_with_reference_scheduler(tiny_sd_dir):
    bb = load_backbone(tiny_sd_dir, device="cpu")
    assert bb.dtype == torch.float32 and bb.device.type == "cpu"
    assert bb.resolution == bb.unet.config.sample_size * bb.vae_scale_factor == 64
    assert type(bb.scheduler).__name__ == "DDIMScheduler"
    for key, value in SchedulerConfig().__dict__.items():
        assert bb.scheduler.config[key] == value
    levels = {name.split(".")[0] for name in bb.unet.attn_processors if name.endswith("attn2.processor")}
    assert {"down_blocks", "up_blocks", "mid_block"} <= levels  # cross-attention at several resolutions


def test_env_variable_selects_the_model(tiny_sd_dir, monkeypatch):
    monkeypatch.setenv(MODEL_ENV, str(tiny_sd_dir))
    assert MasquePipeline.from_pretrained().backbone.source == str(tiny_sd_dir)


def test_bf16_is_selectable(tiny_sd_dir):
    assert load_backbone(tiny_sd_dir, device="cpu", torch_dtype="bf16").dtype == torch.bfloat16


def _one_line_error(source, **kw) -> str:
    with pytest.raises(WeightsError) as err:
        load_backbone(source, device="cpu", **kw)
    msg = str(err.value)
    assert "\n" not in msg and "masque models fetch" in msg and MODEL_ENV in msg
    return msg


def test_missing_folder(tmp_path):
    assert "does not exist" in _one_line_error(tmp_path / "nowhere")


def test_folder_without_weights(tmp_path):
    assert "model_index.json" in _one_line_error(tmp_path)


def test_folder_with_index_but_no_unet(tiny_sd_dir, tmp_path):
    broken = tmp_path / "sd"
    shutil.copytree(tiny_sd_dir, broken)
    shutil.rmtree(broken / "unet")
    assert str(broken) in _one_line_error(broken)


def test_corrupted_weights_file(tiny_sd_dir, tmp_path):
    broken = tmp_path / "sd"
    shutil.copytree(tiny_sd_dir, broken)
    (weights,) = (broken / "unet").glob("diffusion_pytorch_model.*")
    weights.write_bytes(b"not a tensor file" * 10)
    _one_line_error(broken)


def test_uncached_hub_id_fails_fast_without_network_access():
    """The default reads the hub cache only, so a missing model is one quick line, not minutes of retries."""
    import time

    t0 = time.perf_counter()
    msg = _one_line_error("nobody-here/no-such-model")
    assert "nobody-here/no-such-model" in msg and "masque models fetch sd" in msg
    assert time.perf_counter() - t0 < 10


def test_engine_registry_builds_the_diffusion_engine(tiny_sd_dir):
    engine = create_engine("diffusion", model=str(tiny_sd_dir), device="cpu", embedders=["tiny-random"])
    assert engine.name == "diffusion" and [e.name for e in engine.embedders] == ["tiny-random"]
    assert callable(engine.protect)


def test_engine_protects_a_non_square_crop(tiny_sd_dir, face_crop, lips_mask):
    cfg = DiffusionConfig(inversion=InversionConfig(num_steps=3, inner_iters=1), guidance=GuidanceConfig(iters=1))
    engine = create_engine("diffusion", model=str(tiny_sd_dir), device="cpu", embedders=["tiny-random"], config=cfg)
    crop, mask = face_crop[..., :, 4:76], lips_mask[..., :, 4:76]  # 80 x 72
    res = engine.protect(make_job(engine, crop, mask, "red lipstick", seed=0))
    assert res.image.shape == crop.shape and res.image.dtype == crop.dtype
    assert torch.equal(res.image[(mask == 0).expand_as(crop)], crop[(mask == 0).expand_as(crop)])
    assert res.details["target_words"] == ["red", "lipstick"] and res.details["resolution"] == engine.crop_size == 64
    assert set(res.similarity_after) == {"tiny-random"} and "similarity_after" not in res.details


@pytest.mark.parametrize("bad", [
    {"mask": torch.zeros(1, 1, 8, 8)},
    {"crop": torch.full((1, 3, 80, 80), 2.0)},
    {"prompt": "  "},
    {"target_word": "blue"},
    {"target_word": ["red lipstick", "blue"]},
])
def test_bad_inputs_raise_one_line_input_errors(tiny_sd_dir, face_crop, lips_mask, bad):
    pipe = MasquePipeline.from_pretrained(tiny_sd_dir, config=DiffusionConfig(guidance=GuidanceConfig(strength=0)))
    kw = {"crop": face_crop, "mask": lips_mask, "prompt": "red lipstick"} | bad
    target_word = kw.pop("target_word", None)
    with pytest.raises(InputError) as err:
        pipe.protect(kw["crop"], kw["mask"], kw["prompt"], [], [], target_word=target_word)
    assert "\n" not in str(err.value)


def test_fetched_snapshot_is_used_for_a_hub_id(tmp_path, monkeypatch, tiny_sd_dir):
    """`masque models fetch sd` stores SD under $MASQUE_HOME; the default hub id then resolves to that folder."""
    import shutil

    from masque.catalogue import sd_path
    from masque.engines.diffusion.backbone import DEFAULT_MODEL, MODEL_ENV, resolve_model

    monkeypatch.setenv("MASQUE_HOME", str(tmp_path))
    monkeypatch.delenv(MODEL_ENV, raising=False)
    assert resolve_model(None) == DEFAULT_MODEL  # nothing fetched: the hub id (Hugging Face cache)
    shutil.copytree(tiny_sd_dir, sd_path(DEFAULT_MODEL))
    assert resolve_model(None) == str(sd_path(DEFAULT_MODEL))
    assert resolve_model(str(tiny_sd_dir)) == str(tiny_sd_dir)  # an explicit folder always wins


def test_random_backbone_is_seeded_without_touching_the_global_rng():
    """The one seeding rule: library code draws from local generators; building seeded random components leaves the
    caller's global RNG where it was and gives the same weights for the same seed."""
    from masque.engines.diffusion.backbone import build_random_backbone

    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    a = build_random_backbone(seed=1)
    assert torch.equal(torch.rand(3), expected)
    b = build_random_backbone(seed=1)
    assert all(torch.equal(x, y) for x, y in zip(a.unet.state_dict().values(), b.unet.state_dict().values(),
                                                  strict=True))


@pytest.mark.parametrize("dtype", ["fp16", "bf16"])
def test_every_component_loads_in_the_requested_dtype(tiny_sd_dir, dtype):
    """The text encoder too: transformers < 4.56 rejected `from_pretrained(..., dtype=...)` ("Object of type dtype is
    not JSON serializable"); `.ci/lowest-deps` runs this file under the lowest allowed versions."""
    want = {"fp16": torch.float16, "bf16": torch.bfloat16}[dtype]
    bb = load_backbone(tiny_sd_dir, device="cpu", torch_dtype=dtype)
    for module in (bb.unet, bb.vae, bb.text_encoder):
        assert {p.dtype for p in module.parameters()} == {want}
    assert bb.tokenizer("A face of a human").input_ids[:3] == [bb.tokenizer.bos_token_id, 320, 69]


def _protect(pipe, face_crop, lips_mask):
    from masque.embedders import create_embedder

    return pipe.protect(face_crop, lips_mask, "red lipstick", [], [create_embedder("tiny-random", weights=None)])


MEMORY_TEST_CONFIG = DiffusionConfig(inversion=InversionConfig(num_steps=3), guidance=GuidanceConfig(iters=1))


def test_placement_sets_sdpa_everywhere_and_vae_tiling_runs_through_guidance(tiny_sd_dir, face_crop, lips_mask):
    from diffusers.models.attention_processor import AttnProcessor, AttnProcessor2_0

    from masque.engines.diffusion.backbone import MemoryConfig, place_backbone

    bb = load_backbone(tiny_sd_dir, device="cpu")
    bb.unet.set_attn_processor(AttnProcessor())  # a model that came with the classic kernel ...
    bb = place_backbone(bb, "cpu", torch.float32, MemoryConfig(vae_tiling=True))
    for module in (bb.unet, bb.vae):  # ... runs SDPA after placement
        assert all(isinstance(p, AttnProcessor2_0) for p in module.attn_processors.values())
    assert bb.vae.use_tiling
    bb.vae.tile_sample_min_size, bb.vae.tile_latent_min_size = 32, 8  # force 4 overlapping tiles at 64^2
    res = _protect(MasquePipeline(bb, MEMORY_TEST_CONFIG), face_crop, lips_mask)
    keep = (lips_mask == 0).expand_as(face_crop)
    assert torch.isfinite(res.image).all() and torch.equal(res.image[keep], face_crop[keep])
    assert len(res.details["guidance_losses"]) > 0


def test_model_offload_hooks_give_the_same_result(tiny_sd_dir, face_crop, lips_mask):
    """diffusers' model offload (accelerate hooks), run on the CPU where the hooks move nothing: the same image (to
    1e-5; 1.6e-6 measured), inputs routed to the execution device; asking for offload without CUDA is one line."""
    from masque.engines.diffusion.backbone import MemoryConfig, install_offload_hooks

    plain = _protect(MasquePipeline(load_backbone(tiny_sd_dir, device="cpu"), MEMORY_TEST_CONFIG), face_crop,
                     lips_mask)
    hooked = install_offload_hooks(load_backbone(tiny_sd_dir, device="cpu"), torch.device("cpu"))
    assert hooked.execution_device is not None and hasattr(hooked.unet, "_hf_hook")
    res = _protect(MasquePipeline(hooked, MEMORY_TEST_CONFIG), face_crop, lips_mask)
    assert (res.image - plain.image).abs().max() <= 1e-5
    with pytest.raises(InputError, match="CUDA") as err:
        load_backbone(tiny_sd_dir, device="cpu", memory=MemoryConfig(offload=True))
    assert "\n" not in str(err.value)
