"""The Stable Diffusion backbone: loading by hub id or folder, and tiny/full-size random builds for tests and benches.

Real weights and the tiny test model go through the same `load_backbone` (diffusers layout: ``model_index.json``
plus ``unet/``, ``vae/``, ``text_encoder/``, ``tokenizer/``, ``scheduler/`` subfolders), so tests exercise the path
users take. The scheduler is always a `DDIMScheduler` with the null-text-inversion settings (`SchedulerConfig`).
"""

from __future__ import annotations

import json
import os
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch

from ...devices import default_device
from ...errors import InputError, WeightsError
from .config import SchedulerConfig

DEFAULT_MODEL = "stable-diffusion-v1-5/stable-diffusion-v1-5"
MODEL_ENV = "MASQUE_SD_MODEL"
_DTYPES = {"fp32": torch.float32, "float32": torch.float32, "fp16": torch.float16, "float16": torch.float16,
           "bf16": torch.bfloat16, "bfloat16": torch.bfloat16}


@dataclass
class Backbone:
    """The five diffusers components plus where they came from."""

    unet: torch.nn.Module
    vae: torch.nn.Module
    text_encoder: torch.nn.Module
    tokenizer: object
    scheduler: object
    source: str = "<memory>"
    execution_device: torch.device | None = None  # set under model offload, where the weights wait on the CPU

    @property
    def device(self) -> torch.device:
        """Where inputs go and the networks run (the offload device, else the UNet's)."""
        return self.execution_device or next(self.unet.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.unet.parameters()).dtype

    @property
    def vae_scale_factor(self) -> int:
        return 2 ** (len(self.vae.config.block_out_channels) - 1)

    @property
    def resolution(self) -> int:
        """Native image side: the UNet's latent sample size times the VAE's downsampling factor."""
        return int(self.unet.config.sample_size) * self.vae_scale_factor


def resolve_model(model_id_or_dir: str | os.PathLike | None) -> str:
    """Argument, else ``$MASQUE_SD_MODEL``, else the SD-1.5 hub id; a hub id that `masque models fetch` stored under
    ``$MASQUE_HOME`` resolves to that local snapshot (otherwise it is read through the Hugging Face cache)."""
    source = str(model_id_or_dir) if model_id_or_dir is not None else (os.environ.get(MODEL_ENV) or DEFAULT_MODEL)
    if Path(source).expanduser().exists():
        return source
    from ...paths import sd_path

    fetched = sd_path(source)
    return str(fetched) if (fetched / "model_index.json").is_file() else source


def _looks_local(source: str) -> bool:
    local = Path(source).expanduser()
    return local.is_absolute() or source.startswith((".", "~")) or local.exists()


def local_weights_problem(model_id_or_dir: str | os.PathLike | None) -> str | None:
    """Why Stable Diffusion weights are not usable here (None when they look present): a file check in the folder or
    the Hugging Face cache, no loading and no network, so it is cheap enough to decide the `auto` engine."""
    source = resolve_model(model_id_or_dir)
    local = Path(source).expanduser()
    if _looks_local(source):
        if (local / "model_index.json").is_file():
            return None
        return f"{source!r} {'has no model_index.json' if local.exists() else 'does not exist'}"
    from huggingface_hub import try_to_load_from_cache

    try:
        found = try_to_load_from_cache(source, "model_index.json")
    except ValueError as exc:  # not a valid hub id (HFValidationError)
        return f"{source!r} is neither a folder nor a hub id ({str(exc).splitlines()[0][:120]})"
    return None if isinstance(found, str) else f"{source!r} is not downloaded"


@contextmanager
def offline_hub():
    """The hub's offline mode while loading: no request at all (not even the client's own metadata lookups, which
    `local_files_only` alone still makes), so a protect run never touches the network."""
    import huggingface_hub.constants as hub

    saved_env, saved_flag = os.environ.get("HF_HUB_OFFLINE"), hub.HF_HUB_OFFLINE
    os.environ["HF_HUB_OFFLINE"] = "1"  # read by libraries that check the environment at call time
    hub.HF_HUB_OFFLINE = True  # the hub client reads its constant, fixed at import, at call time
    try:
        yield
    finally:
        hub.HF_HUB_OFFLINE = saved_flag
        if saved_env is None:
            os.environ.pop("HF_HUB_OFFLINE", None)
        else:
            os.environ["HF_HUB_OFFLINE"] = saved_env


@contextmanager
def quiet_hub():
    """Silence transformers'/diffusers' per-file progress bars so a user's terminal shows only our own progress
    and a failure stays a single line."""
    from diffusers.utils import logging as dlog
    from transformers.utils import logging as tlog

    was = tlog.is_progress_bar_enabled(), dlog.is_progress_bar_enabled()
    tlog.disable_progress_bar()
    dlog.disable_progress_bar()
    try:
        yield
    finally:
        if was[0]:
            tlog.enable_progress_bar()
        if was[1]:
            dlog.enable_progress_bar()


def resolve_device_dtype(device: str | torch.device | None, torch_dtype: torch.dtype | str | None):
    """Auto device (CUDA when available); fp16 on CUDA and fp32 on CPU unless a dtype is given."""
    dev = torch.device(default_device(device) if not isinstance(device, torch.device) else device)
    if torch_dtype is None:
        dtype = torch.float16 if dev.type == "cuda" else torch.float32
    elif isinstance(torch_dtype, str):
        if torch_dtype.lower() not in _DTYPES:
            raise InputError(f"`torch_dtype` must be one of {sorted(_DTYPES)}, got {torch_dtype!r}.")
        dtype = _DTYPES[torch_dtype.lower()]
    else:
        dtype = torch_dtype
    return dev, dtype


@dataclass(frozen=True)
class MemoryConfig:
    """CUDA memory modes (all compose with fp16, whose gradients are loss-scaled, and with SDPA attention, which
    every processor uses). ``vae_tiling``: decode/encode large images in overlapping tiles (diffusers'
    `enable_tiling`; at SD's native 512² nothing is tiled). ``offload``: keep each network on the CPU until it runs
    (diffusers' `enable_model_cpu_offload`, needs `accelerate` and CUDA)."""

    vae_tiling: bool = False
    offload: bool = False


def place_backbone(bb: Backbone, device, dtype: torch.dtype, memory: MemoryConfig = MemoryConfig()) -> Backbone:
    """Move/cast the components and apply the memory modes; the one placement path of loaded and random backbones.

    1. SDPA processors on the UNet and the VAE (diffusers' default; set explicitly so a loaded model that came with
       other processors runs the same kernel as inversion and the prompt-to-prompt processors);
    2. dtype, then device (or model offload to ``device``);
    3. VAE tiling.
    """
    from diffusers.models.attention_processor import AttnProcessor2_0

    dev = torch.device(device)
    for module in (bb.unet, bb.vae):
        module.set_attn_processor(AttnProcessor2_0())
    for module in (bb.text_encoder, bb.vae, bb.unet):
        if next(module.parameters()).dtype != dtype:
            module.to(dtype=dtype)
        module.eval().requires_grad_(False)
    if memory.offload:
        bb = _offload(bb, dev)
    else:
        for module in (bb.text_encoder, bb.vae, bb.unet):
            module.to(dev)
    if memory.vae_tiling:
        bb.vae.enable_tiling()
    return bb


def _offload(bb: Backbone, dev: torch.device) -> Backbone:
    """diffusers' model CPU offload (accelerate hooks: text encoder -> UNet -> VAE), on a throwaway pipeline object
    that only installs the hooks; inputs then go to ``execution_device``."""
    if dev.type != "cuda":
        raise InputError(f"`memory.offload` keeps the networks on the CPU and runs each on a CUDA device; got device "
                         f"{str(dev)!r}: drop offload or use --device cuda.")
    try:
        import accelerate  # noqa: F401 - diffusers' offload is built on its hooks
    except ImportError as exc:
        raise InputError("`memory.offload` needs the `accelerate` package: pip install accelerate "
                         "(or pip install 'masque-privacy[cuda]'), or drop offload.") from exc
    return install_offload_hooks(bb, dev)


def install_offload_hooks(bb: Backbone, dev: torch.device) -> Backbone:
    """The hooks themselves (any device: tests run them on the CPU, where they move nothing)."""
    from diffusers import StableDiffusionPipeline

    pipe = StableDiffusionPipeline(vae=bb.vae, text_encoder=bb.text_encoder, tokenizer=bb.tokenizer, unet=bb.unet,
                                   scheduler=bb.scheduler, safety_checker=None, feature_extractor=None,
                                   requires_safety_checker=False)
    pipe.enable_model_cpu_offload(device=dev)
    return replace(bb, execution_device=pipe._offload_device)


def make_scheduler(base_config: dict | None = None, settings: SchedulerConfig = SchedulerConfig()):
    """DDIM with the reference settings layered over a loaded scheduler config (keeps num_train_timesteps etc.)."""
    from diffusers import DDIMScheduler

    cfg = {k: v for k, v in (base_config or {}).items() if not k.startswith("_")}
    cfg.update(asdict(settings))
    return DDIMScheduler.from_config(cfg)


def load_backbone(model_id_or_dir: str | os.PathLike | None = None, *, device=None, torch_dtype=None,
                  scheduler: SchedulerConfig = SchedulerConfig(), local_files_only: bool = True,
                  memory: MemoryConfig = MemoryConfig()) -> Backbone:
    """Load SD components from a local diffusers folder or a hub id; any failure becomes one-line `WeightsError`.

    A hub id is read from the Hugging Face cache only (``local_files_only=True``): nothing downloads inside a protect
    run (offline it would otherwise retry for minutes); `masque models fetch sd` is the explicit download.
    """
    from diffusers import AutoencoderKL, DDIMScheduler, UNet2DConditionModel
    from transformers import CLIPTextModel, CLIPTokenizer

    source = resolve_model(model_id_or_dir)
    dev, dtype = resolve_device_dtype(device, torch_dtype)
    local = Path(source).expanduser()
    how = (f"download with `masque models fetch sd`, or pass `--model DIR` / set ${MODEL_ENV} to a diffusers folder "
           "(model_index.json, unet/, vae/, text_encoder/, tokenizer/, scheduler/); without weights, "
           "`--engine parametric` works offline")
    if local.exists() and not local.is_dir():
        raise WeightsError(f"`model` {source!r} is a file, expected a Stable Diffusion folder; {how}.")
    looks_local = _looks_local(source)
    if looks_local and not (local / "model_index.json").is_file():
        reason = "does not exist" if not local.exists() else "has no model_index.json"
        raise WeightsError(f"`model` folder {source!r} {reason}; {how}.")
    if local_files_only and not looks_local and (problem := local_weights_problem(source)):
        raise WeightsError(f"`model` {problem}; {how}.")  # say so plainly rather than "couldn't connect"
    src = str(local) if looks_local else source
    kw = {"local_files_only": local_files_only}
    try:
        with quiet_hub(), (offline_hub() if local_files_only else nullcontext()):
            tokenizer = CLIPTokenizer.from_pretrained(src, subfolder="tokenizer", **kw)
            # no dtype keyword: transformers < 4.56 knows only `torch_dtype`, 5.x deprecates it for `dtype`, and an
            # unknown one lands in the config ("Object of type dtype is not JSON serializable"); cast after loading.
            text_encoder = CLIPTextModel.from_pretrained(src, subfolder="text_encoder", **kw).to(dtype)
            vae = AutoencoderKL.from_pretrained(src, subfolder="vae", torch_dtype=dtype, **kw)
            unet = UNet2DConditionModel.from_pretrained(src, subfolder="unet", torch_dtype=dtype, **kw)
            sched_cfg = DDIMScheduler.load_config(src, subfolder="scheduler", **kw)
    except Exception as exc:  # noqa: BLE001 - every loading failure is the same user problem: no usable weights
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise WeightsError(f"`model` {source!r}: cannot load Stable Diffusion weights ({first[:200]}); {how}.") from exc
    bb = Backbone(unet, vae, text_encoder, tokenizer, make_scheduler(sched_cfg, scheduler), source=source)
    return place_backbone(bb, dev, dtype, memory)


# --- random builds -------------------------------------------------------------------------------------------------

def build_tokenizer():
    """A real byte-level BPE `CLIPTokenizer` built offline: the 256 byte symbols (plus end-of-word forms), no merges.

    Words tokenise into characters, which still exercises multi-token word alignment in prompt-to-prompt. Built from
    ``vocab.json`` + ``merges.txt`` through `from_pretrained`, the one constructor every allowed transformers
    version shares (4.x's takes file paths, 5.x's takes the vocabulary itself).
    """
    import tempfile

    from tokenizers import pre_tokenizers
    from transformers import CLIPTokenizer

    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    tokens = alphabet + [c + "</w>" for c in alphabet] + ["<|startoftext|>", "<|endoftext|>"]
    with tempfile.TemporaryDirectory(prefix="masque-tokenizer-") as folder:
        (Path(folder) / "vocab.json").write_text(json.dumps({t: i for i, t in enumerate(tokens)}))
        (Path(folder) / "merges.txt").write_text("#version: 0.2\n")
        with quiet_hub():
            return CLIPTokenizer.from_pretrained(folder, model_max_length=77)


def _tiny_configs(resolution: int) -> dict:
    if resolution % 16 or resolution < 32:
        raise InputError(f"`resolution` must be a multiple of 16 and >= 32, got {resolution}.")
    vae_blocks = (16, 32, 32)  # downsampling factor 4
    return {
        "unet": dict(sample_size=resolution // 4, in_channels=4, out_channels=4, layers_per_block=1,
                     block_out_channels=(16, 32), down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
                     up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D"), cross_attention_dim=32,
                     attention_head_dim=2, norm_num_groups=8),
        "vae": dict(block_out_channels=vae_blocks, in_channels=3, out_channels=3, latent_channels=4,
                    down_block_types=("DownEncoderBlock2D",) * 3, up_block_types=("UpDecoderBlock2D",) * 3,
                    layers_per_block=1, norm_num_groups=8, sample_size=resolution),
        "text": dict(hidden_size=32, intermediate_size=37, num_hidden_layers=2, num_attention_heads=4,
                     max_position_embeddings=77, projection_dim=32),
    }


def _sd15_configs() -> dict:
    """The published SD-1.5 architecture (UNet 860M, VAE f=8, CLIP ViT-L/14 text encoder), weights random."""
    return {
        "unet": dict(sample_size=64, in_channels=4, out_channels=4, layers_per_block=2,
                     block_out_channels=(320, 640, 1280, 1280),
                     down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
                     up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3, cross_attention_dim=768,
                     attention_head_dim=8, norm_num_groups=32),
        "vae": dict(block_out_channels=(128, 256, 512, 512), in_channels=3, out_channels=3, latent_channels=4,
                    down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
                    layers_per_block=2, norm_num_groups=32, sample_size=512, scaling_factor=0.18215),
        "text": dict(hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12,
                     max_position_embeddings=77, projection_dim=768, hidden_act="quick_gelu"),
    }


def build_random_backbone(arch: str = "tiny", *, seed: int = 0, resolution: int = 64) -> Backbone:
    """Seeded random components of the ``tiny`` test architecture or the full-size ``sd15`` one (fp32, CPU)."""
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    if arch not in ("tiny", "sd15"):
        raise InputError(f"`arch` must be 'tiny' or 'sd15', got {arch!r}.")
    cfg = _tiny_configs(resolution) if arch == "tiny" else _sd15_configs()
    tokenizer = build_tokenizer()
    with torch.random.fork_rng(devices=[]):  # seeded initialisation that leaves the caller's global RNG as it was
        torch.manual_seed(seed)
        unet = UNet2DConditionModel(**cfg["unet"])
        vae = AutoencoderKL(**cfg["vae"])
        text_cfg = CLIPTextConfig(vocab_size=max(len(tokenizer), 49408 if arch == "sd15" else 0),
                                  bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                                  pad_token_id=tokenizer.pad_token_id, **cfg["text"])
        text_encoder = CLIPTextModel(text_cfg)
    if arch == "tiny":
        _condition_tiny(unet, vae, seed)
    for module in (unet, vae, text_encoder):
        module.eval().requires_grad_(False)
    return Backbone(unet, vae, text_encoder, tokenizer, make_scheduler(), source=f"<random {arch} seed={seed}>")


@torch.no_grad()
def _condition_tiny(unet, vae, seed: int, out_scale: float = 0.1) -> None:
    """Make the random tiny model numerically tame, as training makes a real one.

    - ``vae.config.scaling_factor`` is set to 1 / std of the latents of seeded noise images, the same recipe that
      gave SD its 0.18215 (unit-variance latents);
    - the UNet's output convolution is scaled by ``out_scale`` so the noise prediction varies smoothly along the
      DDIM path: with raw random weights a 5-step DDIM inversion does not even reconstruct at guidance 1.
    """
    g = torch.Generator().manual_seed(seed)
    side = vae.config.sample_size
    images = torch.rand(4, 3, side, side, generator=g) * 2 - 1
    std = vae.encode(images).latent_dist.mean.std()
    vae.register_to_config(scaling_factor=float(1.0 / std))
    unet.conv_out.weight.mul_(out_scale)
    unet.conv_out.bias.mul_(out_scale)


def create_tiny_sd(directory: str | os.PathLike, seed: int = 0, resolution: int = 64) -> Path:
    """Write a seeded tiny random SD in diffusers layout (loads through `load_backbone` like real weights)."""
    from diffusers import DDIMScheduler

    path = Path(directory)
    path.mkdir(parents=True, exist_ok=True)
    bb = build_random_backbone("tiny", seed=seed, resolution=resolution)
    with quiet_hub():
        bb.unet.save_pretrained(path / "unet")
        bb.vae.save_pretrained(path / "vae")
        bb.text_encoder.save_pretrained(path / "text_encoder")
        bb.tokenizer.save_pretrained(path / "tokenizer")
        bb.scheduler.save_pretrained(path / "scheduler")
    index = {"_class_name": "StableDiffusionPipeline", "_diffusers_version": _diffusers_version(),
             "unet": ["diffusers", "UNet2DConditionModel"], "vae": ["diffusers", "AutoencoderKL"],
             "text_encoder": ["transformers", "CLIPTextModel"], "tokenizer": ["transformers", "CLIPTokenizer"],
             "scheduler": ["diffusers", DDIMScheduler.__name__], "safety_checker": [None, None],
             "feature_extractor": [None, None], "requires_safety_checker": False}
    (path / "model_index.json").write_text(json.dumps(index, indent=2))
    return path


def _diffusers_version() -> str:
    import diffusers

    return diffusers.__version__
