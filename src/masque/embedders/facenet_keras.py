"""FaceNet in Keras HDF5 (nyoki-mtl/keras-facenet: David Sandberg's MS-Celeb-1M model converted to Keras; by its
128-D embedding, his 20170512-110547 release) loaded into `InceptionResnetV1`.

The Keras graph is the same Inception-ResNet-v1 as facenet-pytorch's (checked layer by layer: kernel sizes, strides,
``valid``/``same`` padding equal to our symmetric padding, branch wiring), with TF-slim scope names flattened by
``_``: ``Block17_3_Branch_1_Conv2d_0b_1x7`` is ``repeat_2.2.branch1.1``. Every conv except the blocks' own 1x1 is
bias-free and followed by ``<conv>_BatchNorm`` with ``scale=False`` (gamma 1) and epsilon 1e-3 (our ``BN_EPS``; both
read from the file's config and checked). Residual scales are ``Lambda`` arguments (0.17 / 0.1 / 0.2 / 1.0), checked
against the port; the last block has no ReLU (no ``Block8_6_Activation``), as ours. The embedding is
``Bottleneck`` (Dense 1792 -> 128, no bias) + ``Bottleneck_BatchNorm``. Keras kernels are HWIO, torch's OIHW.

The original project feeds per-image standardised pixels (Sandberg's ``prewhiten``: ``(x - mean) / max(std,
1/sqrt(n))`` over the whole image); with ``standardise=True`` the backbone does that itself, so it takes plain pixels.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import torch

from ..checkpoints import assign_state_strict
from ..errors import WeightsError
from .facenet import BN_EPS, InceptionResnetV1
from .facenet_graphdef import STEM_SCOPES
from .formats.keras_h5 import KerasLayer, read_keras_h5
from .weights import ConvertsWeights, WeightsFormat

_BLOCKS = {"Block35": "repeat_1", "Block17": "repeat_2", "Block8": "repeat_3"}
_LAST_BLOCK8 = 6  # Block8_6 is our `block8` (scale 1, no ReLU); Block8_1..5 form `repeat_3`


def prewhiten(x: torch.Tensor) -> torch.Tensor:
    """Per-image standardisation of a batch (B, C, H, W), as Sandberg's ``facenet.prewhiten``."""
    n = x[0].numel()
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    std = x.std(dim=(1, 2, 3), keepdim=True, correction=0).clamp_min(1.0 / math.sqrt(n))
    return (x - mean) / std


class KerasFaceNet(ConvertsWeights, InceptionResnetV1):
    """Inception-ResNet-v1, 128-D, no classification head; loads the Keras ``.h5`` or a state dict."""

    weights_format = WeightsFormat(".h5", code=("masque.embedders.formats.keras_h5",
                                                "masque.embedders.facenet_graphdef"))  # its scope table

    def __init__(self, embedding_dim: int = 128, standardise: bool = True):
        super().__init__(embedding_dim, num_classes=0)
        self.standardise = standardise

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(prewhiten(x) if self.standardise else x)

    def read_weights(self, path: Path) -> None:
        """The Keras ``.h5`` (HDF5 weights of the Keras FaceNet port)."""
        assign_state_strict(self, keras_state_dict(path, self), name="facenet-keras", source=path)


def module_prefix(layer: str) -> str | None:
    """Keras layer name -> our module prefix (``None`` for layers without weights of their own in the port).

    ``Block35_2_Branch_1_Conv2d_0b_3x3`` -> ``repeat_1.1.branch1.<k>`` (``<k>`` resolved by the caller),
    ``Mixed_6a_Branch_0_Conv2d_1a_3x3`` -> ``mixed_6a.branch0``, ``Block8_6_Conv2d_1x1`` -> ``block8.conv2d``.
    """
    if layer in STEM_SCOPES:
        return STEM_SCOPES[layer]
    m = re.fullmatch(r"(Block35|Block17|Block8)_(\d+)_(.+)|(Mixed_6a|Mixed_7a)_(.+)", layer)
    if not m:
        return None
    if m.group(4):
        block, rest = m.group(4).lower(), m.group(5)
    elif m.group(1) == "Block8" and int(m.group(2)) == _LAST_BLOCK8:
        block, rest = "block8", m.group(3)
    else:
        block, rest = f"{_BLOCKS[m.group(1)]}.{int(m.group(2)) - 1}", m.group(3)
    if rest == "Conv2d_1x1":
        return f"{block}.conv2d"
    b = re.fullmatch(r"Branch_(\d+)_Conv2d_\w+", rest)
    return f"{block}.branch{b.group(1)}" if b else None


def _check_config(path: Path, layers: list[KerasLayer], module: InceptionResnetV1) -> None:
    """Residual scales, the last block's missing ReLU and every BatchNorm's epsilon agree with the port."""
    names = {layer.name for layer in layers}
    for layer in layers:
        m = re.fullmatch(r"(Block\d+_\d+)_ScaleSum", layer.name)
        if m:
            block = module.get_submodule(module_prefix(m.group(1) + "_Conv2d_1x1").removesuffix(".conv2d"))
            scale = float(layer.config["arguments"]["scale"])
            if abs(scale - block.scale) > 1e-6:
                raise WeightsError(f"{str(path)!r}: {layer.name} scale {scale}, the port's is {block.scale}.")
            if (m.group(1) + "_Activation" in names) != hasattr(block, "relu"):
                raise WeightsError(f"{str(path)!r}: {m.group(1)}'s final ReLU does not match the port.")
        if layer.class_name == "BatchNormalization" and abs(float(layer.config["epsilon"]) - BN_EPS) > 1e-9:
            eps = layer.config["epsilon"]
            raise WeightsError(f"{str(path)!r}: {layer.name} epsilon {eps}, the port's is {BN_EPS}.")


def _batchnorm(prefix: str, weights: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Keras BatchNormalization -> torch: no gamma (``scale=False``) means 1, no beta (``center=False``) 0."""
    mean = weights["moving_mean"]
    return {f"{prefix}.weight": weights.get("gamma", np.ones_like(mean)),
            f"{prefix}.bias": weights.get("beta", np.zeros_like(mean)),
            f"{prefix}.running_mean": mean, f"{prefix}.running_var": weights["moving_variance"]}


def keras_state_dict(path: Path, module: InceptionResnetV1) -> dict[str, torch.Tensor]:
    """Read ``path`` and return the state dict for ``module`` (see the module docstring for the mapping); keys and
    shapes are checked strictly by the caller (`checkpoints.assign_state_strict`)."""
    layers = read_keras_h5(path)
    _check_config(path, layers, module)
    convs = sorted(layer.name for layer in layers if layer.class_name == "Conv2D")
    # a branch's convs in order (0a < 0b < 0c < 1a): the k-th is `<branch>.<k>` when the branch has several
    siblings: dict[str, list[str]] = {}
    for name in convs:
        siblings.setdefault(module_prefix(name) or name, []).append(name)
    conv_prefix = {}
    for name in convs:
        prefix = module_prefix(name)
        if prefix is None:
            raise WeightsError(f"{str(path)!r} is not a FaceNet Inception-ResNet-v1 model: unknown conv {name!r}.")
        group = siblings[prefix]
        conv_prefix[name] = f"{prefix}.{group.index(name)}" if len(group) > 1 else prefix
    state: dict[str, np.ndarray] = {}
    for layer in layers:
        w = layer.weights
        if layer.class_name == "Conv2D":
            prefix = conv_prefix[layer.name]
            kernel = w["kernel"].transpose(3, 2, 0, 1)
            if "bias" in w:  # the block's own 1x1 conv
                state[f"{prefix}.weight"], state[f"{prefix}.bias"] = kernel, w["bias"]
            else:
                state[f"{prefix}.conv.weight"] = kernel
        elif layer.class_name == "BatchNormalization" and layer.name == "Bottleneck_BatchNorm":
            state.update(_batchnorm("last_bn", w))
        elif layer.class_name == "BatchNormalization":
            conv = layer.name.removesuffix("_BatchNorm")
            if conv not in conv_prefix:
                raise WeightsError(f"{str(path)!r}: BatchNorm {layer.name!r} follows no known conv.")
            state.update(_batchnorm(conv_prefix[conv] + ".bn", w))
        elif layer.class_name == "Dense":
            state["last_linear.weight"] = w["kernel"].T
        elif w:
            raise WeightsError(f"{str(path)!r}: weights of layer {layer.name!r} ({layer.class_name}) have no place "
                               "in the port.")
    return {k: torch.from_numpy(np.ascontiguousarray(v, dtype=np.float32)) for k, v in state.items()}
