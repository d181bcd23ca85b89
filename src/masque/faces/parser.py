"""Optional learned face parser: BiSeNet (ResNet-18 context path) with the 19 CelebAMask-HQ labels.

The architecture follows the widely used face-parsing BiSeNet (Yu et al., ECCV 2018, "BiSeNet: Bilateral Segmentation
Network for Real-time Semantic Segmentation"; face-parsing variant whose spatial path is replaced by ResNet-18's 1/8
feature map), with module names matching its public ``79999_iter.pth`` checkpoint so that file loads with strict
keys. No weights ship with MASQUE: pass the checkpoint path (``RegionMasker(parser="79999_iter.pth")``).

Input: RGB resized to ``INPUT_SIZE`` and normalised with the ImageNet mean/std the checkpoint was trained with; the
main head's logits are resized back to the crop and arg-maxed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..checkpoints import load_state_dict_strict
from ..errors import InputError

LABELS = (
    "background", "skin", "l_brow", "r_brow", "l_eye", "r_eye", "eye_g", "l_ear", "r_ear", "ear_r",
    "nose", "mouth", "u_lip", "l_lip", "neck", "neck_l", "cloth", "hair", "hat",
)  # fmt: skip
LABEL = {name: i for i, name in enumerate(LABELS)}
INPUT_SIZE = 512
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


class ConvBNReLU(nn.Module):
    def __init__(self, cin: int, cout: int, ks: int = 3, stride: int = 1, padding: int = 1):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, ks, stride, padding, bias=False)
        self.bn = nn.BatchNorm2d(cout)

    def forward(self, x):
        return F.relu(self.bn(self.conv(x)))


class BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None
        if cin != cout or stride != 1:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        return F.relu(y + (x if self.downsample is None else self.downsample(x)))


def _stage(cin: int, cout: int, stride: int) -> nn.Sequential:
    return nn.Sequential(BasicBlock(cin, cout, stride), BasicBlock(cout, cout, 1))


class ResNet18Features(nn.Module):
    """ResNet-18 returning the 1/8, 1/16 and 1/32 feature maps."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.layer1, self.layer2 = _stage(64, 64, 1), _stage(64, 128, 2)
        self.layer3, self.layer4 = _stage(128, 256, 2), _stage(256, 512, 2)

    def forward(self, x):
        x = self.layer1(self.maxpool(F.relu(self.bn1(self.conv1(x)))))
        f8 = self.layer2(x)
        f16 = self.layer3(f8)
        return f8, f16, self.layer4(f16)


class AttentionRefinement(nn.Module):
    """Channel attention from global average pooling (BiSeNet's ARM)."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.conv = ConvBNReLU(cin, cout)
        self.conv_atten = nn.Conv2d(cout, cout, 1, bias=False)
        self.bn_atten = nn.BatchNorm2d(cout)

    def forward(self, x):
        feat = self.conv(x)
        return feat * torch.sigmoid(self.bn_atten(self.conv_atten(F.adaptive_avg_pool2d(feat, 1))))


class ContextPath(nn.Module):
    def __init__(self):
        super().__init__()
        self.resnet = ResNet18Features()
        self.arm16, self.arm32 = AttentionRefinement(256, 128), AttentionRefinement(512, 128)
        self.conv_head32, self.conv_head16 = ConvBNReLU(128, 128), ConvBNReLU(128, 128)
        self.conv_avg = ConvBNReLU(512, 128, ks=1, padding=0)

    def forward(self, x):
        f8, f16, f32 = self.resnet(x)
        avg = self.conv_avg(F.adaptive_avg_pool2d(f32, 1))
        up32 = self.conv_head32(F.interpolate(self.arm32(f32) + avg, size=f16.shape[2:], mode="nearest"))
        up16 = self.conv_head16(F.interpolate(self.arm16(f16) + up32, size=f8.shape[2:], mode="nearest"))
        return f8, up16, up32


class FeatureFusion(nn.Module):
    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.convblk = ConvBNReLU(cin, cout, ks=1, padding=0)
        self.conv1 = nn.Conv2d(cout, cout // 4, 1, bias=False)
        self.conv2 = nn.Conv2d(cout // 4, cout, 1, bias=False)

    def forward(self, spatial, context):
        feat = self.convblk(torch.cat([spatial, context], dim=1))
        atten = torch.sigmoid(self.conv2(F.relu(self.conv1(F.adaptive_avg_pool2d(feat, 1)))))
        return feat + feat * atten


class OutputHead(nn.Module):
    def __init__(self, cin: int, mid: int, n_classes: int):
        super().__init__()
        self.conv = ConvBNReLU(cin, mid)
        self.conv_out = nn.Conv2d(mid, n_classes, 1, bias=False)

    def forward(self, x):
        return self.conv_out(self.conv(x))


class BiSeNet(nn.Module):
    """Face-parsing BiSeNet; `forward` returns the main head's logits at the input resolution.

    The two auxiliary heads (``conv_out16``, ``conv_out32``) only served training; they exist so checkpoints load
    with strict keys.
    """

    def __init__(self, n_classes: int = len(LABELS)):
        super().__init__()
        self.cp = ContextPath()
        self.ffm = FeatureFusion(256, 256)
        self.conv_out = OutputHead(256, 256, n_classes)
        self.conv_out16 = OutputHead(128, 64, n_classes)
        self.conv_out32 = OutputHead(128, 64, n_classes)

    def forward(self, x):
        f8, cp8, _ = self.cp(x)
        logits = self.conv_out(self.ffm(f8, cp8))
        return F.interpolate(logits, size=x.shape[2:], mode="bilinear", align_corners=True)


class FaceParser:
    """Per-pixel CelebAMask-HQ labels for an aligned crop."""

    def __init__(self, net: BiSeNet, device: str | torch.device | None = None, input_size: int = INPUT_SIZE):
        self.device = torch.device(device) if device is not None else torch.device("cpu")
        self.net = net.to(self.device).eval()
        self.input_size = input_size

    @classmethod
    def from_checkpoint(cls, path: str | Path, device: str | torch.device | None = None) -> FaceParser:
        net = BiSeNet()
        load_state_dict_strict(net, path, name="bisenet-face-parser")
        return cls(net, device)

    @torch.no_grad()
    def parse(self, crop: np.ndarray) -> np.ndarray:
        """(S, S, 3) uint8 crop -> (S, S) int64 labels (indices into `LABELS`)."""
        if not (isinstance(crop, np.ndarray) and crop.dtype == np.uint8 and crop.ndim == 3 and crop.shape[2] == 3):
            raise InputError(f"`crop` must be uint8 (H, W, 3); got {getattr(crop, 'dtype', type(crop))}.")
        x = torch.from_numpy(np.ascontiguousarray(crop.transpose(2, 0, 1))).float().div(255.0)[None].to(self.device)
        x = F.interpolate(x, size=(self.input_size, self.input_size), mode="bilinear", align_corners=False)
        mean = torch.tensor(MEAN, device=self.device).view(1, 3, 1, 1)
        std = torch.tensor(STD, device=self.device).view(1, 3, 1, 1)
        logits = self.net((x - mean) / std)
        logits = F.interpolate(logits, size=crop.shape[:2], mode="bilinear", align_corners=False)
        return logits.argmax(1)[0].cpu().numpy()


def region_from_labels(labels: np.ndarray, region: str, geo) -> np.ndarray:
    """Boolean region from parser labels, refined with the landmark geometry ``geo`` (`regions.LandmarkRegions`).

    lips = upper + lower lip; brows = both brows; eyes = skin inside the landmark eye ring (lids, not eyeballs or
    glasses); cheeks = skin inside the landmark cheek polygons; skin = skin and nose, minus the landmark eye ring.
    """
    is_ = lambda *names: np.isin(labels, [LABEL[n] for n in names])  # noqa: E731
    if region == "lips":
        return is_("u_lip", "l_lip")
    if region == "brows":
        return is_("l_brow", "r_brow")
    if region == "eyes":
        return geo.eyes() & is_("skin")
    if region == "cheeks":
        return geo.cheeks() & is_("skin")
    if region == "skin":
        return is_("skin", "nose") & ~geo.eye_areas()
    raise InputError(f"`region` {region!r} has no parser mapping.")
