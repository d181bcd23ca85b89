"""dlib's face-recognition ResNet (``dlib_face_recognition_resnet_model_v1.dat``) in PyTorch, differentiable.

The architecture is the ``anet_type`` of dlib's ``dnn_face_recognition_ex.cpp`` (a 29-conv ResNet-34 variant with
half the filters, 150x150 RGB chips, 128-D descriptors); the weights are read straight from the ``.dat`` file by our
own parser (`dlib_format`), so the model works offline from the ``face_recognition_models`` package.

dlib conventions reproduced here:
- input: ``(pixel - avg_channel) / 256`` on 0..255 RGB (``input_rgb_image_sized``);
- convolutions and pools pad ``k // 2`` when their stride is 1 and nothing otherwise;
- ``add_prev`` adds tensors of different shapes by zero-padding (extra channels, bottom/right border);
- ``affine`` is a per-channel ``gamma * x + beta`` (batch norm folded at export time);
- the descriptor is the raw ``fc_no_bias`` output; dlib compares descriptors by Euclidean distance (< 0.6 = same).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import WeightsError
from .formats import dlib_format
from .formats.dlib_format import DlibLayer
from .weights import ConvertsWeights, WeightsFormat

DLIB_MODEL_FILE = "dlib_face_recognition_resnet_model_v1.dat"
CHIP_SIZE = 150  # input_rgb_image_sized<150>
CHIP_PADDING = 0.25  # dlib.get_face_chip(img, shape5, 150, 0.25), as in face_recognition_model_v1
SAME_PERSON_DISTANCE = 0.6  # dlib's documented rule on raw descriptors (also loss_metric's dist_thresh)


@dataclass(frozen=True)
class Op:
    """One entry of dlib's layer stack: ``kind`` is the family, ``args`` its template arguments."""

    kind: str  # con, affine, relu, max_pool, avg_pool, add_prev, fc, tag, skip
    args: tuple = ()

    @property
    def token(self) -> str:
        return f"{self.kind}{self.args[0]}" if self.kind in ("tag", "skip", "add_prev") else self.kind


# ---- the network type of dnn_face_recognition_ex.cpp, outermost layer first -----------------------------------------

def _block(n: int, stride: int) -> list[Op]:  # BN<con<N,3,3,1,1, relu<BN<con<N,3,3,stride,stride, SUBNET>>>>>
    return [Op("affine"), Op("con", (n, 3, 1)), Op("relu"), Op("affine"), Op("con", (n, 3, stride))]


def _ares(n: int) -> list[Op]:  # relu<add_prev1<block<N,1,tag1<SUBNET>>>>
    return [Op("relu"), Op("add_prev", (1,)), *_block(n, 1), Op("tag", (1,))]


def _ares_down(n: int) -> list[Op]:  # relu<add_prev2<avg_pool<2,2,2,2,skip1<tag2<block<N,2,tag1<SUBNET>>>>>>>
    return [Op("relu"), Op("add_prev", (2,)), Op("avg_pool", (2, 2)), Op("skip", (1,)), Op("tag", (2,)),
            *_block(n, 2), Op("tag", (1,))]


FACE_RECOGNITION_STACK: tuple[Op, ...] = (
    Op("fc", (128,)), Op("avg_pool", (0, 1)),  # fc_no_bias<128, avg_pool_everything<...>>
    *_ares_down(256),  # alevel0
    *_ares(256), *_ares(256), *_ares_down(256),  # alevel1
    *_ares(128), *_ares(128), *_ares_down(128),  # alevel2
    *_ares(64), *_ares(64), *_ares(64), *_ares_down(64),  # alevel3
    *_ares(32), *_ares(32), *_ares(32),  # alevel4
    Op("max_pool", (3, 2)), Op("relu"), Op("affine"), Op("con", (32, 7, 2)),
)
DLIB_MEAN_RGB = (122.782, 117.001, 104.298)  # input_rgb_image_sized defaults; the file's values replace them


def _pad(kernel: int, stride: int) -> int:
    return 0 if stride != 1 else kernel // 2


class Affine(nn.Module):
    """dlib ``affine_`` in CONV_MODE: per-channel scale and shift."""

    def __init__(self, channels: int):
        super().__init__()
        self.gamma = nn.Parameter(torch.ones(channels))
        self.beta = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gamma.view(1, -1, 1, 1) + self.beta.view(1, -1, 1, 1)


def _add_prev(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """dlib ``tt::add`` of tensors of different shapes: the output takes the larger size of each dimension and
    values outside a tensor's bounds count as zero (channels and the bottom/right border are zero-padded)."""
    size = [max(da, db) for da, db in zip(a.shape, b.shape, strict=True)]

    def grow(t: torch.Tensor) -> torch.Tensor:
        pad = (0, size[3] - t.shape[3], 0, size[2] - t.shape[2], 0, size[1] - t.shape[1])
        return F.pad(t, pad) if any(pad) else t

    return grow(a) + grow(b)


class DlibResNet(ConvertsWeights, nn.Module):
    """The dlib layer stack as an interpreter over PyTorch modules; ``forward`` takes RGB in [0, 1]."""

    weights_format = WeightsFormat(".dat", code=("masque.embedders.formats.dlib_format",))

    def __init__(self, stack: tuple[Op, ...] = FACE_RECOGNITION_STACK, in_channels: int = 3):
        super().__init__()
        self.stack = stack
        self.register_buffer("mean_rgb", torch.tensor(DLIB_MEAN_RGB).view(1, 3, 1, 1))
        self.layers = nn.ModuleList()
        self._plan: list[tuple[Op, int]] = []  # (op, index into self.layers or -1)
        channels, tag_channels = in_channels, {}
        for op in reversed(stack):  # forward order
            index = -1
            if op.kind == "con":
                n, k, s = op.args
                self.layers.append(nn.Conv2d(channels, n, k, stride=s, padding=_pad(k, s)))
                channels, index = n, len(self.layers) - 1
            elif op.kind == "affine":
                self.layers.append(Affine(channels))
                index = len(self.layers) - 1
            elif op.kind == "fc":
                self.layers.append(nn.Linear(channels, op.args[0], bias=False))
                channels, index = op.args[0], len(self.layers) - 1
            elif op.kind == "tag":
                tag_channels[op.args[0]] = channels
            elif op.kind == "skip":
                channels = tag_channels[op.args[0]]
            elif op.kind == "add_prev":
                channels = max(channels, tag_channels[op.args[0]])
            self._plan.append((op, index))
        self.embedding_dim = channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = (x * 255.0 - self.mean_rgb) / 256.0  # input_rgb_image_sized::to_tensor on 0..255 pixels
        tags: dict[int, torch.Tensor] = {}
        for op, index in self._plan:
            if index >= 0:
                layer = self.layers[index]
                x = layer(x.flatten(1)) if op.kind == "fc" else layer(x)
            elif op.kind == "relu":
                x = F.relu(x)
            elif op.kind == "max_pool":
                k, s = op.args
                x = F.max_pool2d(x, k, s, padding=_pad(k, s))
            elif op.kind == "avg_pool":
                k, s = op.args
                x = x.mean(dim=(2, 3), keepdim=True) if k == 0 else F.avg_pool2d(x, k, s, padding=_pad(k, s))
            elif op.kind == "tag":
                tags[op.args[0]] = x
            elif op.kind == "skip":
                x = tags[op.args[0]]
            elif op.kind == "add_prev":
                x = _add_prev(x, tags[op.args[0]])
        return x

    # ---- weights ------------------------------------------------------------------------------------------------

    def read_weights(self, path: Path) -> None:
        """A dlib ``.dat`` (parsed by `formats.dlib_format`)."""
        self.load_dlib(dlib_format.read_network(path, [op.token for op in self.stack]))

    @torch.no_grad()
    def load_dlib(self, net: dlib_format.DlibNetwork) -> None:
        s = net.input_settings
        if (s["nr"], s["nc"]) != (CHIP_SIZE, CHIP_SIZE):
            raise WeightsError(f"dlib network expects {s['nr']}x{s['nc']} chips, this port is built for {CHIP_SIZE}.")
        self.mean_rgb.copy_(torch.tensor([s["avg_red"], s["avg_green"], s["avg_blue"]]).view(1, 3, 1, 1))
        layers = [o for o in net.ops if isinstance(o, DlibLayer)]
        plan = [p for p in self._plan if p[0].kind not in ("tag", "skip")]
        for (op, index), stored in zip(plan, layers, strict=True):
            if index < 0:
                self._check_pool(op, stored)
                continue
            self._assign(op, self.layers[index], stored)

    @staticmethod
    def _check_pool(op: Op, stored: DlibLayer) -> None:
        if op.kind in ("max_pool", "avg_pool"):
            k, stride = op.args
            st = stored.settings
            if (st["nr"], st["stride_y"], st["padding_y"]) != (k, stride, _pad(k, stride)):
                raise WeightsError(f"dlib {op.kind} settings {st} do not match the architecture ({op.args}).")

    @staticmethod
    def _assign(op: Op, layer: nn.Module, stored: DlibLayer) -> None:
        p = torch.from_numpy(stored.params.ravel().copy())
        if op.kind == "con":
            st = stored.settings
            n, k, stride = op.args
            if (st["num_filters"], st["nr"], st["nc"], st["stride_y"], st["padding_y"]) != (n, k, k, stride,
                                                                                          _pad(k, stride)):
                raise WeightsError(f"dlib con settings {st} do not match the architecture (filters {n}, {k}x{k}, "
                                   f"stride {stride}).")
            w = layer.weight
            layer.weight.copy_(p[: w.numel()].view_as(w))  # filters: (num_filters, k, nr, nc), cross-correlation
            layer.bias.copy_(p[w.numel():])
        elif op.kind == "affine":
            c = layer.gamma.numel()
            layer.gamma.copy_(p[:c])
            layer.beta.copy_(p[c:])
        elif op.kind == "fc":
            n_in, n_out = stored.settings["num_inputs"], stored.settings["num_outputs"]
            if stored.settings["bias_mode"] != 1 or tuple(layer.weight.shape) != (n_out, n_in):
                raise WeightsError(f"dlib fc layer {stored.settings} does not match fc_no_bias<{layer.out_features}>.")
            layer.weight.copy_(p.view(n_in, n_out).T)  # dlib computes x @ W with W (num_inputs, num_outputs)


def dlib_model_path(name: str = DLIB_MODEL_FILE) -> Path:
    """A dlib model file of the ``face_recognition_models`` package."""
    from ..faces.dlib_files import model_path

    return model_path(name)


def default_dlib_weights(spec) -> Path:
    """A copy imported into ``$MASQUE_HOME/fr/`` (``masque models import dlib FILE``) wins over the package file."""
    from ..paths import fr_dir

    own = fr_dir() / spec.weights_file
    return own if own.is_file() else dlib_model_path(spec.weights_file)


# ---- registry entry --------------------------------------------------------------------------------------------------
# Same-person rule on the L2-normalised embedding. dlib calls two raw descriptors the same person when
# |d1 - d2| < 0.6. With |d1| = |d2| = r, |d1 - d2|^2 = 2 r^2 (1 - cos), so the rule reads cos > 1 - 0.6^2 / (2 r^2).
# r was measured, not assumed: the median raw-descriptor norm over 10 face chips (the shared photos obama, obama2,
# obama3, biden and skimage's astronaut, each also mirrored) is 1.390 (range 1.364-1.457), giving cos > 0.907.
# The conversion is exact only for equal norms; report raw distances with `raw_descriptor_distance` when comparing
# with dlib itself. No FAR-calibrated thresholds: that needs a labelled impostor set we do not ship.
DESCRIPTOR_NORM = 1.390
SAME_PERSON_COSINE = round(1.0 - SAME_PERSON_DISTANCE**2 / (2.0 * DESCRIPTOR_NORM**2), 4)


def _register() -> None:
    from ..faces.templates import DLIB_150
    from .base import EmbedderSpec
    from .registry import register_embedder

    spec = EmbedderSpec(
        name="dlib",
        template=DLIB_150,
        embedding_dim=128,
        thresholds={"dlib_l2_0.6": SAME_PERSON_COSINE},
        weights_file=DLIB_MODEL_FILE,
        source="dlib face recognition ResNet v1 (Davis King, dlib-models), shipped in `face_recognition_models`; "
               "ported to PyTorch, weights parsed from the .dat",
        license="model released into the public domain by its author; trained on FaceScrub, VGG-Face and web images",
        input_range=(0.0, 1.0),  # dlib's mean subtraction and /256 happen inside the network
        description="29-conv ResNet (ResNet-34 with half the filters), 150x150 chips, 128-D; 99.38% LFW.",
        extra={"same_person_distance": SAME_PERSON_DISTANCE, "descriptor_norm": DESCRIPTOR_NORM},
    )
    register_embedder(spec, default_weights=default_dlib_weights)(lambda s: DlibResNet())


_register()


def raw_descriptor(embedder, crop: torch.Tensor, *, aligned: bool = False) -> torch.Tensor:
    """dlib's *unnormalised* descriptor (B, 128): of a generation crop, or of 150x150 chips when ``aligned``."""
    x = crop if aligned else embedder.preprocess(crop)
    return embedder.backbone(x)


def raw_descriptor_distance(embedder, a: torch.Tensor, b: torch.Tensor, *, aligned: bool = False) -> torch.Tensor:
    """Euclidean distance between raw dlib descriptors, directly comparable with dlib's 0.6 rule."""
    return (raw_descriptor(embedder, a, aligned=aligned) - raw_descriptor(embedder, b, aligned=aligned)).norm(dim=1)
