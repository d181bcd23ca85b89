"""The one pairwise adversarial objective (DESIGN.md); both engines and the evaluator call it.

MASQUE protects by *dodging*: it lowers the similarity between the protected face and another photo of the same
person (the anchor), so no target identity is needed. For models m = 1..M with embedding f_m and anchors a_1..a_K:

    L(x) = 1/M sum_m 1/K sum_k cos(f_m(x), f_m(a_k))            (minimised)

With no pair photo the anchor is the source photo itself (single mode).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch

from .embedders import FaceEmbedder
from .trace import CostTrace


@dataclass
class PairwiseLoss:
    """The scalar objective plus each model's mean cosine to the anchors (detached, for logs and sidecars)."""

    loss: torch.Tensor
    per_model: dict[str, float]


AnchorEmbeddings = Mapping[str, torch.Tensor]


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
        p = next(model.parameters(), None)
        dev = p.device if p is not None else batch.device
        out[model.name] = model(batch.to(dev))
        if trace is not None:
            trace.add(f"fr:{model.name}")
    return out


def pairwise_loss(
    embedders: Sequence[FaceEmbedder],
    protected: torch.Tensor,
    anchors: Sequence[torch.Tensor] | AnchorEmbeddings,
    *,
    trace: CostTrace | None = None,
    backward: bool = True,
) -> PairwiseLoss:
    """Mean cosine similarity between ``protected`` (B, 3, H, W) generation crops and the anchors, over models.

    ``anchors`` may be raw crops or the output of `encode_anchors` (preferred inside optimisation loops).
    ``backward`` only tells the cost trace whether the caller will back-propagate through this call.
    """
    if not embedders:
        raise ValueError("`embedders` must hold at least one FaceEmbedder")
    anchor_emb = anchors if isinstance(anchors, Mapping) else encode_anchors(embedders, anchors, trace)
    terms, per_model = [], {}
    for model in embedders:
        emb = model(protected)
        if trace is not None:
            trace.add(f"fr:{model.name}", backward=backward)
        cos = emb @ anchor_emb[model.name].to(emb).T  # (B, K)
        term = cos.mean()
        terms.append(term)
        per_model[model.name] = float(term.detach())
    return PairwiseLoss(loss=torch.stack(terms).mean(), per_model=per_model)
