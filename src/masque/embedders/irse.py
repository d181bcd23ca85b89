"""IR / IR-SE ResNets of the InsightFace_Pytorch (TreB1eN) and face.evoLVe layout: IR-152 and IR-SE-50.

Module names reproduce that layout so the checkpoints used across the anti-FR literature (``ir152.pth``,
``irse50.pth`` of AMT-GAN / CLIP2Protect / DiffAM) load with strict keys:
``input_layer.{0 conv, 1 bn, 2 prelu}``, ``body.<i>.shortcut_layer.{0 conv, 1 bn}`` (only when the unit changes
width), ``body.<i>.res_layer.{0 bn, 1 conv, 2 prelu, 3 conv, 4 bn[, 5 se.fc1/fc2]}``,
``output_layer.{0 bn2d, 3 linear, 4 bn1d}``. Input: 112x112 RGB in [-1, 1]; output: the 512-D pre-normalisation
embedding (the `FaceEmbedder` L2-normalises).
"""

from __future__ import annotations

import torch
from torch import nn

# Units per stage (output widths 64, 128, 256, 512; the first unit of each stage has stride 2).
STAGE_UNITS = {50: (3, 4, 14, 3), 100: (3, 13, 30, 3), 152: (3, 8, 36, 3)}
STAGE_WIDTHS = (64, 128, 256, 512)
SE_REDUCTION = 16


class SqueezeExcite(nn.Module):
    """Channel gating: x * sigmoid(fc2(relu(fc1(avgpool(x))))) with 1x1 convolutions (keys fc1, fc2)."""

    def __init__(self, channels: int, reduction: int = SE_REDUCTION):
        super().__init__()
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(channels, channels // reduction, 1, bias=False)
        self.relu = nn.ReLU()
        self.fc2 = nn.Conv2d(channels // reduction, channels, 1, bias=False)
        self.sigmoid = nn.Sigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.sigmoid(self.fc2(self.relu(self.fc1(self.avg_pool(x)))))


class IRUnit(nn.Module):
    """Improved-residual unit: BN-conv-PReLU-conv(stride)-BN[-SE] plus a (projected or subsampled) shortcut."""

    def __init__(self, in_ch: int, out_ch: int, stride: int, se: bool):
        super().__init__()
        if in_ch == out_ch:
            self.shortcut_layer = nn.MaxPool2d(1, stride)  # identity, subsampled when stride 2
        else:
            self.shortcut_layer = nn.Sequential(nn.Conv2d(in_ch, out_ch, 1, stride, bias=False),
                                                nn.BatchNorm2d(out_ch))
        layers = [nn.BatchNorm2d(in_ch), nn.Conv2d(in_ch, out_ch, 3, 1, 1, bias=False), nn.PReLU(out_ch),
                  nn.Conv2d(out_ch, out_ch, 3, stride, 1, bias=False), nn.BatchNorm2d(out_ch)]
        if se:
            layers.append(SqueezeExcite(out_ch))
        self.res_layer = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.res_layer(x) + self.shortcut_layer(x)


class IRBackbone(nn.Module):
    """IR-``depth`` (``se=False``) or IR-SE-``depth`` backbone for 112x112 inputs."""

    def __init__(self, depth: int, se: bool, embedding_dim: int = 512, input_size: int = 112, dropout: float = 0.0):
        super().__init__()
        if depth not in STAGE_UNITS:
            raise ValueError(f"`depth` must be one of {sorted(STAGE_UNITS)}, got {depth}")
        self.input_layer = nn.Sequential(nn.Conv2d(3, 64, 3, 1, 1, bias=False), nn.BatchNorm2d(64), nn.PReLU(64))
        units, in_ch = [], 64
        for n_units, width in zip(STAGE_UNITS[depth], STAGE_WIDTHS, strict=True):
            for i in range(n_units):
                units.append(IRUnit(in_ch, width, 2 if i == 0 else 1, se))
                in_ch = width
        self.body = nn.Sequential(*units)
        side = input_size // 2 ** len(STAGE_WIDTHS)  # 112 -> 7
        self.output_layer = nn.Sequential(nn.BatchNorm2d(512), nn.Dropout(dropout), nn.Flatten(),
                                          nn.Linear(512 * side * side, embedding_dim), nn.BatchNorm1d(embedding_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.output_layer(self.body(self.input_layer(x)))
