"""Units per minute of a `masque protect` batch on the local executor vs Ray with 1 and 2 workers, and Ray's
overhead per unit.

    python benchmarks/bench_executor.py                       # 8 photos, parametric engine, 5 steps, this machine
    python benchmarks/bench_executor.py --units 32 --steps 30 --address auto --workers 4   # a running cluster

A unit is one photo (the test portrait at half size, under N names) protected by the parametric engine against dlib,
through `masque.batch.run_protect_batch`: the same code path as `masque protect DIR/* --out OUT --executor ...`,
manifest and atomic writes included, into a fresh folder per variant. Reported per variant: wall seconds (model
loading in the workers included; Ray's own start-up reported apart), units per minute, mean seconds a worker spent
inside a unit, and overhead per unit = wall / units - worker seconds per unit / workers (serialisation, scheduling,
driver-side writes, worker start-up amortised). On a 2-core machine shared with other jobs the numbers are noisy:
run it when the machine is idle and read the local and Ray rows of one run side by side.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # see bench_parametric.py: spinning OpenMP threads skew timings

import argparse  # noqa: E402
import json  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
FACES = ROOT / "tests" / "data" / "faces"


def make_photos(folder: Path, n: int) -> list[Path]:
    from PIL import Image

    img = Image.open(FACES / "obama.jpg")
    img = img.resize((img.width // 2, img.height // 2))
    paths = []
    for i in range(n):
        paths.append(folder / f"p{i:03d}.jpg")
        img.save(paths[-1], quality=95)
    return paths


def run_variant(name: str, executor, spec, photos: list[Path], out: Path, workers: int) -> dict:
    from masque.batch import plan_units, run_protect_batch

    start = time.perf_counter()
    summary = run_protect_batch(spec, plan_units(photos), out, executor=executor)
    wall = time.perf_counter() - start
    if summary.failed:
        raise SystemExit(f"{name}: {summary.failed}")
    inside = [json.loads(p.read_text())["seconds"] for p in out.glob("*.json")]
    per_unit = sum(inside) / len(inside)
    return {"variant": name, "workers": workers, "units": len(photos), "wall_s": wall,
            "units_per_min": 60 * len(photos) / wall, "worker_s_per_unit": per_unit,
            "overhead_s_per_unit": wall / len(photos) - per_unit / workers}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--units", type=int, default=8)
    ap.add_argument("--steps", type=int, default=5, help="parametric optimisation steps per photo")
    ap.add_argument("--workers", type=int, nargs="*", default=[1, 2], help="Ray worker counts to try")
    ap.add_argument("--address", default=None, help="Ray cluster (auto | HOST:PORT); default: a local instance")
    ap.add_argument("--no-local", action="store_true", help="skip the local executor row")
    args = ap.parse_args()

    from masque.batch import ProtectSpec
    from masque.engines.parametric import ParametricConfig
    from masque.executors import LocalExecutor, RayExecutor

    spec = ProtectSpec({"prompt": "plum lipstick", "engine": "parametric", "surrogates": ["dlib"], "seed": 0,
                        "engine_options": {"config": ParametricConfig(steps=args.steps)}}, device="cpu")
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-executor-") as tmp:
        tmp = Path(tmp)
        photos = make_photos(tmp, args.units)
        if not args.no_local:
            rows.append(run_variant("local", LocalExecutor(), spec, photos, tmp / "local", 1))
        for n in args.workers:
            start = time.perf_counter()
            ray_exec = RayExecutor(address=args.address, workers=n,
                                   num_cpus=None if args.address else max(args.workers))
            init = time.perf_counter() - start
            try:
                row = run_variant(f"ray x{n}", ray_exec, spec, photos, tmp / f"ray{n}", n)
            finally:
                ray_exec.close()
            rows.append({**row, "ray_init_s": init})
    print(f"{'variant':<9} {'units':>5} {'wall s':>8} {'units/min':>10} {'worker s/unit':>14} "
          f"{'overhead s/unit':>16} {'ray init s':>11}")
    for r in rows:
        init = f"{r['ray_init_s']:.1f}" if "ray_init_s" in r else "-"
        print(f"{r['variant']:<9} {r['units']:>5} {r['wall_s']:>8.1f} {r['units_per_min']:>10.1f} "
              f"{r['worker_s_per_unit']:>14.2f} {r['overhead_s_per_unit']:>16.2f} {init:>11}")


if __name__ == "__main__":
    main()
