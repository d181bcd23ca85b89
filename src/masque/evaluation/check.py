"""Offline self-check: does a protected photo still match its person on the FR models available here?

For every available model the protected face is compared (cosine of L2-normalised embeddings) with the original
and with each reference photo of the same person. The model calls it *protected* only when every comparison falls
below its threshold (FAR 0.01 where the model defines FAR thresholds, else the model's own same-person rule, as for
dlib). Overall: protected on every model, on some ("partially protected"), or on none.

Inputs are photos by default: the largest face is detected and aligned into the generation crop. With
``aligned=True`` they are taken as generation-framed crops as written by `masque evaluate` (no detection), which
checks exactly the pixels a protection produced.

Photos are also judged by **dlib-bin itself** (row ``dlib-bin``): dlib's own detector, 5-point chip and ResNet, with
its documented rule (raw-descriptor distance < 0.6 = same person). It shares none of MASQUE's preprocessing, so it
catches protections that only fool the differentiable path they were optimised through (seen here: a makeup that
brought the port's cosine under its threshold while dlib-bin still measured 0.54).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..errors import InputError, NoFaceError
from .faces import FaceCrop, detect_and_align, load_aligned_crop
from .metrics import primary_threshold
from .zoo import ModelRecord, load_models

PROTECTED, NOT_PROTECTED, PARTIAL = "protected", "not protected", "partially protected"


@dataclass
class ModelVerdict:
    model: str
    threshold_key: str
    threshold: float
    original_similarity: float
    reference_similarity: dict[str, float]
    rule: str | None = None
    metric: str = "cosine"  # "cosine": protected below the threshold; "l2": protected at or above it

    @property
    def protected(self) -> bool:
        sims = [self.original_similarity, *self.reference_similarity.values()]
        if self.metric == "l2":
            return all(s >= self.threshold for s in sims)
        return all(s < self.threshold for s in sims)

    def to_dict(self) -> dict:
        return {"model": self.model, "threshold_key": self.threshold_key, "threshold": self.threshold,
                "rule": self.rule, "metric": self.metric, "similarity_original": self.original_similarity,
                "similarity_references": self.reference_similarity,
                "verdict": PROTECTED if self.protected else NOT_PROTECTED}


@dataclass
class CheckReport:
    original: str
    protected: str
    references: list[str]
    aligned: bool
    verdicts: list[ModelVerdict]
    models: list[ModelRecord] = field(default_factory=list)

    @property
    def overall(self) -> str:
        hits = sum(v.protected for v in self.verdicts)
        if hits == len(self.verdicts):
            return PROTECTED
        return NOT_PROTECTED if hits == 0 else PARTIAL

    def to_dict(self) -> dict:
        return {"original": self.original, "protected": self.protected, "references": self.references,
                "aligned_inputs": self.aligned, "overall": self.overall,
                "models": [v.to_dict() for v in self.verdicts],
                "unavailable": [{"model": r.name, "reason": r.reason} for r in self.models if not r.available],
                "weights": {r.name: {"path": r.weights, "sha256": r.sha256} for r in self.models if r.available}}


def _face(path: Path, size: int, aligned: bool) -> FaceCrop:
    return load_aligned_crop(path, size) if aligned else detect_and_align(path, size)


@torch.no_grad()
def check_protection(original: str | Path, protected: str | Path, references: Sequence[str | Path] = (), *,
                     models: Sequence[str] | None = None, aligned: bool = False, size: int = 512,
                     threshold: str | None = None, device: str = "cpu") -> CheckReport:
    """Compare ``protected`` with ``original`` and ``references`` on every available FR model."""
    # 1. inputs (cheap checks before loading any model)
    paths = {"ORIGINAL": Path(original), "PROTECTED": Path(protected)}
    for i, r in enumerate(references):
        paths[f"--reference[{i}]"] = Path(r)
    for arg, p in paths.items():
        if not p.is_file():
            raise InputError(f"`{arg}` must be an existing image file, got {str(p)!r}.")
    # 2. faces
    faces = {arg: _face(p, size, aligned) for arg, p in paths.items()}
    # 3. models
    nets, records = load_models(models, device=device)
    verdicts = []
    for rec in records:
        if not rec.available:
            continue
        net = nets[rec.name]
        key = threshold or primary_threshold(rec.thresholds)
        if key not in rec.thresholds:
            raise InputError(f"`--threshold` must be one of {list(rec.thresholds)} for {rec.name!r}, got {key!r}.")
        emb = {arg: net(f.tensor().to(device))[0] for arg, f in faces.items()}
        prot = emb["PROTECTED"]
        refs = {str(paths[a]): float(prot @ e) for a, e in emb.items() if a.startswith("--reference")}
        verdicts.append(ModelVerdict(rec.name, key, rec.thresholds[key], float(prot @ emb["ORIGINAL"]), refs,
                                     rec.rule))
    if not aligned and (models is None or "dlib" in models):
        verdicts.append(dlib_bin_verdict(paths))
    return CheckReport(str(paths["ORIGINAL"]), str(paths["PROTECTED"]), [str(Path(r)) for r in references], aligned,
                       verdicts, records)


def dlib_bin_verdict(paths: dict[str, Path]) -> ModelVerdict:
    """dlib-bin's own verdict on full photos (largest face each): raw-descriptor L2 distances from PROTECTED.

    A protected photo in which dlib's detector finds no face counts as protected (distance reported as inf).
    """
    from ..embedders.dlib_chip import dlib_face_tools
    from ..embedders.dlib_resnet import SAME_PERSON_DISTANCE
    from ..io import read_image

    tools = dlib_face_tools()
    desc = {}
    for arg, p in paths.items():
        desc[arg] = tools.face_descriptor(read_image(p).rgb)
        if desc[arg] is None and arg != "PROTECTED":
            raise NoFaceError(f"`{arg}` {str(p)!r}: dlib found no face to compare with.")

    def dist(arg: str) -> float:
        if desc["PROTECTED"] is None:
            return float("inf")
        return float(np.linalg.norm(desc["PROTECTED"] - desc[arg]))

    refs = {str(paths[a]): dist(a) for a in paths if a.startswith("--reference")}
    return ModelVerdict("dlib-bin", f"l2<{SAME_PERSON_DISTANCE}", SAME_PERSON_DISTANCE, dist("ORIGINAL"), refs,
                        rule=f"dlib's own pipeline; same person when the descriptor distance < {SAME_PERSON_DISTANCE}",
                        metric="l2")
