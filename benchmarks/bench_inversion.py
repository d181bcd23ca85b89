"""Inversion methods vs step count: reconstruction error and edit locality against NFE (tiny random SD, CPU).

    python benchmarks/bench_inversion.py                        # 64² and 128², 50/25/15 steps, all three methods
    python benchmarks/bench_inversion.py --resolution 64 --steps 50 --json

For each (resolution, steps, method): invert a real face crop under the source prompt, run the prompt-to-prompt edit
"... with red lipstick" (region mask: a lips box; no adversarial guidance) and report

- ``rec_mse``: latent MSE between the edit's source branch at t = 0 and the encoded crop z0 (the source branch is
  what reconstruction computes: `tests/engines/diffusion/test_attention.py` checks they are equal);
- ``src_px``: mean |decoded source branch - decoded z0| (pixels in [0, 1]);
- ``edit_in`` / ``leak_out``: mean |decoded target - decoded source| inside the pixel mask / outside the mask dilated by
  1/8 of the side (the latent outside the blend mask is exact by construction; the leak is the decoder's);
- ``inv_nfe``: UNet NFE of the inversion (forward 1, forward+backward 3), ``edit_nfe`` the edit's, and seconds.

The inversion settings are the defaults users get (`InversionConfig`: null-text with lr 1e-2, <= 10 inner
iterations, early stop); random weights make the absolute errors meaningless for real photos, but the ordering and
the NFE are the methods' own.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace

import torch
import torch.nn.functional as F
from bench_engine import load_crop

from masque.engines.diffusion import DiffusionConfig, EditConfig, GuidanceConfig, MasquePipeline, build_random_backbone
from masque.engines.diffusion.blend import region_to_latent
from masque.engines.diffusion.config import INVERSION_METHODS
from masque.engines.diffusion.guidance import decode
from masque.trace import CostTrace

SOURCE = "A face of a human"


def study(resolution: int, steps: int, method: str, seed: int = 0) -> dict:
    pipe = MasquePipeline(build_random_backbone("tiny", seed=seed, resolution=resolution),
                          DiffusionConfig(guidance=GuidanceConfig(strength=0.0), edit=EditConfig(mask_fusion="mask")))
    pipe = pipe.with_config(inversion=replace(pipe.config.inversion, method=method, num_steps=steps))
    crop = load_crop("obama.jpg", resolution)
    mask = torch.zeros(1, 1, resolution, resolution)
    mask[..., int(0.62 * resolution):int(0.82 * resolution), int(0.3 * resolution):int(0.7 * resolution)] = 1.0
    inv_trace, edit_trace = CostTrace(), CostTrace()
    t0 = time.perf_counter()
    inv = pipe.invert(crop, SOURCE, inv_trace)
    inv_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    res = pipe.edit(inv, SOURCE, f"{SOURCE} with red lipstick", ["red", "lipstick"],
                    region_to_latent(mask, pipe.latent_side), trace=edit_trace)
    edit_s = time.perf_counter() - t0
    with torch.no_grad():
        src, tgt, ref = (decode(pipe.backbone, z, None) for z in (res.z_src, res.z_tgt, inv.latents[0]))
    change = (tgt - src).abs().mean(1, keepdim=True)
    k = resolution // 8
    near = F.max_pool2d(mask, 2 * k + 1, stride=1, padding=k) > 0
    return {
        "resolution": resolution, "steps": steps, "method": method,
        "rec_mse": float(F.mse_loss(res.z_src, inv.latents[0])), "src_px": float((src - ref).abs().mean()),
        "edit_in": float(change[mask > 0].mean()), "leak_out": float(change[~near].mean()),
        "inv_nfe": inv_trace.nfe("unet"), "edit_nfe": edit_trace.nfe("unet"),
        "inv_s": round(inv_s, 2), "edit_s": round(edit_s, 2),
    }


def main(argv: list[str] | None = None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--resolution", type=int, action="append", help="image side (repeatable; default 64 and 128)")
    ap.add_argument("--steps", type=int, action="append", help="DDIM steps (repeatable; default 50, 25, 15)")
    ap.add_argument("--inversion", default=",".join(INVERSION_METHODS))
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    methods = sorted((m for m in args.inversion.split(",") if m), key=lambda m: m != "null-text")  # baseline first
    if not methods or any(m not in INVERSION_METHODS for m in methods):
        ap.error(f"--inversion must list values of {', '.join(INVERSION_METHODS)}; got {args.inversion!r}")
    if args.threads:
        torch.set_num_threads(args.threads)
    rows = []
    header = (f"{'res':>4}{'steps':>6}  {'method':<16}{'rec_mse':>10}{'src_px':>9}{'edit_in':>9}{'leak_out':>9}"
              f"{'inv_nfe':>8}{'edit_nfe':>9}{'inv_s':>7}{'edit_s':>7}  vs null-text")
    if not args.json:
        print(header)
    for res in args.resolution or [64, 128]:
        for steps in args.steps or [50, 25, 15]:
            base = None
            for method in methods:
                row = study(res, steps, method)
                rows.append(row)
                base = row if method == "null-text" else base
                if args.json:
                    continue
                cmp = ""
                if base is not None and method != "null-text":
                    cmp = (f"error {'<=' if row['rec_mse'] <= base['rec_mse'] else '>'} null-text's, "
                           f"NFE {row['inv_nfe'] / max(base['inv_nfe'], 1):.3f}x")
                print(f"{res:>4}{steps:>6}  {method:<16}{row['rec_mse']:>10.2e}{row['src_px']:>9.4f}"
                      f"{row['edit_in']:>9.4f}{row['leak_out']:>9.4f}{row['inv_nfe']:>8}{row['edit_nfe']:>9}"
                      f"{row['inv_s']:>7}{row['edit_s']:>7}  {cmp}", flush=True)
    if args.json:
        print(json.dumps(rows, indent=2))
    return rows


if __name__ == "__main__":
    main(sys.argv[1:])
