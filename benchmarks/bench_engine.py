"""Cost of one MASQUE protection: NFE breakdown (hardware-independent), wall seconds and peak memory.

    python benchmarks/bench_engine.py                         # tiny random SD on CPU, paper schedule (50 steps)
    python benchmarks/bench_engine.py --arch sd15              # full-size SD-1.5 architecture, random weights, 512^2
    python benchmarks/bench_engine.py --arch sd15 --device cpu --steps 2 --inner-iters 1 --guidance-iters 1
    python benchmarks/bench_engine.py --model DIR              # real weights from a diffusers folder

Random weights give meaningless images but the exact compute of the real model: every UNet/VAE/FR call is
counted, so NFE × (seconds per NFE on your card) predicts the cost with real weights.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from masque.embedders import create_embedder
from masque.engines.diffusion import DiffusionConfig, MasquePipeline, build_random_backbone, create_tiny_sd
from masque.engines.diffusion.backbone import resolve_device_dtype

FACES = Path(__file__).resolve().parents[1] / "tests" / "data" / "faces"


def load_crop(name: str, size: int) -> torch.Tensor:
    """A centre square of a test photo, resized (stands in for an aligned generation crop)."""
    im = Image.open(FACES / name).convert("RGB")
    w, h = im.size
    s = min(w, h)
    im = im.crop(((w - s) // 2, (h - s) // 2, (w + s) // 2, (h + s) // 2)).resize((size, size), Image.BILINEAR)
    return torch.from_numpy(np.asarray(im, dtype=np.float32) / 255).permute(2, 0, 1)[None]


def build_pipeline(args, config: DiffusionConfig) -> MasquePipeline:
    device, dtype = resolve_device_dtype(args.device, args.dtype)
    if args.model:
        return MasquePipeline.from_pretrained(args.model, device=device, torch_dtype=dtype, config=config)
    if args.arch == "tiny":  # through the on-disk path, like the tests
        folder = create_tiny_sd(tempfile.mkdtemp(prefix="masque-tiny-"), seed=args.seed)
        return MasquePipeline.from_pretrained(folder, device=device, torch_dtype=dtype, config=config)
    bb = build_random_backbone("sd15", seed=args.seed)
    for module in (bb.unet, bb.vae, bb.text_encoder):
        module.to(device=device, dtype=dtype)
    return MasquePipeline(bb, config)


def peak_memory_gib(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**30
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arch", choices=["tiny", "sd15"], default="tiny")
    ap.add_argument("--model", help="diffusers folder or hub id with real weights (overrides --arch)")
    ap.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: cuda when available)")
    ap.add_argument("--dtype", default=None, help="fp32 | fp16 | bf16 (default: fp16 on CUDA, fp32 on CPU)")
    ap.add_argument("--steps", type=int, default=50, help="DDIM steps (paper: 50)")
    ap.add_argument("--inner-iters", type=int, default=10, help="null-text Adam iterations per step (paper: <= 10)")
    ap.add_argument("--no-early-stop", action="store_true", help="always run all null-text iterations")
    ap.add_argument("--guidance-iters", type=int, default=None, help="adversarial iterations per guided step")
    ap.add_argument("--through-unet", action="store_true", help="back-propagate guidance through the UNet")
    ap.add_argument("--embedder", action="append", default=None, help="FR model name (repeatable; tiny-random)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    ap.add_argument("--json", action="store_true", help="print the result as JSON")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    base = DiffusionConfig()
    inv = replace(base.inversion, num_steps=args.steps, inner_iters=args.inner_iters)
    if args.no_early_stop:
        inv = replace(inv, early_stop=0.0, early_stop_slope=0.0)
    guid = replace(base.guidance, through_unet=args.through_unet)
    if args.guidance_iters is not None:
        guid = replace(guid, iters=args.guidance_iters)
    config = DiffusionConfig(inversion=inv, guidance=guid, edit=base.edit, scheduler=base.scheduler)

    t0 = time.perf_counter()
    pipe = build_pipeline(args, config)
    load_s = time.perf_counter() - t0
    dev = pipe.device
    embedders = [create_embedder(n, weights=None if n == "tiny-random" else "default", device=str(dev))
                 for n in (args.embedder or ["tiny-random"])]
    size = pipe.resolution
    crop, anchor = load_crop("obama.jpg", size), load_crop("obama2.jpg", size)
    mask = torch.zeros(1, 1, size, size)
    mask[..., int(0.62 * size):int(0.82 * size), int(0.3 * size):int(0.7 * size)] = 1.0  # lips-like box
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)
        torch.cuda.synchronize(dev)
    t0 = time.perf_counter()
    res = pipe.protect(crop, mask, "red lipstick", [anchor], embedders, seed=args.seed)
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
    wall = time.perf_counter() - t0
    out = {
        "arch": args.model or args.arch, "device": str(dev), "dtype": str(pipe.backbone.dtype).removeprefix("torch."),
        "resolution": size, "steps": args.steps, "inner_iters": args.inner_iters, "guidance": vars(guid) | {},
        "threads": torch.get_num_threads(), "load_s": round(load_s, 2), "seconds_per_image": round(wall, 2),
        "timings": {k: round(v, 2) for k, v in res.details["timings"].items()},
        "peak_memory_gib": round(peak_memory_gib(dev), 3), "trace": res.trace.to_dict(),
    }
    if args.json:
        print(json.dumps(out, indent=2, default=str))
    else:
        print(f"{out['arch']} on {out['device']} ({out['dtype']}, {size}^2, {args.steps} steps, "
              f"{args.inner_iters} null-text iters, guidance iters {guid.iters}, threads {out['threads']})")
        print(f"{'component':<20}{'forward':>9}{'fwd+bwd':>9}{'NFE':>8}")
        for name, row in out["trace"]["components"].items():
            print(f"{name:<20}{row['forward']:>9}{row['forward_backward']:>9}{row['nfe']:>8}")
        print(f"{'total NFE':<38}{out['trace']['total_nfe']:>8}")
        print(f"wall: {wall:.2f} s/image (inversion {out['timings']['inversion_s']} s, edit+guidance "
              f"{out['timings']['edit_s']} s); load {load_s:.2f} s; peak "
              f"{'VRAM' if dev.type == 'cuda' else 'RSS'} {out['peak_memory_gib']} GiB")
    return out


if __name__ == "__main__":
    main(sys.argv[1:])
