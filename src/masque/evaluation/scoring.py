"""Score one protection run (method x target model) against the clean gallery: the numbers in results.json."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from . import metrics
from .datasets import EvalItem


@dataclass
class ProtectedItem:
    """One protected probe: the item, its original and protected crops (uint8) and how it was made."""

    item: EvalItem
    original: np.ndarray
    protected: np.ndarray
    record: dict  # seed, seconds, nfe, path, resumed ... (copied into results.json)


@dataclass
class Gallery:
    """Clean crops of every dataset photo with a face, and their embeddings per model."""

    paths: list[Path]
    identities: list[str]
    crops: list[np.ndarray]
    embeddings: dict[str, torch.Tensor]  # model -> (N, D)


def _mean(values: Sequence[float]) -> float | None:
    values = list(values)
    if not values:
        return None
    return math.inf if any(math.isinf(v) for v in values) else float(np.mean(values))


def score_run(model, thresholds: Mapping[str, float], primary: str, gallery: Gallery,
              probes: Sequence[ProtectedItem], quality_status: Mapping[str, str | None]) -> dict:
    """Verification PSR per threshold, identification rank-1/5, robustness PSR (primary threshold) and quality."""
    gal = gallery.embeddings[model.name]
    prot = metrics.embed_crops(model, [p.protected for p in probes])
    counts = {k: metrics.PairCount() for k in thresholds}
    ranks, items, same_idx = [], [], []
    for i, probe in enumerate(probes):
        others = [j for j, path in enumerate(gallery.paths) if path != probe.item.source]
        sims = (gal[others] @ prot[i]).tolist() if others else []
        same_idx.append([j for j in others if gallery.identities[j] == probe.item.identity])
        same = (gal[same_idx[-1]] @ prot[i]).tolist()
        for k, c in metrics.verification_counts(same, thresholds).items():
            counts[k].pairs += c.pairs
            counts[k].protected += c.protected
        rank = metrics.identity_rank(sims, [gallery.identities[j] for j in others], probe.item.identity)
        ranks.append(rank)
        items.append({
            **probe.record, "identity": probe.item.identity, "source": str(probe.item.source),
            "same_person_similarity": same, "identity_rank": rank, "robustness_similarity": {},
            "psnr": metrics.psnr(probe.original, probe.protected),
            "ssim": metrics.ssim(probe.original, probe.protected),
        })
    # robustness: only probes with a same-person pair matter; one batched pass per transform
    robust = {name: metrics.PairCount() for name in metrics.ROBUSTNESS}
    paired = [i for i, idx in enumerate(same_idx) if idx]
    for name, transform in metrics.ROBUSTNESS.items():
        emb = metrics.embed_crops(model, [transform(probes[i].protected) for i in paired])
        for row, i in enumerate(paired):
            rs = (gal[same_idx[i]] @ emb[row]).tolist()
            items[i]["robustness_similarity"][name] = rs
            c = metrics.verification_counts(rs, {primary: thresholds[primary]})[primary]
            robust[name].pairs += c.pairs
            robust[name].protected += c.protected
    quality = {"psnr": _mean(it["psnr"] for it in items), "ssim": _mean(it["ssim"] for it in items),
               "lpips": None, "fid": None}
    originals, protecteds = [p.original for p in probes], [p.protected for p in probes]
    if quality_status.get("lpips") is None and probes:
        quality["lpips"] = _mean(metrics.lpips_distances(originals, protecteds))
    if quality_status.get("fid") is None and len(probes) > 1:
        quality["fid"] = metrics.fid_score(originals, protecteds)
    quality["unavailable"] = {k: v for k, v in quality_status.items() if v is not None}
    seconds = [it["seconds"] for it in items if it.get("seconds") is not None]
    nfe = [it["nfe"] for it in items if it.get("nfe") is not None]
    return {
        "thresholds": dict(thresholds), "primary_threshold": primary,
        "verification": {k: c.to_dict() for k, c in counts.items()},
        "identification": {f"rank{k}": metrics.identification_psr(ranks, k) for k in (1, 5)},
        "robustness": {"threshold": primary, **{k: c.to_dict() for k, c in robust.items()}},
        "quality": quality,
        "cost": {"seconds_per_image": _mean(seconds), "nfe_per_image": _mean(nfe)},
        "items": items,
    }
