"""timm-style registry: `register_embedder` fills it, `create_embedder` is the one factory."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from ..errors import InputError, WeightsError
from ..paths import default_weight_path
from .base import EmbedderSpec, FaceEmbedder
from .weights import load_weights

Builder = Callable[[EmbedderSpec], nn.Module]
_BUILDERS: dict[str, Builder] = {}
_SPECS: dict[str, EmbedderSpec] = {}
# Resolves the default weights of a spec (for example from $MASQUE_HOME); replaceable by the weight store.
_DEFAULT_WEIGHTS: dict[str, Callable[[EmbedderSpec], Path]] = {}
TEST_ONLY = ("tiny-random",)  # registered for tests/benchmarks; used only when named explicitly


def register_embedder(spec: EmbedderSpec, *, default_weights: Callable[[EmbedderSpec], Path] | None = None):
    """Decorator registering ``builder(spec) -> backbone`` under ``spec.name``."""

    def deco(builder: Builder) -> Builder:
        if spec.name in _BUILDERS:
            raise ValueError(f"embedder {spec.name!r} is registered twice")
        _BUILDERS[spec.name] = builder
        _SPECS[spec.name] = spec
        if default_weights is not None:
            _DEFAULT_WEIGHTS[spec.name] = default_weights
        return builder

    return deco


def list_embedders() -> list[str]:
    return sorted(_BUILDERS)


def get_spec(name: str) -> EmbedderSpec:
    if name not in _SPECS:
        raise InputError(f"`embedder` must be one of {list_embedders()}, got {name!r}.")
    return _SPECS[name]


def default_weights(name: str) -> Path | None:
    """The file ``create_embedder(name)`` loads by default (``None`` for random test models); raises `WeightsError`
    naming the expected location when it is missing."""
    spec = get_spec(name)
    resolver = _DEFAULT_WEIGHTS.get(name)
    if resolver is None:
        return default_weight_path(spec)
    path = resolver(spec)
    return None if path is None else Path(path)


def present_embedders() -> list[str]:
    """Registered models (test-only ones excluded) whose default weights are on disk: a file check, so no
    architecture is built for a model that could not be loaded anyway."""
    names = []
    for name in list_embedders():
        if name in TEST_ONLY:
            continue
        try:
            default_weights(name)
        except WeightsError:
            continue
        names.append(name)
    return names


def create_embedder(name: str, weights: str | Path | None = "default", *, device: str = "cpu") -> FaceEmbedder:
    """Build a registered embedder.

    ``weights="default"`` loads the model's standard weights (error naming the file when absent), a path loads that
    checkpoint strictly, ``None`` leaves the random initialisation (architecture tests only).
    The model is returned in eval mode with gradients disabled on its parameters (it is a fixed judge).
    """
    spec = get_spec(name)
    backbone = _BUILDERS[name](spec)
    if weights == "default":
        weights = default_weights(name)
    if weights is not None:
        load_weights(backbone, weights, name)
    # channels-last convolution weights: fwd+bwd 25 % faster for FaceNet and MobileFace, 15 % for dlib, the same for
    # the others on 2 CPU cores (`benchmarks/bench_fr_cost.py --layout ...`); outputs agree to float rounding
    model = FaceEmbedder(spec, backbone).eval().to(device, memory_format=torch.channels_last)
    model.requires_grad_(False)
    return model
