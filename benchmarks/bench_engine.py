"""Cost of one MASQUE protection per inversion method and memory mode: NFE breakdown, seconds per face, peak memory.

    python benchmarks/bench_engine.py                         # tiny random SD on CPU, paper schedule (50 steps)
    python benchmarks/bench_engine.py --inversion null-text,direct,negative-prompt
    python benchmarks/bench_engine.py --arch sd15 --device cuda --memory default,tiling,offload --out gpu.jsonl
    python benchmarks/bench_engine.py --arch sd15 --device cpu --steps 2 --inner-iters 1 --guidance-iters 1
    python benchmarks/bench_engine.py --model DIR              # real weights from a diffusers folder

Random weights give meaningless images but the exact compute of the real model: every UNet/VAE/FR call is
counted, so NFE × (seconds per NFE on your card) predicts the cost with real weights. ``tiny`` and ``sd15`` take the
same path (`build_random_backbone` + `place_backbone`), so the CPU tests of this script on ``tiny`` cover the code
``--arch sd15 --device cuda`` runs. On CUDA each memory mode gets a 2-step warm-up run first (kernel selection and
allocator growth stay out of the timings) and the peak is `torch.cuda.max_memory_allocated` of each run; on the CPU
it is the process's peak RSS so far.
"""

from __future__ import annotations

import argparse
import copy
import json
import resource
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from masque.embedders import create_embedder
from masque.engines.diffusion import DiffusionConfig, MasquePipeline, build_random_backbone
from masque.engines.diffusion.backbone import MemoryConfig, load_backbone, place_backbone, resolve_device_dtype
from masque.engines.diffusion.config import INVERSION_METHODS

FACES = Path(__file__).resolve().parents[1] / "tests" / "data" / "faces"
MEMORY_MODES = {"default": MemoryConfig(), "tiling": MemoryConfig(vae_tiling=True),
                "offload": MemoryConfig(offload=True), "offload+tiling": MemoryConfig(vae_tiling=True, offload=True)}


def load_crop(name: str, size: int) -> torch.Tensor:
    """A centre square of a test photo, resized (stands in for an aligned generation crop)."""
    im = Image.open(FACES / name).convert("RGB")
    w, h = im.size
    s = min(w, h)
    im = im.crop(((w - s) // 2, (h - s) // 2, (w + s) // 2, (h + s) // 2)).resize((size, size), Image.BILINEAR)
    return torch.from_numpy(np.asarray(im, dtype=np.float32) / 255).permute(2, 0, 1)[None]


def build_backbone(args, dtype_name: str | None, memory: MemoryConfig, master=None):
    """Load (``--model``) or place a copy of the random ``master`` build (built once: SD-1.5's random init takes
    longer than a protection on a GPU)."""
    device, dtype = resolve_device_dtype(args.device, dtype_name)
    if args.model:
        return load_backbone(args.model, device=device, torch_dtype=dtype, memory=memory)
    return place_backbone(copy.deepcopy(master), device, dtype, memory)


def peak_memory_gib(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**30
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux


def config_from_args(args, method: str, steps: int | None = None, inner: int | None = None) -> DiffusionConfig:
    base = DiffusionConfig()
    inv = replace(base.inversion, method=method, num_steps=steps or args.steps,
                  inner_iters=args.inner_iters if inner is None else inner)
    if args.no_early_stop:
        inv = replace(inv, early_stop=0.0, early_stop_slope=0.0)
    guid = replace(base.guidance, through_unet=args.through_unet)
    if args.guidance_iters is not None:
        guid = replace(guid, iters=args.guidance_iters)
    return replace(base, inversion=inv, guidance=guid).validate()


def run_once(pipe: MasquePipeline, embedders, seed: int) -> tuple:
    """One protection of the test face; returns (result, wall seconds, peak memory GiB)."""
    size, dev = pipe.resolution, pipe.device
    crop, anchor = load_crop("obama.jpg", size), load_crop("obama2.jpg", size)
    mask = torch.zeros(1, 1, size, size)
    mask[..., int(0.62 * size):int(0.82 * size), int(0.3 * size):int(0.7 * size)] = 1.0  # lips-like box
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
        torch.cuda.reset_peak_memory_stats(dev)
    t0 = time.perf_counter()
    res = pipe.protect(crop, mask, "red lipstick", [anchor], embedders, seed=seed)
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
    return res, time.perf_counter() - t0, peak_memory_gib(dev)


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arch", choices=["tiny", "sd15"], default="tiny")
    ap.add_argument("--resolution", type=int, default=64, help="tiny only: image side (multiple of 16)")
    ap.add_argument("--model", help="diffusers folder or hub id with real weights (overrides --arch)")
    ap.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: cuda when available)")
    ap.add_argument("--dtype", default=None, help="comma-separated of fp32, fp16, bf16 (default: fp16 on CUDA, "
                                                  "fp32 on CPU)")
    ap.add_argument("--inversion", default=",".join(INVERSION_METHODS),
                    help=f"comma-separated methods of {', '.join(INVERSION_METHODS)}")
    ap.add_argument("--memory", default="default", help=f"comma-separated memory modes of {', '.join(MEMORY_MODES)}")
    ap.add_argument("--steps", type=int, default=50, help="DDIM steps (paper: 50)")
    ap.add_argument("--inner-iters", type=int, default=10, help="null-text Adam iterations per step (paper: <= 10)")
    ap.add_argument("--no-early-stop", action="store_true", help="always run all null-text iterations")
    ap.add_argument("--guidance-iters", type=int, default=None, help="adversarial iterations per guided step")
    ap.add_argument("--through-unet", action="store_true", help="back-propagate guidance through the UNet")
    ap.add_argument("--embedder", action="append", default=None, help="FR model name (repeatable; tiny-random)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    ap.add_argument("--no-warmup", action="store_true", help="CUDA: skip the 2-step warm-up run per memory mode")
    ap.add_argument("--out", type=Path, default=None, help="append one JSON line per run to this file")
    ap.add_argument("--json", action="store_true", help="print the rows as JSON")
    args = ap.parse_args(argv)
    methods = [m.strip() for m in args.inversion.split(",") if m.strip()]
    modes = [m.strip() for m in args.memory.split(",") if m.strip()]
    for flag, values, allowed in (("--inversion", methods, INVERSION_METHODS), ("--memory", modes, MEMORY_MODES)):
        bad = [v for v in values if v not in allowed]
        if bad or not values:
            ap.error(f"{flag} must list values of {', '.join(allowed)}; got {bad or values}")
    dtypes = [d.strip() for d in args.dtype.split(",") if d.strip()] if args.dtype else [None]
    return args, methods, modes, dtypes


def main(argv: list[str] | None = None) -> list[dict]:
    args, methods, modes, dtypes = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    rows = []
    t0 = time.perf_counter()
    master = None if args.model else build_random_backbone(args.arch, seed=args.seed, resolution=args.resolution)
    build_s = time.perf_counter() - t0
    for dtype_name, mode in ((d, m) for d in dtypes for m in modes):
        # 1. place a copy of the backbone for this dtype and memory mode
        t0 = time.perf_counter()
        bb = build_backbone(args, dtype_name, MEMORY_MODES[mode], master)
        place_s = time.perf_counter() - t0
        dev = bb.device
        embedders = [create_embedder(n, weights=None if n == "tiny-random" else "default", device=str(dev))
                     for n in (args.embedder or ["tiny-random"])]
        # 2. warm-up (CUDA): kernels and allocator outside the timings
        if dev.type == "cuda" and not args.no_warmup:
            run_once(MasquePipeline(bb, config_from_args(args, methods[0], steps=2, inner=1)), embedders, args.seed)
        # 3. one timed protection per inversion method
        for method in methods:
            cfg = config_from_args(args, method)
            res, wall, peak = run_once(MasquePipeline(bb, cfg), embedders, args.seed)
            trace = res.trace.to_dict()
            rows.append({
                "arch": args.model or args.arch, "device": str(dev), "dtype": str(bb.dtype).removeprefix("torch."),
                "gpu": torch.cuda.get_device_name(dev) if dev.type == "cuda" else None, "memory": mode,
                "memory_config": asdict(MEMORY_MODES[mode]), "inversion": method, "resolution": bb.resolution,
                "steps": args.steps, "inner_iters": args.inner_iters, "guidance_iters": cfg.guidance.iters,
                "threads": torch.get_num_threads(), "build_s": round(build_s, 2),
                "place_s": round(place_s, 2), "seconds_per_face": round(wall, 3),
                "timings": {k: round(v, 3) for k, v in res.details["timings"].items()},
                "peak_memory_gib": round(peak, 3), "peak_memory_kind": "VRAM" if dev.type == "cuda" else "RSS",
                "nfe": trace["total_nfe"], "unet_nfe": res.trace.nfe("unet"), "trace": trace,
                "null_text_losses": res.details["null_text_losses"],
            })
            _report(rows[-1], args)
        del bb
        if dev.type == "cuda":
            torch.cuda.empty_cache()
    if args.json:
        print(json.dumps(rows, indent=2, default=str))
    return rows


def _report(row: dict, args) -> None:
    if args.out is not None:
        with args.out.open("a") as f:
            f.write(json.dumps(row, default=str) + "\n")
    if args.json:
        return
    print(f"{row['arch']} on {row['device']} ({row['gpu'] or 'cpu'}, {row['dtype']}, {row['resolution']}^2, "
          f"{row['steps']} steps, memory {row['memory']}, inversion {row['inversion']}, "
          f"guidance iters {row['guidance_iters']}, threads {row['threads']})")
    print(f"  {'component':<20}{'forward':>9}{'fwd+bwd':>9}{'NFE':>8}")
    for name, comp in row["trace"]["components"].items():
        print(f"  {name:<20}{comp['forward']:>9}{comp['forward_backward']:>9}{comp['nfe']:>8}")
    t = row["timings"]
    print(f"  total NFE {row['nfe']} (UNet {row['unet_nfe']}); {row['seconds_per_face']:.2f} s/face (inversion "
          f"{t['inversion_s']} s, edit+guidance {t['edit_s']} s); build {row['build_s']} s, place "
          f"{row['place_s']} s; peak {row['peak_memory_kind']} {row['peak_memory_gib']} GiB", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
