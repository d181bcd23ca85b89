"""Same-person vs different-person cosines of each FR model on a folder-per-identity dataset, and the equal-error
threshold the registry stores for models without FAR calibration.

    python benchmarks/bench_fr_calibration.py --dataset ../shared/data/identities
    python benchmarks/bench_fr_calibration.py --dataset ../shared/data/identities --models mobileface-v3,faceres

Every photo's largest face is detected and aligned into the generation crop by MASQUE's face stack (crops cached in
``--cache``), embedded by each model through its own `FaceEmbedder` preprocessing (the path `masque check` uses),
and every pair of photos is scored: same identity or not. The table gives mean cosines, the closest pair of each
kind, the equal-error threshold (`evaluation.metrics.equal_error_threshold`) and the error rate there.
"""

from __future__ import annotations

import argparse
import itertools
import tempfile
from pathlib import Path

import torch


def main() -> None:
    from masque.embedders import create_embedder, list_embedders
    from masque.embedders.registry import TEST_ONLY
    from masque.errors import WeightsError
    from masque.evaluation.datasets import load_folder_dataset
    from masque.evaluation.faces import CropCache
    from masque.evaluation.metrics import embed_crops, equal_error_threshold

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", required=True, help="folder with one sub-folder of photos per person")
    parser.add_argument("--models", default=None, help="comma-separated registry names (default: every present one)")
    parser.add_argument("--cache", default=str(Path(tempfile.gettempdir()) / "masque-calibration-crops"))
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    # 1. faces
    dataset = load_folder_dataset(args.dataset)
    photos = dataset.photos()
    cache = CropCache(args.cache)
    crops = [cache.get(p).crop for p in photos]
    labels = [dataset.gallery[p] for p in photos]
    pairs = list(itertools.combinations(range(len(photos)), 2))
    print(f"{len(photos)} photos of {len(set(labels))} people: "
          f"{sum(labels[i] == labels[j] for i, j in pairs)} same-person and "
          f"{sum(labels[i] != labels[j] for i, j in pairs)} different-person pairs")

    # 2. models
    names = args.models.split(",") if args.models else [n for n in list_embedders() if n not in TEST_ONLY]
    print(f"{'model':16s} {'same':>6s} {'diff':>6s} {'min same':>9s} {'max diff':>9s} {'EER thr':>8s} {'EER':>6s} "
          f"{'FAR':>6s} {'FRR':>6s}")
    for name in names:
        try:
            model = create_embedder(name)
        except WeightsError as exc:
            print(f"{name:16s} missing ({exc})")
            continue
        emb = embed_crops(model, crops)
        sims = emb @ emb.T
        same = [float(sims[i, j]) for i, j in pairs if labels[i] == labels[j]]
        diff = [float(sims[i, j]) for i, j in pairs if labels[i] != labels[j]]
        point = equal_error_threshold(same, diff)
        far = sum(d >= point.threshold for d in diff)
        frr = sum(s < point.threshold for s in same)
        print(f"{name:16s} {sum(same) / len(same):6.3f} {sum(diff) / len(diff):6.3f} {min(same):9.3f} "
              f"{max(diff):9.3f} {point.threshold:8.4f} {point.eer:6.3f} {far:>2d}/{len(diff):<3d} "
              f"{frr:>2d}/{len(same)}")


if __name__ == "__main__":
    main()
