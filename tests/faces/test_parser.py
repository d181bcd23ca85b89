"""BiSeNet face parser: architecture, checkpoint loading and the label -> region mapping (no real weights here)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from masque.errors import WeightsError
from masque.faces.parser import LABEL, LABELS, BiSeNet, FaceParser
from masque.faces.regions import RegionMasker


@pytest.fixture(scope="module")
def net():
    torch.manual_seed(0)
    return BiSeNet().eval()


def test_architecture_matches_the_public_checkpoint_layout(net):
    state = net.state_dict()
    for key in (
        "cp.resnet.conv1.weight",
        "cp.resnet.layer2.0.downsample.1.running_var",
        "cp.resnet.layer4.1.bn2.weight",
        "cp.arm16.conv.conv.weight",
        "cp.arm32.conv_atten.weight",
        "cp.arm32.bn_atten.bias",
        "cp.conv_head32.bn.running_mean",
        "cp.conv_avg.conv.weight",
        "ffm.convblk.conv.weight",
        "ffm.conv1.weight",
        "ffm.conv2.weight",
        "conv_out.conv.conv.weight",
        "conv_out.conv_out.weight",
        "conv_out16.conv_out.weight",
        "conv_out32.conv_out.weight",
    ):
        assert key in state, key
    assert state["conv_out.conv_out.weight"].shape == (19, 256, 1, 1)
    n_params = sum(p.numel() for p in net.parameters())
    assert 13_000_000 < n_params < 13_500_000  # 79999_iter.pth is a ~53 MB float32 file


def test_forward_shape(net):
    with torch.no_grad():
        out = net(torch.randn(1, 3, 64, 96))
    assert out.shape == (1, len(LABELS), 64, 96)


def test_checkpoint_round_trip(net, tmp_path):
    path = tmp_path / "bisenet.pth"
    torch.save({f"module.{k}": v for k, v in net.state_dict().items()}, path)  # DataParallel-style prefix
    parser = FaceParser.from_checkpoint(path)
    parser.input_size = 64  # small input keeps the test fast; the label map still comes back at crop size
    crop = np.random.default_rng(0).integers(0, 255, (48, 48, 3), dtype=np.uint8)
    labels = parser.parse(crop)
    assert labels.shape == (48, 48) and labels.min() >= 0 and labels.max() < len(LABELS)
    ref = FaceParser(net, input_size=64).parse(crop)
    np.testing.assert_array_equal(labels, ref)


def test_bad_checkpoints(tmp_path):
    with pytest.raises(WeightsError, match="does not exist"):
        FaceParser.from_checkpoint(tmp_path / "missing.pth")
    wrong = tmp_path / "wrong.pth"
    torch.save({"conv.weight": torch.zeros(1)}, wrong)
    with pytest.raises(WeightsError, match="does not match"):
        FaceParser.from_checkpoint(wrong)


class StubParser:
    """Labels painted from the landmarks, so the label -> region logic is tested without weights."""

    def __init__(self, aligned):
        self.aligned = aligned

    def parse(self, crop):
        from skimage.draw import polygon

        lm, labels = self.aligned.landmarks68, np.zeros(crop.shape[:2], np.int64)
        for idx, name in ((range(0, 27), "skin"), (range(48, 60), "u_lip"), (range(17, 22), "l_brow")):
            pts = lm[list(idx)]
            if name == "skin":
                pts = np.vstack([lm[0:17], lm[26:16:-1] - [0, 40]])
            rr, cc = polygon(pts[:, 1], pts[:, 0], labels.shape)
            labels[rr, cc] = LABEL[name]
        return labels


def test_masker_uses_parser_labels(aligned):
    a = aligned["obama.jpg"]
    stub = StubParser(a)
    labels = stub.parse(a.crop)
    masker = RegionMasker(parser=stub)
    lips = masker.hard(a, ["lips"])
    np.testing.assert_array_equal(lips, labels == LABEL["u_lip"])
    skin = masker.hard(a, ["skin"])
    assert skin.any() and not (skin & (labels != LABEL["skin"])).any()
    cheeks = masker.hard(a, ["cheeks"])
    assert cheeks.any() and not (cheeks & (labels != LABEL["skin"])).any()
    soft = masker(a, ["lips"])
    assert soft.shape == (512, 512) and soft.max() == 1.0
