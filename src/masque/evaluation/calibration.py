"""Per-model same-person thresholds from real photo pairs: the equal-error point on a folder-per-identity dataset.

Every photo is detected and aligned once (the evaluation's `CropCache`), embedded by each model, and every pair of
photos is labelled same-person (same folder) or different-person. The threshold is the cosine where the false-reject
rate on same-person pairs equals the false-accept rate on different-person pairs; when the two sets separate (no
error at all), the midpoint of the gap. With a handful of identities this is a rough operating point, not a FAR.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path

import numpy as np
import torch

from .datasets import load_folder_dataset
from .faces import CropCache
from .metrics import embed_crops


@dataclass
class Calibration:
    model: str
    threshold: float  # same person when cos >= threshold
    eer: float  # error rate at that point (0 when the sets separate)
    same_mean: float
    different_mean: float
    same_min: float
    different_max: float
    n_same: int
    n_different: int


def equal_error_threshold(same: Sequence[float], different: Sequence[float]) -> tuple[float, float]:
    """(threshold, error) where FRR(same < t) = FAR(different >= t); the gap's midpoint when they separate."""
    same, different = np.sort(np.asarray(same, float)), np.sort(np.asarray(different, float))
    if not len(same) or not len(different):
        raise ValueError("calibration needs same-person and different-person pairs")
    if same[0] > different[-1]:
        return float((same[0] + different[-1]) / 2), 0.0
    candidates = np.unique(np.concatenate([same, different]))
    frr = np.searchsorted(same, candidates, side="left") / len(same)
    far = 1.0 - np.searchsorted(different, candidates, side="left") / len(different)
    i = int(np.argmin(np.abs(frr - far)))
    return float(candidates[i]), float((frr[i] + far[i]) / 2)


@torch.no_grad()
def calibrate(models: dict, dataset: str | Path, *, cache_dir: str | Path | None = None) -> list[Calibration]:
    """Equal-error thresholds of each ``{name: FaceEmbedder}`` on the pairs of a folder-per-identity ``dataset``."""
    data = load_folder_dataset(dataset)
    photos = sorted(data.gallery)
    cache = CropCache(cache_dir)
    crops = [cache.get(p).crop for p in photos]
    pairs = list(combinations(range(len(photos)), 2))
    same_pair = [data.gallery[photos[i]] == data.gallery[photos[j]] for i, j in pairs]
    out = []
    for name, model in models.items():
        emb = embed_crops(model, crops)
        sims = [float(emb[i] @ emb[j]) for i, j in pairs]
        same = [s for s, f in zip(sims, same_pair, strict=True) if f]
        diff = [s for s, f in zip(sims, same_pair, strict=True) if not f]
        t, err = equal_error_threshold(same, diff)
        out.append(Calibration(name, t, err, float(np.mean(same)), float(np.mean(diff)), min(same), max(diff),
                               len(same), len(diff)))
    return out
