"""Forward+backward cost of each present face-recognition surrogate, and of the EOT transforms, on CPU.

    OMP_NUM_THREADS=2 python benchmarks/bench_fr_cost.py [--size 256] [--batch 2] [--repeats 3]

One call = what one optimisation step costs per surrogate: warp a (batch, 3, size, size) generation crop into the
model's template, embed, cosine to an anchor, backward to the crop. Prints milliseconds per call (median of
``repeats``) and the sum over all present models, i.e. the FR cost of one step of the ensemble.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # see bench_parametric.py

import argparse  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

import torch  # noqa: E402

from masque.adversarial import EOT, EOTConfig  # noqa: E402
from masque.api import available_embedders  # noqa: E402


def timed(fn, repeats: int) -> float:
    fn()  # warm-up (allocations, lazy init)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=256, help="generation crop side (the parametric engine uses 256)")
    ap.add_argument("--batch", type=int, default=2, help="crops per call (EOT samples x faces)")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    torch.manual_seed(0)
    crop = torch.rand(args.batch, 3, args.size, args.size)
    models = available_embedders()
    print(f"threads={torch.get_num_threads()} crop={args.size}² batch={args.batch}")
    print(f"{'model':16s} {'input':>6s} {'params M':>8s} {'fwd+bwd ms':>10s}")
    total = 0.0
    for m in models:
        with torch.no_grad():
            anchor = m(torch.rand(1, 3, args.size, args.size))

        def step(m=m, anchor=anchor):
            x = crop.clone().requires_grad_(True)
            (m(x) @ anchor.T).mean().backward()

        ms = timed(step, args.repeats)
        total += ms
        n = sum(p.numel() for p in m.parameters()) + sum(b.numel() for b in m.buffers())
        print(f"{m.name:16s} {m.spec.input_size:5d}² {n / 1e6:8.2f} {ms:10.1f}")
    print(f"{'ensemble':16s} {'':6s} {'':8s} {total:10.1f}   ({len(models)} models, one step)")
    eot = EOT(EOTConfig(samples=1, p=1.0))

    def transforms():
        x = crop.clone().requires_grad_(True)
        eot(x).sum().backward()

    print(f"{'EOT draw (p=1)':16s} {'':6s} {'':8s} {timed(transforms, args.repeats):10.1f}   (per model when "
          "per_model=True)")


if __name__ == "__main__":
    main()
