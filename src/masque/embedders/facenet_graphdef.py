"""David Sandberg's FaceNet frozen GraphDefs (e.g. 20180408-102900, CASIA-WebFace) loaded into `InceptionResnetV1`.

Sandberg's ``freeze_graph`` folded every conv BatchNorm into the conv: a conv is ``Conv2D`` + ``BiasAdd`` of
``<scope>/Conv2D_bn_offset`` (the BN scale is inside the weights). Our architecture keeps facenet-pytorch's
``BasicConv2d`` (conv without bias + BN), so a folded conv loads with an identity BN: gamma 1, beta = the offset,
mean 0, variance ``1 - eps`` (then ``sqrt(var + eps) = 1`` exactly). The block convs keep their ``biases``, the
bottleneck is ``MatMul`` + a real BatchNorm (``last_linear`` / ``last_bn``), and the residual scales (0.17 / 0.10 /
0.20 / 1.0) are checked against the graph's ``mul/x`` constants. TF kernels are HWIO, torch's OIHW.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import torch

from ..checkpoints import assign_state_strict
from ..errors import WeightsError
from .facenet import BN_EPS, InceptionResnetV1
from .formats.graphdef_format import read_graphdef
from .weights import ConvertsWeights, WeightsFormat

ROOT = "InceptionResnetV1"
# TF scope (after ROOT) -> our module prefix, for the stem (the Keras port uses the same layer names).
STEM_SCOPES = {"Conv2d_1a_3x3": "conv2d_1a", "Conv2d_2a_3x3": "conv2d_2a", "Conv2d_2b_3x3": "conv2d_2b",
         "Conv2d_3b_1x1": "conv2d_3b", "Conv2d_4a_3x3": "conv2d_4a", "Conv2d_4b_3x3": "conv2d_4b"}
_REPEATS = {"Repeat": ("repeat_1", "block35"), "Repeat_1": ("repeat_2", "block17"), "Repeat_2": ("repeat_3", "block8")}


class SandbergFaceNet(ConvertsWeights, InceptionResnetV1):
    """Inception-ResNet-v1 without the classification head; loads Sandberg's frozen ``.pb`` or a state dict."""

    weights_format = WeightsFormat(".pb", code=("masque.embedders.formats.graphdef_format",))

    def __init__(self, embedding_dim: int = 512):
        super().__init__(embedding_dim, num_classes=0)

    def read_weights(self, path: Path) -> None:
        """Sandberg's frozen GraphDef ``.pb``."""
        assign_state_strict(self, graphdef_state_dict(path, self), name="facenet-casia", source=path)


def _module_prefix(scope: str) -> str:
    """``Repeat_1/block17_3`` -> ``repeat_2.2``; ``Mixed_6a`` -> ``mixed_6a``; ``Block8`` -> ``block8``."""
    head, _, rest = scope.partition("/")
    if head in STEM_SCOPES:
        return STEM_SCOPES[head]
    if head in _REPEATS:
        ours, block = _REPEATS[head]
        index = int(re.fullmatch(rf"{block}_(\d+)", rest.split("/")[0]).group(1)) - 1
        return f"{ours}.{index}"
    return head.lower()


def graphdef_state_dict(path: Path, module: InceptionResnetV1) -> dict[str, torch.Tensor]:
    """Read ``path`` and return a strict state dict for ``module`` (see the module docstring for the mapping)."""
    consts = {n.name.removeprefix(ROOT + "/"): n.attrs.get("value") for n in read_graphdef(path) if n.op == "Const"}
    state: dict[str, np.ndarray] = {}
    # 1. every conv: a scope ending in Conv2d_* with weights; inside a block, the k-th conv of Branch_j.
    convs = sorted(k.removesuffix("/weights") for k in consts if k.endswith("/weights") and "Bottleneck" not in k)
    by_branch: dict[str, list[str]] = {}
    for scope in convs:
        m = re.fullmatch(r"(.+)/Branch_(\d+)/(Conv2d_\w+)", scope)
        if m:
            by_branch.setdefault(f"{m.group(1)}/{m.group(2)}", []).append(scope)
    for scope in convs:
        w = consts[scope + "/weights"].transpose(3, 2, 0, 1)
        m = re.fullmatch(r"(.+)/Branch_(\d+)/(Conv2d_\w+)", scope)
        if m:  # a BasicConv2d inside a branch (a lone conv, or the k-th of a Sequential)
            siblings = by_branch[f"{m.group(1)}/{m.group(2)}"]
            prefix = f"{_module_prefix(m.group(1))}.branch{m.group(2)}"
            if len(siblings) > 1:
                prefix += f".{siblings.index(scope)}"
        elif scope in STEM_SCOPES:
            prefix = STEM_SCOPES[scope]
        else:  # the block's own 1x1 conv with a real bias (``conv2d``)
            prefix = _module_prefix(scope.removesuffix("/Conv2d_1x1")) + ".conv2d"
            state[prefix + ".weight"], state[prefix + ".bias"] = w, consts[scope + "/biases"]
            continue
        offset = consts[scope + "/Conv2D_bn_offset"]
        state[prefix + ".conv.weight"] = w
        state.update({prefix + ".bn.weight": np.ones_like(offset), prefix + ".bn.bias": offset,
                      prefix + ".bn.running_mean": np.zeros_like(offset),
                      prefix + ".bn.running_var": np.full_like(offset, 1.0 - BN_EPS)})
    # 2. the bottleneck and its BatchNorm (scale is the `Const` input of FusedBatchNorm).
    state["last_linear.weight"] = consts["Bottleneck/weights"].T
    bn = "Bottleneck/BatchNorm/"
    state.update({"last_bn.weight": consts[bn + "Const"], "last_bn.bias": consts[bn + "beta"],
                  "last_bn.running_mean": consts[bn + "moving_mean"],
                  "last_bn.running_var": consts[bn + "moving_variance"]})
    # 3. residual scales are architecture constants: check the graph agrees.
    for key, value in consts.items():
        m = re.fullmatch(r"(.+)/mul/x", key)
        if m:
            block = module.get_submodule(_module_prefix(m.group(1)))
            if abs(float(value) - block.scale) > 1e-6:
                raise WeightsError(f"{str(path)!r}: {key} = {float(value)}, the port's block scale is {block.scale}.")
    out = {}
    for key, ref in module.state_dict().items():
        if key.endswith("num_batches_tracked"):
            out[key] = ref
            continue
        if key not in state:
            raise WeightsError(f"{str(path)!r} is not a FaceNet Inception-ResNet-v1 graph: nothing maps to {key!r}.")
        value = torch.from_numpy(np.ascontiguousarray(state.pop(key), dtype=np.float32))
        if value.shape != ref.shape:
            raise WeightsError(f"{str(path)!r}: {key} has shape {tuple(value.shape)}, expected {tuple(ref.shape)}.")
        out[key] = value
    if state:
        raise WeightsError(f"{str(path)!r}: graph weights with no place in the port: {sorted(state)[:3]}.")
    return out
