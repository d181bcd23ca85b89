"""Protection and quality metrics.

* Verification (dodging): a same-person pair (protected probe, another clean photo of that person) is *protected*
  when cos(f(probe), f(reference)) < t at the model's threshold t (docs/protocol.md: FAR 0.1 / 0.01 / 0.001 for the
  literature zoo; dlib has one same-person rule). PSR = protected pairs / pairs.
* Identification: identities are ranked by their best-matching gallery photo (every other photo of the dataset);
  protection at rank-k succeeds when the true identity is not among the top k.
* Quality: PSNR and SSIM (scikit-image) between the original and protected crops; LPIPS and FID only when their
  backbone weights are installed, otherwise ``None`` with the reason (never 0).
* Robustness: verification PSR after JPEG q75 / q50, 0.5x downscale and Gaussian blur (sigma 1).
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..embedders.base import primary_threshold  # noqa: F401  (re-exported for the evaluator)
from ..faces.align import crop_to_tensor
from ..pipeline.verdict import same_person


def threshold_keys(thresholds: Mapping[str, float]) -> list[str]:
    """FAR thresholds from loose to strict, then any model-specific rule (dlib's same-person distance)."""
    far = sorted((k for k in thresholds if k.startswith("far")), key=lambda k: -float(k[3:]))
    return far + sorted(k for k in thresholds if not k.startswith("far"))


@dataclass(frozen=True)
class EqualErrorPoint:
    """Where a cosine threshold makes the false-accept and false-reject rates of labelled pairs equal."""

    threshold: float  # same person when cos >= threshold
    eer: float  # the (equal) error rate there
    same_pairs: int
    different_pairs: int


def equal_error_threshold(same: Sequence[float], different: Sequence[float]) -> EqualErrorPoint:
    """Threshold at the equal-error point of same-person and different-person cosines.

    Among the thresholds between consecutive observed scores, take those minimising max(FAR, FRR) (FAR = different
    pairs with cos >= t, FRR = same pairs with cos < t), then |FAR - FRR|, and return the middle of the score range
    they span: with separated scores
    this is the midpoint of the gap between the highest different-person and the lowest same-person cosine.
    """
    s, d = np.sort(np.asarray(same, float)), np.sort(np.asarray(different, float))
    if not len(s) or not len(d):
        raise ValueError("`same` and `different` must both hold at least one pair score")
    scores = np.unique(np.concatenate([s, d]))
    cuts = np.concatenate([[scores[0] - 1e-6], (scores[:-1] + scores[1:]) / 2, [scores[-1] + 1e-6]])
    far = 1.0 - np.searchsorted(d, cuts, side="left") / len(d)
    frr = np.searchsorted(s, cuts, side="left") / len(s)
    worst, gap = np.maximum(far, frr), np.abs(far - frr)
    best = np.flatnonzero(np.isclose(worst, worst.min()))
    best = best[np.isclose(gap[best], gap[best].min())]  # closest to FAR == FRR among them
    lo, hi = best[0], best[-1]
    # Widen to the score range bounded by the scores next to the optimal cuts (the whole gap, not only midpoints).
    low = scores[lo - 1] if lo > 0 else cuts[lo]
    high = scores[hi] if hi < len(scores) else cuts[hi]
    return EqualErrorPoint(float((low + high) / 2), float(worst.min()), len(s), len(d))


@torch.no_grad()
def embed_crops(model, crops: Sequence[np.ndarray], batch: int = 8) -> torch.Tensor:
    """(N, D) L2-normalised embeddings of uint8 generation crops; runs of equal-sized crops are batched."""
    out, i = [], 0
    while i < len(crops):
        j = i + 1
        while j < len(crops) and j - i < batch and crops[j].shape == crops[i].shape:
            j += 1
        x = torch.cat([crop_to_tensor(c) for c in crops[i:j]], 0).to(_device(model))
        out.append(model(x).cpu())
        i = j
    return torch.cat(out, 0) if out else torch.empty(0)


def _device(model) -> torch.device:
    p = next(model.parameters(), None)
    return p.device if p is not None else torch.device("cpu")


@dataclass
class PairCount:
    pairs: int = 0
    protected: int = 0

    @property
    def psr(self) -> float | None:
        """Protection success rate in [0, 1]; ``None`` when there was no same-person pair to test."""
        return self.protected / self.pairs if self.pairs else None

    def to_dict(self) -> dict:
        return {"psr": self.psr, "pairs": self.pairs, "protected": self.protected}


def verification_counts(sims: Sequence[float], thresholds: Mapping[str, float]) -> dict[str, PairCount]:
    """Count protected pairs for every threshold: a pair is protected when the one rule (`same_person`) no longer
    calls it the same person (cos < t)."""
    return {k: PairCount(len(sims), sum(1 for s in sims if not same_person("cosine", s, t)))
            for k, t in thresholds.items()}


def identity_rank(sims: Sequence[float], identities: Sequence[str], true_identity: str) -> int | None:
    """1-based rank of ``true_identity`` when identities are ordered by their best gallery similarity.

    ``None`` when the gallery holds no photo of the true identity (the probe cannot be identified at all, so it
    is left out of identification rather than counted as protected). Ties rank the true identity first
    (pessimistic for the protection).
    """
    best: dict[str, float] = {}
    for s, ident in zip(sims, identities, strict=True):
        best[ident] = max(best.get(ident, -math.inf), float(s))
    if true_identity not in best:
        return None
    target = best[true_identity]
    return 1 + sum(1 for ident, s in best.items() if ident != true_identity and s > target)


def identification_psr(ranks: Sequence[int | None], k: int) -> dict:
    """Rank-k protection: a probe is protected when its true identity ranks *below* the top k (rank > k); at rank k
    it is still identified."""
    valid = [r for r in ranks if r is not None]
    protected = sum(1 for r in valid if r > k)
    return {"psr": protected / len(valid) if valid else None, "probes": len(valid), "protected": protected}


# -- quality -------------------------------------------------------------------------------------------------------

def psnr(original: np.ndarray, protected: np.ndarray) -> float:
    """PSNR in dB over uint8 crops; ``inf`` for identical images."""
    from skimage.metrics import peak_signal_noise_ratio

    if np.array_equal(original, protected):
        return math.inf
    return float(peak_signal_noise_ratio(original, protected, data_range=255))


def ssim(original: np.ndarray, protected: np.ndarray) -> float:
    from skimage.metrics import structural_similarity

    return float(structural_similarity(original, protected, channel_axis=-1, data_range=255))


def optional_metric_status() -> dict[str, str | None]:
    """Why LPIPS / FID cannot be computed here (``None`` = available).

    Both need pretrained backbones (AlexNet/VGG for LPIPS, Inception-v3 for FID) that nothing in this project
    downloads; they are computed only when the user has installed the packages and their weights.
    """
    import importlib.util

    status: dict[str, str | None] = {}
    if importlib.util.find_spec("lpips") is None:
        status["lpips"] = "n/a: the `lpips` package and its backbone weights are not installed"
    else:
        status["lpips"] = _hub_weights_missing("alexnet-owt-7be5be79.pth", "LPIPS AlexNet backbone")
    if importlib.util.find_spec("pytorch_fid") is None:
        status["fid"] = "n/a: the `pytorch_fid` package and its Inception weights are not installed"
    else:
        status["fid"] = _hub_weights_missing("pt_inception-2015-12-05-6726825d.pth", "FID Inception")
    return status


def _hub_weights_missing(filename: str, what: str) -> str | None:
    path = Path(torch.hub.get_dir()) / "checkpoints" / filename
    return None if path.is_file() else f"n/a: {what} weights {str(path)!r} not present (nothing is downloaded)"


def lpips_distances(originals: Sequence[np.ndarray], protected: Sequence[np.ndarray]) -> list[float]:
    """LPIPS (AlexNet) per pair; call only when `optional_metric_status()["lpips"]` is ``None``."""
    import lpips  # optional dependency, present only when the status check passed

    net = lpips.LPIPS(net="alex", verbose=False).eval()
    with torch.no_grad():
        return [float(net(crop_to_tensor(a) * 2 - 1, crop_to_tensor(b) * 2 - 1)) for a, b in
                zip(originals, protected, strict=True)]


def fid_score(originals: Sequence[np.ndarray], protected: Sequence[np.ndarray]) -> float:
    """FID between the two crop sets; call only when `optional_metric_status()["fid"]` is ``None``."""
    from pytorch_fid.fid_score import calculate_frechet_distance
    from pytorch_fid.inception import InceptionV3

    net = InceptionV3([InceptionV3.BLOCK_INDEX_BY_DIM[2048]]).eval()

    def feats(crops):
        with torch.no_grad():
            return np.concatenate([net(crop_to_tensor(c))[0].flatten(1).numpy() for c in crops])

    a, b = feats(originals), feats(protected)
    return float(calculate_frechet_distance(a.mean(0), np.cov(a, rowvar=False), b.mean(0), np.cov(b, rowvar=False)))


# -- robustness transforms (uint8 crop -> uint8 image) -----------------------------------------------------------

def jpeg(quality: int) -> Callable[[np.ndarray], np.ndarray]:
    def apply(rgb: np.ndarray) -> np.ndarray:
        from PIL import Image

        buf = io.BytesIO()
        Image.fromarray(rgb).save(buf, format="JPEG", quality=quality)
        buf.seek(0)
        return np.asarray(Image.open(buf).convert("RGB"))

    return apply


def rescale(factor: float) -> Callable[[np.ndarray], np.ndarray]:
    """Downscale (what a messenger's thumbnail does); the embedder's warp reads any resolution."""

    def apply(rgb: np.ndarray) -> np.ndarray:
        from PIL import Image

        h, w = rgb.shape[:2]
        size = (max(1, round(w * factor)), max(1, round(h * factor)))
        return np.asarray(Image.fromarray(rgb).resize(size, Image.Resampling.BICUBIC))

    return apply


def gaussian_blur(sigma: float) -> Callable[[np.ndarray], np.ndarray]:
    def apply(rgb: np.ndarray) -> np.ndarray:
        from skimage.filters import gaussian

        out = gaussian(rgb.astype(np.float64), sigma=sigma, channel_axis=-1, preserve_range=True)
        return np.clip(np.round(out), 0, 255).astype(np.uint8)

    return apply


ROBUSTNESS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "jpeg_q75": jpeg(75),
    "jpeg_q50": jpeg(50),
    "resize_0.5x": rescale(0.5),
    "blur_sigma1": gaussian_blur(1.0),
}
