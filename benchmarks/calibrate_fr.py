"""Print each present FR model's equal-error threshold on a folder-per-identity dataset (default: the shared one).

    python benchmarks/calibrate_fr.py [--dataset DIR] [--models sface,facenet-casia]

The `eer` thresholds in `masque.embedders.packaged` were set from this table (see that module's docstring).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from masque.evaluation.calibration import calibrate
from masque.evaluation.zoo import load_models, parse_models

DEFAULT = Path(__file__).resolve().parents[1] / ".." / ".." / "shared" / "data" / "identities"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default=str(DEFAULT))
    ap.add_argument("--models", default=None, help="comma-separated (default: every present model)")
    args = ap.parse_args()
    t0 = time.perf_counter()
    models, _ = load_models(parse_models(args.models))
    rows = calibrate(models, args.dataset)
    print(f"{'model':16s} {'threshold':>9s} {'EER':>5s} {'same mean':>9s} {'diff mean':>9s} {'same min':>8s} "
          f"{'diff max':>8s} {'pairs s/d':>9s}")
    for r in rows:
        print(f"{r.model:16s} {r.threshold:9.4f} {r.eer:5.3f} {r.same_mean:9.3f} {r.different_mean:9.3f} "
              f"{r.same_min:8.3f} {r.different_max:8.3f} {r.n_same:4d}/{r.n_different:<4d}")
    print(f"({time.perf_counter() - t0:.1f} s)")


if __name__ == "__main__":
    main()
