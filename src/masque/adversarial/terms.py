"""The named terms of the objective: each one a frozen, serialisable config that scores one model's embeddings.

A term sees one surrogate at a time (`ModelView`: its embeddings of the transformed protected crops, the anchors'
and the source's embeddings, and the model's cosine shaping) and returns that model's scalar contribution; the
objective adds ``weight · term`` over the terms and averages (or balances) over the models. A new idea is one class
here with ``@register_term("name")``: no engine changes, and ``--set objective.terms.<name>.<field>=...`` turns it on
in the benchmarks.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import ClassVar, Protocol

import torch

from ..embedders import FaceEmbedder
from ..errors import InputError


def margin_threshold(model: FaceEmbedder) -> float:
    """The threshold the margin hinges on: FAR 0.01 where defined, else the model's own (strictest) rule."""
    if not model.thresholds:
        raise InputError(f"`margin` needs thresholds on {model.name!r}; pass margin=None.")
    return model.verdict_threshold


def calibrate(cos: torch.Tensor, model: FaceEmbedder, floor: float) -> torch.Tensor:
    """max((c − t) / (1 − t), floor), t the model's threshold: every model's cosine range counts alike."""
    t = margin_threshold(model)
    return ((cos - t) / max(1.0 - t, 1e-3)).clamp_min(floor)


@dataclass
class ModelView:
    """What a term may read about one surrogate in one evaluation.

    ``embeddings`` are (samples · B, D), sample-major (B protected crops, each seen under ``samples`` transforms);
    ``anchor_cos`` = embeddings @ anchors.T, (samples · B, K).
    """

    model: FaceEmbedder
    embeddings: torch.Tensor
    anchors: torch.Tensor
    anchor_cos: torch.Tensor
    source: torch.Tensor | None
    batch: int
    calibrated: bool
    floor: float
    margin: float | None

    def calibrated_cos(self, cos: torch.Tensor) -> torch.Tensor:
        """``cos`` calibrated per model when the objective is (`calibrate`), else as it is."""
        return calibrate(cos, self.model, self.floor) if self.calibrated else cos

    def dodge_cos(self, cos: torch.Tensor) -> torch.Tensor:
        """Calibrated, else hinged at (threshold − margin) when a margin is set, else as it is."""
        if self.calibrated:
            return calibrate(cos, self.model, self.floor)  # the floor plays the margin's part
        if self.margin is not None:
            return torch.relu(cos - (margin_threshold(self.model) - self.margin))
        return cos


class ObjectiveTerm(Protocol):
    """One named term: ``kind`` (its registry name), ``weight`` (0 turns it off), ``needs_source``."""

    kind: str
    weight: float

    @property
    def needs_source(self) -> bool: ...

    def __call__(self, view: ModelView) -> torch.Tensor: ...


def registrar(table: dict, what: str) -> Callable[[str], Callable]:
    """``register(name)``: a decorator putting its object into ``table`` under ``name`` (once)."""

    def register(name: str) -> Callable:
        def add(obj):
            if name in table:
                raise ValueError(f"{what} {name!r} is registered twice")
            table[name] = obj
            return obj

        return add

    return register


TERMS: dict[str, type] = {}
# class decorator: the term is built from its ``kind`` when a configuration is loaded back
register_term = registrar(TERMS, "objective term")


def term_from_dict(data: Mapping) -> ObjectiveTerm:
    """A term from its sidecar form (``asdict`` of the term, ``kind`` included)."""
    kind = data.get("kind")
    if kind not in TERMS:
        raise InputError(f"objective term `kind` must be one of {sorted(TERMS)}, got {kind!r}.")
    cls = TERMS[kind]
    names = {f.name for f in fields(cls) if f.init}
    unknown = sorted(set(data) - names - {"kind"})
    if unknown:
        raise InputError(f"objective term {kind!r} has no field(s) {unknown}; fields: {sorted(names)}.")
    return cls(**{k: v for k, v in data.items() if k in names})


@register_term("dodge")
@dataclass(frozen=True)
class Dodge:
    """Away from the references: (1 − w) · mean_k h_k + w · max_k h_k over the anchors (w = ``worst_anchor``).

    A judge holding several photos of the person recognises the face when it matches any of them, so the mean alone
    let one photo be pushed far while another still matched (`max`, alex1: mobileface-v3 at 0.37 / 0.14 to its two
    pairs, threshold 0.24); the closest anchor gets the weight ``worst_anchor``.
    """

    weight: float = 1.0
    worst_anchor: float = 0.0
    kind: str = field(default="dodge", init=False)
    needs_source: ClassVar[bool] = False

    def __call__(self, view: ModelView) -> torch.Tensor:
        cos = view.dodge_cos(view.anchor_cos)
        return (1 - self.worst_anchor) * cos.mean() + self.worst_anchor * cos.mean(0).max()


@register_term("repel")
@dataclass(frozen=True)
class Repel:
    """Away from the source crop's own embedding (calibrated like the dodge): the face stops matching itself."""

    weight: float = 1.0
    kind: str = field(default="repel", init=False)

    @property
    def needs_source(self) -> bool:
        return self.weight != 0

    def __call__(self, view: ModelView) -> torch.Tensor:
        if view.source is None:
            raise InputError("`source` is required by the objective's `repel` term (pass the source crop).")
        return view.calibrated_cos(view.embeddings @ view.source.to(view.embeddings).T).mean()


@register_term("spread")
@dataclass(frozen=True)
class Spread:
    """Apart from each other: the mean cosine between different protected crops of one evaluation (B ≥ 2, e.g. a
    person's photos fitted together, issue 28), calibrated like the dodge, so a person's protected photos stop
    matching *each other*. Zero for a single crop."""

    weight: float = 1.0
    kind: str = field(default="spread", init=False)
    needs_source: ClassVar[bool] = False

    def __call__(self, view: ModelView) -> torch.Tensor:
        b = view.batch
        emb = view.embeddings
        if b < 2:
            return emb.sum() * 0.0  # keeps the graph (and the device) of the other terms
        per_sample = emb.reshape(-1, b, emb.shape[-1])  # (samples, B, D)
        cos = view.calibrated_cos(per_sample @ per_sample.transpose(1, 2))  # (samples, B, B)
        off = ~torch.eye(b, dtype=torch.bool, device=emb.device)
        return cos[:, off].mean()


@dataclass
class PairwiseLoss:
    """The scalar objective plus each model's mean cosine to the anchors (detached, for logs and sidecars)."""

    loss: torch.Tensor
    per_model: dict[str, float]
    # each model's cosine to its closest anchor (the verdict's rule: matching any reference photo is recognition)
    worst: dict[str, float] = field(default_factory=dict)
    # each model's own term (the loss is their mean): what per-model gradient balancing differentiates one by one
    terms: dict[str, torch.Tensor] = field(default_factory=dict)
