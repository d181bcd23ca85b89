"""FaceNet's Inception-ResNet-v1 in the facenet-pytorch layout (``facenet.pth``: VGGFace2, 8631-class head).

Key names follow facenet-pytorch: ``conv2d_1a`` ... ``conv2d_4b``, ``repeat_1`` (5x Block35), ``mixed_6a``,
``repeat_2`` (10x Block17), ``mixed_7a``, ``repeat_3`` (5x Block8), ``block8``, ``last_linear``, ``last_bn`` and the
classification head ``logits``, which is kept so the checkpoint loads strictly but never used (we only embed;
``num_classes=0`` leaves it out, for checkpoints without one).
Input: 160x160 RGB in [-1, 1]; output: the 512-D ``last_bn`` features.
"""

from __future__ import annotations

import torch
from torch import nn

BN_EPS = 1e-3  # TensorFlow's value, kept by the converted weights
VGGFACE2_CLASSES = 8631


class BasicConv2d(nn.Module):
    def __init__(self, in_c: int, out_c: int, kernel, stride: int = 1, padding=0):
        super().__init__()
        self.conv = nn.Conv2d(in_c, out_c, kernel, stride, padding, bias=False)
        self.bn = nn.BatchNorm2d(out_c, eps=BN_EPS)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.bn(self.conv(x)))


class _ResidualInception(nn.Module):
    """x + scale * conv2d(concat(branches(x))), then ReLU (unless ``relu=False``)."""

    def __init__(self, channels: int, branches: list[nn.Module], mixed: int, scale: float, relu: bool = True):
        super().__init__()
        self.scale = scale
        for i, branch in enumerate(branches):
            self.add_module(f"branch{i}", branch)
        self.n_branches = len(branches)
        self.conv2d = nn.Conv2d(mixed, channels, 1)
        if relu:
            self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.cat([getattr(self, f"branch{i}")(x) for i in range(self.n_branches)], dim=1)
        out = self.conv2d(out) * self.scale + x
        return self.relu(out) if hasattr(self, "relu") else out


def block35(scale: float) -> nn.Module:  # 35x35 grid (here 17x17), 256 channels
    return _ResidualInception(256, [
        BasicConv2d(256, 32, 1),
        nn.Sequential(BasicConv2d(256, 32, 1), BasicConv2d(32, 32, 3, 1, 1)),
        nn.Sequential(BasicConv2d(256, 32, 1), BasicConv2d(32, 32, 3, 1, 1), BasicConv2d(32, 32, 3, 1, 1)),
    ], 96, scale)


def block17(scale: float) -> nn.Module:  # 896 channels
    return _ResidualInception(896, [
        BasicConv2d(896, 128, 1),
        nn.Sequential(BasicConv2d(896, 128, 1), BasicConv2d(128, 128, (1, 7), 1, (0, 3)),
                      BasicConv2d(128, 128, (7, 1), 1, (3, 0))),
    ], 256, scale)


def block8(scale: float, relu: bool = True) -> nn.Module:  # 1792 channels
    return _ResidualInception(1792, [
        BasicConv2d(1792, 192, 1),
        nn.Sequential(BasicConv2d(1792, 192, 1), BasicConv2d(192, 192, (1, 3), 1, (0, 1)),
                      BasicConv2d(192, 192, (3, 1), 1, (1, 0))),
    ], 384, scale, relu)


class _Concat(nn.Module):
    """Reduction block: concatenation of its branches (keys branch0..branchN)."""

    def __init__(self, branches: list[nn.Module]):
        super().__init__()
        for i, branch in enumerate(branches):
            self.add_module(f"branch{i}", branch)
        self.n_branches = len(branches)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([getattr(self, f"branch{i}")(x) for i in range(self.n_branches)], dim=1)


def mixed_6a() -> nn.Module:  # 256 -> 896 channels, stride 2
    return _Concat([
        BasicConv2d(256, 384, 3, 2),
        nn.Sequential(BasicConv2d(256, 192, 1), BasicConv2d(192, 192, 3, 1, 1), BasicConv2d(192, 256, 3, 2)),
        nn.MaxPool2d(3, 2),
    ])


def mixed_7a() -> nn.Module:  # 896 -> 1792 channels, stride 2
    return _Concat([
        nn.Sequential(BasicConv2d(896, 256, 1), BasicConv2d(256, 384, 3, 2)),
        nn.Sequential(BasicConv2d(896, 256, 1), BasicConv2d(256, 256, 3, 2)),
        nn.Sequential(BasicConv2d(896, 256, 1), BasicConv2d(256, 256, 3, 1, 1), BasicConv2d(256, 256, 3, 2)),
        nn.MaxPool2d(3, 2),
    ])


class InceptionResnetV1(nn.Module):
    def __init__(self, embedding_dim: int = 512, num_classes: int = VGGFACE2_CLASSES, dropout: float = 0.6):
        super().__init__()
        self.conv2d_1a = BasicConv2d(3, 32, 3, 2)
        self.conv2d_2a = BasicConv2d(32, 32, 3, 1)
        self.conv2d_2b = BasicConv2d(32, 64, 3, 1, 1)
        self.maxpool_3a = nn.MaxPool2d(3, 2)
        self.conv2d_3b = BasicConv2d(64, 80, 1)
        self.conv2d_4a = BasicConv2d(80, 192, 3, 1)
        self.conv2d_4b = BasicConv2d(192, 256, 3, 2)
        self.repeat_1 = nn.Sequential(*(block35(0.17) for _ in range(5)))
        self.mixed_6a = mixed_6a()
        self.repeat_2 = nn.Sequential(*(block17(0.10) for _ in range(10)))
        self.mixed_7a = mixed_7a()
        self.repeat_3 = nn.Sequential(*(block8(0.20) for _ in range(5)))
        self.block8 = block8(1.0, relu=False)
        self.avgpool_1a = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.last_linear = nn.Linear(1792, embedding_dim, bias=False)
        self.last_bn = nn.BatchNorm1d(embedding_dim, eps=BN_EPS)
        if num_classes:  # classification head of the facenet-pytorch checkpoint; loaded but unused
            self.logits = nn.Linear(embedding_dim, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for name in ("conv2d_1a", "conv2d_2a", "conv2d_2b", "maxpool_3a", "conv2d_3b", "conv2d_4a", "conv2d_4b",
                     "repeat_1", "mixed_6a", "repeat_2", "mixed_7a", "repeat_3", "block8", "avgpool_1a"):
            x = getattr(self, name)(x)
        return self.last_bn(self.last_linear(self.dropout(x).flatten(1)))
