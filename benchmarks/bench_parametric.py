"""Seconds per face and peak memory of the parametric engine on CPU, on the shared test photos.

    python benchmarks/bench_parametric.py                     # dlib surrogate, 256² crops, 2 threads
    python benchmarks/bench_parametric.py --embedders dlib --prompt "red lipstick"
    python benchmarks/bench_parametric.py --embedders tiny-random --size 128

Each photo is protected against another photo of the same person (obama -> obama2, obama2 -> obama, obama3 ->
obama; biden, the only photo of its person, in single mode) through the shipped `FacePipeline` (prepare, engine,
paste-back, judge). Reported per face: seconds inside `engine.protect`, iterations, FR NFE, cosine before/after per
surrogate and, for the dlib surrogate, the judge's dlib-bin descriptor distance from the pasted-back protected photo to
the pair photo and to the original (>= 0.6 = no longer the same person for dlib) with the face's verdict.
Wall seconds depend on what else runs on the machine; process CPU seconds / threads estimates the wall time on idle
cores. Peak memory is the process's peak resident set size (`resource.getrusage`), which includes torch's allocations
(tracemalloc would miss them).
"""

from __future__ import annotations

import os

# OpenMP threads that busy-wait make torch on a shared 2-core machine 10-50x slower whenever other processes run
# (measured: 1.5 s vs 13-78 s per face); passive waiting keeps timings honest. Must be set before torch loads.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse  # noqa: E402
import resource  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
FACES = ROOT / "tests" / "data" / "faces"
PAIRS = [("obama.jpg", "obama2.jpg"), ("obama2.jpg", "obama.jpg"), ("obama3.jpg", "obama.jpg"), ("biden.jpg", None)]


def peak_rss_mib() -> float:
    kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    return kib / 1024.0 if sys.platform != "darwin" else kib / 2**20


def main(argv: list[str] | None = None) -> None:
    from masque.embedders import create_embedder
    from masque.engines import create_engine
    from masque.engines.parametric import ParametricConfig
    from masque.errors import MasqueError
    from masque.io import read_image
    from masque.pipeline import FacePipeline, Judge, Preparer

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--embedders", default="all", help="comma-separated FR models, or 'all' installed ones")
    ap.add_argument("--size", type=int, default=256, help="generation crop side")
    ap.add_argument("--steps", type=int, default=None, help="Adam steps (default: the strength's preset)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--prompt", default="full glam")
    ap.add_argument("--strength", default="natural")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)

    from masque.embedders import list_embedders
    from masque.embedders.registry import TEST_ONLY

    names = ([n for n in list_embedders() if n not in TEST_ONLY] if args.embedders == "all"
             else args.embedders.split(","))
    embedders = []
    for name in names:
        try:
            embedders.append(create_embedder(name))
        except MasqueError as exc:
            print(f"note: {name!r} unavailable ({str(exc)[:70]}...)")
    if not embedders:
        print("note: no FR model available; falling back to tiny-random (timings only, no FR meaning)")
        embedders = [create_embedder("tiny-random")]
    args.embedder = ",".join(m.name for m in embedders)
    judge = Judge(embedders, surrogates={m.name for m in embedders}, dlib_bin=True)

    def pipeline(steps: int) -> FacePipeline:
        engine = create_engine("parametric", embedders=embedders,
                               config=ParametricConfig(steps=steps, crop_size=args.size, strength=args.strength))
        return FacePipeline(Preparer(engine, args.prompt), judge, faces="largest")

    pipe = pipeline(args.steps)
    print(f"embedder={args.embedder} size={args.size} steps<={args.steps} threads={args.threads} "
          f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY')} "
          f"prompt={args.prompt!r} strength={args.strength}")
    photos = {name: read_image(FACES / name).rgb for name in {n for pair in PAIRS for n in pair if n}}
    # one-time costs of the first call in a process (kernel selection, allocator warm-up), reported separately
    t_warm = time.perf_counter()
    pipeline(2).run(photos[PAIRS[0][0]])
    print(f"first-call warm-up (2 steps, not counted below): {time.perf_counter() - t_warm:.2f} s")
    rows = []
    for src, pair in PAIRS:
        cpu0 = time.process_time()
        run = pipe.run(photos[src], [(pair, photos[pair])] if pair else [], seed=0)
        cpu = time.process_time() - cpu0
        (face,) = run.faces
        res, secs = face.result, run.times.seconds["engine"]
        line = (f"{src:>11} vs {pair or '(self)':>11}: {secs:6.2f} s engine, {cpu:6.2f} s CPU (whole photo)  "
                f"iters {res.details['iterations']:3d}  NFE {res.trace.nfe():4d}  cos " + ", ".join(
                    f"{k} {res.similarity_before[k]:.3f}->{v:.3f}" for k, v in res.similarity_after.items()))
        rows_by_model = {m.model: m for m in face.verdict.models}
        if "dlib-bin" in rows_by_model:
            row = rows_by_model["dlib-bin"]
            fmt = lambda v: "no face" if v is None else f"{v:.3f}"  # noqa: E731
            if pair:
                line += (f"  dlib-bin dist to pair {fmt(row.references_before[pair])}->"
                         f"{fmt(row.vs_references[pair])}")
            line += f", to original {fmt(row.vs_original)}; verdict {face.verdict.status}"
        print(line, flush=True)
        rows.append((secs, cpu))
    wall, cpu = np.array(rows).T
    print(f"mean {wall.mean():.2f} s/face engine wall, {cpu.mean():.2f} s/photo CPU "
          f"(~{cpu.mean() / args.threads:.2f} s wall on {args.threads} idle cores)"
          f"; peak RSS {peak_rss_mib():.0f} MiB; load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    t0 = time.perf_counter()
    main()
    print(f"total wall {time.perf_counter() - t0:.1f} s")
