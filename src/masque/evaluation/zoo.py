"""Which face-recognition models can judge here, with their weights' provenance and thresholds.

A model is *available* when the registry can build it with its default weights; a missing checkpoint is not an
error for evaluation (the model is reported as unavailable with the store's reason). ``tiny-random`` is a test
fixture and is used only when named explicitly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from ..embedders import FaceEmbedder, create_embedder, default_weights, list_embedders
from ..embedders.registry import TEST_ONLY
from ..errors import InputError, WeightsError
from ..paths import sha256sum
from .metrics import primary_threshold, threshold_keys


@dataclass
class ModelRecord:
    """Provenance of one judge model (goes into results.json and the `check --json` output)."""

    name: str
    available: bool
    reason: str | None = None
    weights: str | None = None
    sha256: str | None = None
    thresholds: dict[str, float] = field(default_factory=dict)
    primary: str | None = None
    rule: str | None = None  # human-readable same-person rule, when the model defines one

    def to_dict(self) -> dict:
        return {"name": self.name, "available": self.available, "reason": self.reason, "weights": self.weights,
                "sha256": self.sha256, "thresholds": self.thresholds, "primary_threshold": self.primary,
                "rule": self.rule}


def _rule(spec) -> str | None:
    """A model's own same-person rule in words (dlib: raw-descriptor distance, converted to cosine by its spec)."""
    extra = spec.extra if isinstance(spec.extra, dict) else {}
    if "rule" in extra:
        return str(extra["rule"])
    if "same_person_distance" in extra:
        return (f"same person when the raw-descriptor L2 distance < {extra['same_person_distance']} "
                f"(cosine form of that rule in `thresholds`)")
    return None


def parse_models(models: str | Sequence[str] | None) -> list[str] | None:
    """``"dlib,irse50"`` -> ``["dlib", "irse50"]``; ``None``/empty -> ``None`` (every registered model)."""
    if models is None:
        return None
    names = [m.strip() for m in (models.split(",") if isinstance(models, str) else models) if m.strip()]
    known = list_embedders()
    for n in names:
        if n not in known:
            raise InputError(field="models", rule=f"must name models from {known}, got {n!r}.")
    return names or None


def load_models(names: Sequence[str] | None = None, *, device: str = "cpu"
                ) -> tuple[dict[str, FaceEmbedder], list[ModelRecord]]:
    """Build every available model among ``names`` (default: all registered non-test models)."""
    wanted = list(names) if names else [n for n in list_embedders() if n not in TEST_ONLY]
    models, records = {}, []
    for name in wanted:
        try:
            weights = default_weights(name)  # a file check first: no architecture is built for absent weights
        except WeightsError as exc:
            records.append(ModelRecord(name, False, reason=str(exc)))
            continue
        model = create_embedder(name, weights, device=device)
        thresholds = {k: float(v) for k, v in model.thresholds.items()}
        thresholds = {k: thresholds[k] for k in threshold_keys(thresholds)}
        records.append(ModelRecord(
            name, True, weights=str(weights) if weights else None,
            sha256=sha256sum(weights) if weights and weights.is_file() else None,
            thresholds=thresholds, primary=primary_threshold(thresholds),
            rule=_rule(model.spec)))
        models[name] = model
    if not models:
        reasons = "; ".join(f"{r.name}: {r.reason}" for r in records) or "no models registered"
        raise InputError(field="models", rule=f"leave no face-recognition model available ({reasons})")
    return models, records
