"""OpenCV Zoo's SFace recogniser (``face_recognition_sface_2021dec``) as a PyTorch module.

The network is a MobileNet-v1-style stack (Zhong et al., "SFace: Sigmoid-Constrained Hypersphere Loss", 2021):
a 3x3 conv, thirteen depthwise-3x3 / pointwise-1x1 pairs, each conv followed by BatchNorm and PReLU, then BatchNorm,
a 50176 -> 128 linear layer and a final BatchNorm. Module and key names follow the ONNX graph's node names
(``conv_2_dw``, ``conv_2``, ..., ``bn1``, ``pre_fc1``, ``fc1``), so weights map one to one.

Input: 112x112 RGB in [0, 255], ArcFace five-point alignment; the graph itself computes ``(x - 127.5) / 128``.
Output: the 128-D ``fc1`` features (L2-normalised by `FaceEmbedder`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..checkpoints import assign_state_strict
from ..errors import WeightsError
from .formats.onnx_format import read_onnx
from .weights import ConvertsWeights, WeightsFormat

BN_EPS = 1e-3  # the convolution BatchNorms' epsilon in the graph
HEAD_BN_EPS = 2e-5  # bn1 and fc1
# (name, out channels, stride, depthwise) in forward order; in channels follow from the previous layer.
LAYERS: tuple[tuple[str, int, int, bool], ...] = (
    ("conv_1", 32, 1, False),
    ("conv_2_dw", 32, 1, True), ("conv_2", 64, 1, False),
    ("conv_3_dw", 64, 2, True), ("conv_3", 128, 1, False),
    ("conv_4_dw", 128, 1, True), ("conv_4", 128, 1, False),
    ("conv_5_dw", 128, 2, True), ("conv_5", 256, 1, False),
    ("conv_6_dw", 256, 1, True), ("conv_6", 256, 1, False),
    ("conv_7_dw", 256, 2, True), ("conv_7", 512, 1, False),
    *[(f"conv_{i}{s}", 512, 1, s == "_dw") for i in range(8, 13) for s in ("_dw", "")],
    ("conv_13_dw", 512, 2, True), ("conv_13", 1024, 1, False),
    ("conv_14_dw", 1024, 1, True), ("conv_14", 1024, 1, False),
)
FINAL_GRID = 7  # 112 / 2**4


class ConvBNPReLU(nn.Module):
    def __init__(self, in_c: int, out_c: int, stride: int, depthwise: bool):
        super().__init__()
        kernel = 3 if depthwise or in_c == 3 else 1
        self.conv = nn.Conv2d(in_c, out_c, kernel, stride, kernel // 2, groups=in_c if depthwise else 1, bias=False)
        self.bn = nn.BatchNorm2d(out_c, eps=BN_EPS)
        self.prelu = nn.PReLU(out_c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.prelu(self.bn(self.conv(x)))


class SFaceNet(ConvertsWeights, nn.Module):
    """SFace backbone; ``forward`` takes RGB in [0, 255] like the ONNX graph."""

    weights_format = WeightsFormat(".onnx", code=("masque.embedders.formats.onnx_format",))

    def __init__(self, embedding_dim: int = 128):
        super().__init__()
        self.layers = nn.ModuleDict()
        channels = 3
        for name, out_c, stride, depthwise in LAYERS:
            self.layers[name] = ConvBNPReLU(channels, out_c, stride, depthwise)
            channels = out_c
        self.bn1 = nn.BatchNorm2d(channels, eps=HEAD_BN_EPS)
        self.pre_fc1 = nn.Linear(channels * FINAL_GRID**2, embedding_dim)
        self.fc1 = nn.BatchNorm1d(embedding_dim, eps=HEAD_BN_EPS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = (x - 127.5) * 0.0078125  # the graph's own Sub/Mul nodes
        for layer in self.layers.values():
            x = layer(x)
        return self.fc1(self.pre_fc1(self.bn1(x).flatten(1)))  # the graph's Dropout is the identity at inference

    # ---- weights ------------------------------------------------------------------------------------------------

    def read_weights(self, path: Path) -> None:
        """OpenCV Zoo's ``.onnx``: int8 block-quantised weights folded to float."""
        assign_state_strict(self, onnx_state_dict(path, self), name="sface", source=path)


def onnx_state_dict(path: Path, module: SFaceNet) -> dict[str, torch.Tensor]:
    """Map the ONNX graph's folded constants onto ``module``'s keys, checking each conv's stride and groups."""
    graph = read_onnx(path)
    c = graph.constants
    convs = {outs[0].removesuffix("_conv2d"): attrs for op, _, outs, attrs in graph.nodes if op == "Conv"}
    state: dict[str, np.ndarray] = {}

    def bn(prefix: str, onnx_prefix: str) -> None:
        for ours, theirs in (("weight", "gamma"), ("bias", "beta"), ("running_mean", "moving_mean"),
                             ("running_var", "moving_var")):
            state[f"{prefix}.{ours}"] = c[f"{onnx_prefix}_{theirs}"]

    try:
        for name, layer in module.layers.items():
            conv = convs[name]
            got, want = (conv["strides"][0], conv["group"]), (layer.conv.stride[0], layer.conv.groups)
            if got != want:
                raise WeightsError(f"{str(path)!r}: layer {name} stride/groups {got}, the SFace port expects {want}.")
            state[f"layers.{name}.conv.weight"] = c[f"{name}_conv2d_weight_reshaped"]
            bn(f"layers.{name}.bn", f"{name}_batchnorm")
            state[f"layers.{name}.prelu.weight"] = c[f"{name}_relu_gamma"].reshape(-1)
        bn("bn1", "bn1")
        state["pre_fc1.weight"] = c["pre_fc1_weight_dequantized"]
        state["pre_fc1.bias"] = c["pre_fc1_bias_dequantized"]
        bn("fc1", "fc1")
    except KeyError as exc:
        raise WeightsError(f"{str(path)!r} is not OpenCV Zoo's SFace graph: it has no {exc.args[0]!r}.") from exc
    own = module.state_dict()
    out = {}
    for key, ref in own.items():
        if key.endswith("num_batches_tracked"):
            out[key] = ref
            continue
        value = torch.from_numpy(np.ascontiguousarray(state[key], dtype=np.float32))
        if value.shape != ref.shape:
            raise WeightsError(f"{str(path)!r}: {key} has shape {tuple(value.shape)}, expected {tuple(ref.shape)}.")
        out[key] = value
    return out
