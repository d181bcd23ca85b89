"""MobileFaceNet (Chen et al. 2018) in the InsightFace_Pytorch (TreB1eN) layout, 512-D (``mobile_face.pth``).

Key names follow that layout: ``conv1``, ``conv2_dw``, ``conv_23``, ``conv_3.model.<i>``, ``conv_34``,
``conv_4.model.<i>``, ``conv_45``, ``conv_5.model.<i>``, ``conv_6_sep``, ``conv_6_dw``, ``linear``, ``bn``; each
conv block holds ``conv``/``bn``[/``prelu``] and each depthwise unit ``conv``/``conv_dw``/``project``.
Input: 112x112 RGB in [-1, 1].
"""

from __future__ import annotations

import torch
from torch import nn


class ConvBlock(nn.Module):
    """conv (no bias) -> BN [-> PReLU]; without the PReLU it is the "linear" block of the paper."""

    def __init__(self, in_c: int, out_c: int, kernel: int = 1, stride: int = 1, padding: int = 0, groups: int = 1,
                 act: bool = True):
        super().__init__()
        self.conv = nn.Conv2d(in_c, out_c, kernel, stride, padding, groups=groups, bias=False)
        self.bn = nn.BatchNorm2d(out_c)
        if act:
            self.prelu = nn.PReLU(out_c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.bn(self.conv(x))
        return self.prelu(x) if hasattr(self, "prelu") else x


class DepthWise(nn.Module):
    """Inverted bottleneck: 1x1 expand to ``hidden`` -> 3x3 depthwise (stride) -> 1x1 linear projection."""

    def __init__(self, in_c: int, out_c: int, hidden: int, stride: int, residual: bool):
        super().__init__()
        self.conv = ConvBlock(in_c, hidden)
        self.conv_dw = ConvBlock(hidden, hidden, 3, stride, 1, groups=hidden)
        self.project = ConvBlock(hidden, out_c, act=False)
        self.residual = residual

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.project(self.conv_dw(self.conv(x)))
        return x + y if self.residual else y


class Residual(nn.Module):
    def __init__(self, channels: int, num_block: int, hidden: int):
        super().__init__()
        self.model = nn.Sequential(*(DepthWise(channels, channels, hidden, 1, True) for _ in range(num_block)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class MobileFaceNet(nn.Module):
    def __init__(self, embedding_dim: int = 512):
        super().__init__()
        self.conv1 = ConvBlock(3, 64, 3, 2, 1)
        self.conv2_dw = ConvBlock(64, 64, 3, 1, 1, groups=64)
        self.conv_23 = DepthWise(64, 64, 128, 2, False)
        self.conv_3 = Residual(64, 4, 128)
        self.conv_34 = DepthWise(64, 128, 256, 2, False)
        self.conv_4 = Residual(128, 6, 256)
        self.conv_45 = DepthWise(128, 128, 512, 2, False)
        self.conv_5 = Residual(128, 2, 256)
        self.conv_6_sep = ConvBlock(128, 512)
        self.conv_6_dw = ConvBlock(512, 512, 7, 1, 0, groups=512, act=False)  # global depthwise conv, 7x7 -> 1x1
        self.linear = nn.Linear(512, embedding_dim, bias=False)
        self.bn = nn.BatchNorm1d(embedding_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv_3(self.conv_23(self.conv2_dw(self.conv1(x))))
        x = self.conv_5(self.conv_45(self.conv_4(self.conv_34(x))))
        x = self.conv_6_dw(self.conv_6_sep(x))
        return self.bn(self.linear(x.flatten(1)))
