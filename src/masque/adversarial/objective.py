"""The one adversarial objective; both engines, the baselines and the evaluator call it.

MASQUE protects by *dodging*: it lowers the similarity between the protected face and other photos of the same
person (the anchors), so no target identity is needed. For models m = 1..M with embedding f_m, the protected crops x
(B of them), optional transforms T ~ EOT and the configured terms τ with weights w_τ:

    L(x) = 1/M Σ_m Σ_τ w_τ · τ(f_m(T x))        (minimised; `ObjectiveConfig.balance` may share the step otherwise)

The terms (`terms.py`): ``dodge`` (1 − w) 1/K Σ_k h_mk + w max_k h_mk, h_mk = h_m(cos(f_m(T x), f_m(a_k))), the
closest anchor weighted w; ``repel`` cos(f_m(T x), f_m(s)) to the source crop s; ``spread`` the cosine between
different protected crops. h_m(c) = c, or, calibrated, max((c − t_m) / (1 − t_m), floor) so every model's range counts
alike, or the hinge max(0, c − (t_m − margin)) when a margin is set (t_m: the model's FAR 0.01 threshold, else its own
same-person threshold), so models already past their threshold stop dominating the gradient. The expectation over T
(`eot.py`) averages ``samples`` seeded draws per model. With no pair photo the anchor is the source photo itself.

`Objective` binds one configuration to one image's anchors, source and EOT sampler; engines score, stop, pick their
best iterate and take their gradient through it, so a new term or balancing strategy needs no engine change.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace

import torch

from ..embedders import FaceEmbedder
from ..errors import InputError
from ..trace import CostTrace
from .balance import BALANCES, GradOf, balance_named
from .eot import EOT, EOTConfig
from .terms import TERMS, Dodge, ModelView, ObjectiveTerm, PairwiseLoss, margin_threshold, term_from_dict

AnchorEmbeddings = Mapping[str, torch.Tensor]


@dataclass(frozen=True)
class ObjectiveConfig:
    """The terms, the cosine shaping, EOT and the balancing strategy; the defaults give the plain mean cosine to
    the anchors. Serialises with ``dataclasses.asdict`` (each term with its ``kind``) and loads back with
    `from_dict`."""

    terms: tuple[ObjectiveTerm, ...] = (Dodge(),)
    margin: float | None = None  # hinge at (threshold - margin) per model
    eot: EOTConfig | None = None
    # per-model calibration: each cosine c becomes max((c - t_m) / (1 - t_m), floor), t_m the model's verdict
    # threshold, so a model with a narrow cosine range (dlib: same person above 0.91) weighs as much as one with a
    # wide range, and a model already far past its threshold (below `floor`) stops pulling the gradient
    calibrated: bool = False
    floor: float = -1.0
    # how the surrogates share a step (`balance.BALANCES`); None: the engine's own default ("loss" unless a preset
    # says otherwise). `balance_done`: the weight of a model already past its stop target under "gradient"
    balance: str | None = None
    balance_done: float = 0.25

    def __post_init__(self):
        object.__setattr__(self, "terms", tuple(self.terms))
        bad = [t for t in self.terms if type(t) not in TERMS.values()]
        if bad:
            raise InputError(f"objective `terms` must be registered terms ({sorted(TERMS)}), got {bad}.")
        if not any(t.weight for t in self.terms):
            raise InputError("objective `terms` must hold at least one term with a non-zero weight, e.g. Dodge().")
        kinds = [t.kind for t in self.terms]
        if len(set(kinds)) != len(kinds):
            raise InputError(f"objective `terms` must name each kind once, got {kinds}.")
        if self.balance is not None and self.balance not in BALANCES:
            raise InputError(f"`balance` must be one of {', '.join(repr(n) for n in BALANCES)}, got "
                             f"{self.balance!r}.")

    @property
    def needs_source(self) -> bool:
        return any(t.needs_source for t in self.terms)

    def term(self, kind: str) -> ObjectiveTerm | None:
        return next((t for t in self.terms if t.kind == kind), None)

    @classmethod
    def from_dict(cls, data: Mapping) -> ObjectiveConfig:
        """The configuration as a sidecar stored it (``asdict``): terms by kind, EOT ranges back to tuples."""
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise InputError(f"objective settings have no field(s) {unknown}; fields: {sorted(names)}.")
        out = dict(data)
        if "terms" in out:
            out["terms"] = tuple(term_from_dict(t) for t in out["terms"])
        if out.get("eot") is not None:
            out["eot"] = EOTConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in out["eot"].items()})
        return cls(**out)


def _device_of(model: FaceEmbedder, fallback: torch.device) -> torch.device:
    p = next(model.parameters(), None)
    return p.device if p is not None else fallback


@torch.no_grad()
def encode_anchors(
    embedders: Sequence[FaceEmbedder], anchors: Sequence[torch.Tensor], trace: CostTrace | None = None
) -> dict[str, torch.Tensor]:
    """Embed the anchor crops once per model: (K, D) per model name. Anchors are constants of the objective."""
    if not anchors:
        raise ValueError("`anchors` must hold at least one crop (use the source crop itself in single mode)")
    batch = torch.cat(list(anchors), dim=0)
    out = {}
    for model in embedders:
        out[model.name] = model(batch.to(_device_of(model, batch.device)))
        if trace is not None:
            trace.add(f"fr:{model.name}")
    return out


def evaluate(embedders: Sequence[FaceEmbedder], protected: torch.Tensor, anchor_emb: AnchorEmbeddings,
             source_emb: AnchorEmbeddings | None, config: ObjectiveConfig, eot: EOT | None,
             trace: CostTrace | None, backward: bool, similarity_only: bool = False) -> PairwiseLoss:
    """The objective on ``protected`` (B, 3, H, W) against embedded anchors (and source): every model's terms.
    ``similarity_only``: only ``per_model`` and ``worst`` (no terms; ``loss`` is 0)."""
    if not similarity_only and config.needs_source and source_emb is None:
        raise InputError("`source` is required by the objective's `repel` term (pass the source crop).")
    active = [t for t in config.terms if t.weight]
    shared = eot(protected) if eot is not None else protected
    terms, per_model, worst = [], {}, {}
    for i, model in enumerate(embedders):
        x = eot(protected) if eot is not None and eot.config.per_model and i else shared
        emb = model(x.to(_device_of(model, x.device)))
        if trace is not None:
            trace.add(f"fr:{model.name}", backward=backward)
        cos = emb @ anchor_emb[model.name].to(emb).T  # (samples * B, K)
        per_model[model.name] = float(cos.detach().mean())
        worst[model.name] = float(cos.detach().mean(0).max())
        view = ModelView(model, emb, anchor_emb[model.name], cos,
                         None if source_emb is None else source_emb[model.name], protected.shape[0],
                         config.calibrated, config.floor, config.margin)
        if similarity_only:
            continue
        total = None
        for term in active:
            part = term.weight * term(view)
            total = part if total is None else total + part
        terms.append(total.to(protected.device))
    if similarity_only:
        return PairwiseLoss(loss=torch.zeros(()), per_model=per_model, worst=worst)
    return PairwiseLoss(loss=torch.stack(terms).mean(), per_model=per_model, worst=worst,
                        terms={model.name: t for model, t in zip(embedders, terms, strict=True)})


def pairwise_loss(
    embedders: Sequence[FaceEmbedder],
    protected: torch.Tensor,
    anchors: Sequence[torch.Tensor] | AnchorEmbeddings,
    *,
    trace: CostTrace | None = None,
    backward: bool = True,
    source: torch.Tensor | AnchorEmbeddings | None = None,
    config: ObjectiveConfig = ObjectiveConfig(),
    eot: EOT | None = None,
) -> PairwiseLoss:
    """The objective above for ``protected`` (B, 3, H, W) generation crops; ``per_model`` = mean cosine to anchors.

    ``anchors``/``source`` may be raw crops or `encode_anchors` output (preferred inside optimisation loops).
    ``eot``: pass one `EOT` per optimisation so each step draws new transforms; without it a sampler seeded with
    ``config.eot.seed`` is built per call (the same draws every call). ``backward`` only tells the cost trace whether
    the caller will back-propagate through this call. The source is used only by terms that need it.
    """
    if not embedders:
        raise ValueError("`embedders` must hold at least one FaceEmbedder")
    anchor_emb = anchors if isinstance(anchors, Mapping) else encode_anchors(embedders, anchors, trace)
    source_emb = None
    if config.needs_source and source is not None:
        source_emb = source if isinstance(source, Mapping) else encode_anchors(embedders, [source], trace)
    if eot is None and config.eot is not None:
        eot = EOT(config.eot)
    return evaluate(embedders, protected, anchor_emb, source_emb, config, eot, trace, backward)


@dataclass
class Objective:
    """One image's objective: the configuration bound to the anchors, the source, one seeded EOT sampler and the
    per-surrogate stop targets (None: never stop early). Engines evaluate (`__call__`, under EOT), judge without
    EOT (`judge`), take their step (`gradient`), keep their best iterate (`score`), stop (`reached`) and choose
    among candidates (`distance`) through it."""

    embedders: Sequence[FaceEmbedder]
    config: ObjectiveConfig
    anchors: AnchorEmbeddings
    source: AnchorEmbeddings | None = None
    seed: int = 0
    targets: Mapping[str, float] | None = None
    trace: CostTrace | None = None
    eot: EOT | None = field(init=False, default=None)

    def __post_init__(self):
        if not self.embedders:
            raise ValueError("`embedders` must hold at least one FaceEmbedder")
        if self.config.needs_source and self.source is None:
            raise InputError("`source` is required by the objective's `repel` term (pass the source crop).")
        eot = self.config.eot
        self.eot = None if eot is None else EOT(replace(eot, seed=eot.seed + self.seed))
        self._balance = balance_named(self.config.balance or "loss")

    def __call__(self, x: torch.Tensor, backward: bool = True) -> PairwiseLoss:
        """The objective on ``x`` under this image's EOT draws (each call draws new ones)."""
        return evaluate(self.embedders, x, self.anchors, self.source, self.config, self.eot, self.trace, backward)

    @torch.no_grad()
    def judge(self, x: torch.Tensor) -> PairwiseLoss:
        """Without EOT or gradients: ``per_model`` (mean cosine to the anchors, the sidecar's similarity) and
        ``worst`` (to the closest anchor: what every decision uses, as the verdict does)."""
        return evaluate(self.embedders, x, self.anchors, self.source, self.config, None, self.trace, False,
                        similarity_only=True)

    def gradient(self, adv: PairwiseLoss, grad_of: GradOf) -> torch.Tensor:
        """The step direction of the configured balancing strategy (``grad_of(loss, retain_graph)``)."""
        return self._balance(adv, grad_of, self.targets, self.config.balance_done)

    def score(self, adv: PairwiseLoss) -> float:
        """The worst surrogate's closest-anchor cosine past its stop target (lower is better; raw cosine without
        targets): what an optimisation keeps its best iterate by."""
        targets = self.targets or {}
        return max(adv.worst[n] - targets.get(n, 0.0) for n in adv.worst)

    def goal(self) -> dict[str, float]:
        """Per surrogate, the cosine the candidates are judged against: the stop target, else the verdict's."""
        return dict(self.targets) if self.targets is not None else {
            m.name: margin_threshold(m) for m in self.embedders}

    def distance(self, adv: PairwiseLoss) -> float:
        """How far the worst surrogate is from its `goal` (negative: every one past it); choosing among candidates."""
        goal = self.goal()
        return max(adv.worst[n] - goal[n] for n in adv.worst)

    def reached(self, adv: PairwiseLoss, x: torch.Tensor) -> bool:
        """Every surrogate past its stop target, confirmed on ``x`` without EOT when ``adv`` was one EOT draw."""
        if self.targets is None or not all(adv.worst[n] < self.targets[n] for n in self.targets):
            return False
        return self.eot is None or all(c < self.targets[n] for n, c in self.judge(x.detach()).worst.items())
