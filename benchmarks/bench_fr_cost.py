"""Forward + backward cost of each present FR model, as the optimisation loop pays it: a generation crop in, the
gradient of a cosine with respect to that crop out (warp into the model's template included).

    python benchmarks/bench_fr_cost.py                                   # every present model, batch 1, 2 threads
    python benchmarks/bench_fr_cost.py --models mobileface-v3,faceres --batch 4 --crop 256
    python benchmarks/bench_fr_cost.py --layout contiguous               # the weights' layout before issue 15

Median of ``--repeat`` timed runs after ``--warmup`` untimed ones.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch


def main() -> None:
    from masque.embedders import create_embedder, list_embedders
    from masque.embedders.registry import TEST_ONLY
    from masque.errors import WeightsError

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default=None, help="comma-separated registry names (default: every present one)")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--crop", type=int, default=512, help="generation crop side in px")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--layout", choices=("channels-last", "contiguous"), default="channels-last",
                        help="convolution weights' memory layout (create_embedder's is channels-last)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    names = args.models.split(",") if args.models else [n for n in list_embedders() if n not in TEST_ONLY]
    print(f"batch {args.batch}, {args.crop}px generation crop, {torch.get_num_threads()} threads, {args.layout}")
    print(f"{'model':16s} {'input':>7s} {'params':>8s} {'fwd ms':>8s} {'fwd+bwd ms':>11s}")
    g = torch.Generator().manual_seed(0)
    crop = torch.rand(args.batch, 3, args.crop, args.crop, generator=g)
    for name in names:
        try:
            model = create_embedder(name)
        except WeightsError:
            print(f"{name:16s} missing")
            continue
        if args.layout == "contiguous":
            model = model.to(memory_format=torch.contiguous_format)
        anchor = torch.nn.functional.normalize(torch.randn(args.batch, model.spec.embedding_dim, generator=g), dim=1)

        def forward(x: torch.Tensor, model=model, anchor=anchor) -> torch.Tensor:
            return (model(x) * anchor).sum()

        def fwd() -> None:
            with torch.no_grad():
                forward(crop)

        def fwd_bwd() -> None:
            x = crop.clone().requires_grad_(True)
            forward(x).backward()

        times = {}
        for label, fn in (("fwd", fwd), ("fwd_bwd", fwd_bwd)):
            for _ in range(args.warmup):
                fn()
            runs = []
            for _ in range(args.repeat):
                t0 = time.perf_counter()
                fn()
                runs.append(time.perf_counter() - t0)
            times[label] = statistics.median(runs) * 1000
        n_params = sum(b.numel() for b in model.state_dict().values()) / 1e6
        size = model.spec.input_size
        print(f"{name:16s} {size:>3d}x{size:<3d} {n_params:7.2f}M {times['fwd']:8.1f} {times['fwd_bwd']:11.1f}")


if __name__ == "__main__":
    main()
