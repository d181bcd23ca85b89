"""The face-recognition zoo of the anti-FR literature (AMT-GAN, CLIP2Protect, DiffAM, WeakenDiff), as registry data.

Per-model metadata lives in the `EmbedderSpec` table below (timm-style pretrained configs); the builders only build
architectures. Checkpoints are user-supplied files under ``$MASQUE_HOME/fr/`` (see ``masque models``): none of them
ships with a clear licence for redistribution, so nothing here downloads them implicitly.

Thresholds are the cosine-similarity thresholds at FAR 0.1 / 0.01 / 0.001 used by the evaluation code of AMT-GAN,
CLIP2Protect, DiffAM and WeakenDiff (docs/protocol.md); same person when cos >= threshold.
"""

from __future__ import annotations

from ..faces.templates import ARCFACE_112, FACENET_160
from .base import EmbedderSpec
from .facenet import InceptionResnetV1
from .irse import IRBackbone
from .mobileface import MobileFaceNet
from .registry import register_embedder

_LITERATURE = "checkpoint distributed with the AMT-GAN / CLIP2Protect / DiffAM code releases (Google Drive assets)"
_MS1M = ("research weights; trained on MS1M-derived data (MS-Celeb-1M was withdrawn by its authors): non-commercial "
         "research use only, check the distributor's terms")


def _thresholds(far01: float, far001: float, far0001: float) -> dict[str, float]:
    return {"far0.1": far01, "far0.01": far001, "far0.001": far0001}


ZOO_SPECS: dict[str, EmbedderSpec] = {
    "ir152": EmbedderSpec(
        name="ir152", template=ARCFACE_112, embedding_dim=512,
        thresholds=_thresholds(0.094632, 0.166788, 0.227922),
        weights_file="ir152.pth", source=f"IR-152 (face.evoLVe / InsightFace_Pytorch layout); {_LITERATURE}",
        license=_MS1M, description="IR-152 ResNet, 112x112, 512-D.",
    ),
    "irse50": EmbedderSpec(
        name="irse50", template=ARCFACE_112, embedding_dim=512,
        thresholds=_thresholds(0.144840, 0.241045, 0.312703),
        weights_file="irse50.pth", source=f"IR-SE-50 (TreB1eN InsightFace_Pytorch, drop 0.6); {_LITERATURE}",
        license=_MS1M, description="IR-SE-50 ResNet with squeeze-excitation, 112x112, 512-D.",
    ),
    "mobileface": EmbedderSpec(
        name="mobileface", template=ARCFACE_112, embedding_dim=512,
        thresholds=_thresholds(0.183635, 0.301611, 0.380878),
        weights_file="mobile_face.pth", source=f"MobileFaceNet-512 (TreB1eN InsightFace_Pytorch); {_LITERATURE}",
        license=_MS1M, description="MobileFaceNet, 112x112, 512-D.",
    ),
    "facenet": EmbedderSpec(
        name="facenet", template=FACENET_160, embedding_dim=512,
        thresholds=_thresholds(0.256587, 0.409131, 0.591191),
        weights_file="facenet.pth",
        url="https://github.com/timesler/facenet-pytorch/releases/download/v2.2.9/20180402-114759-vggface2.pt",
        source="FaceNet Inception-ResNet-v1, VGGFace2 weights of facenet-pytorch (Tim Esler, converted from David "
               f"Sandberg's TensorFlow model); {_LITERATURE}",
        license="code MIT (facenet-pytorch); weights trained on VGGFace2 (research use, check its terms)",
        description="Inception-ResNet-v1, 160x160, 512-D; the 8631-class head is loaded but unused.",
    ),
}

_BUILDERS = {
    "ir152": lambda spec: IRBackbone(152, se=False, embedding_dim=spec.embedding_dim),
    "irse50": lambda spec: IRBackbone(50, se=True, embedding_dim=spec.embedding_dim),
    "mobileface": lambda spec: MobileFaceNet(spec.embedding_dim),
    "facenet": lambda spec: InceptionResnetV1(spec.embedding_dim),
}

for _name, _spec in ZOO_SPECS.items():
    register_embedder(_spec)(_BUILDERS[_name])
