"""A tiny random-weight embedder for tests and benchmarks (like timm's ``test_*`` models).

It satisfies the `FaceEmbedder` contract (differentiable, L2-normalised output) but recognises nobody.
"""

from __future__ import annotations

import torch
from torch import nn

from ..faces.templates import ARCFACE_112
from .base import EmbedderSpec
from .registry import register_embedder

TINY_SPEC = EmbedderSpec(
    name="tiny-random",
    template=ARCFACE_112.resized(32),
    embedding_dim=32,
    thresholds={"far0.1": 0.5, "far0.01": 0.6, "far0.001": 0.7},
    source="random weights, seeded; for tests and benchmarks only",
    description="Random 3-layer CNN; not a face recogniser.",
)


def build_tiny(spec: EmbedderSpec, seed: int = 0) -> nn.Module:
    g = torch.Generator().manual_seed(seed)
    net = nn.Sequential(
        nn.Conv2d(3, 16, 3, stride=2, padding=1), nn.GELU(),
        nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.GELU(),
        nn.Conv2d(32, spec.embedding_dim, 3, stride=2, padding=1),
        nn.AdaptiveAvgPool2d(1),
    )
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * (0.3 if p.ndim > 1 else 0.05))
    return net


register_embedder(TINY_SPEC, default_weights=lambda spec: None)(build_tiny)
