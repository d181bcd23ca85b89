"""Write the packaged FR models' reference fixture: aligned network inputs (uint8 PNG) of three real faces and the
embeddings the packages' own runtimes (onnxruntime for SFace, OpenCV dnn for FaceNet) compute from them.

    python benchmarks/make_fr_reference.py   # needs onnxruntime, opencv-python-headless and fetched models

Writes ``tests/data/fr_reference/<model>_<photo>.png`` and ``<model>_reference.npy`` (unnormalised runtime outputs,
rows in photo order). The default test suite checks the torch ports against these without the runtimes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from masque.embedders import create_embedder, default_weights
from masque.evaluation.faces import detect_and_align

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "tests" / "data" / "fr_reference"
PHOTOS = ("obama", "obama2", "biden")


def onnxruntime_sface(path: Path, x: np.ndarray) -> np.ndarray:
    """SFace on onnxruntime; its graph lists unused quantisation leftovers as inputs, which are dropped first."""
    import onnx
    import onnxruntime as ort

    model = onnx.load(str(path))
    used = {n for node in model.graph.node for n in node.input}
    keep = [i for i in model.graph.input if i.name in used]
    del model.graph.input[:]
    model.graph.input.extend(keep)
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    sess = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    return np.concatenate([sess.run(None, {"data": x[i:i + 1]})[0] for i in range(len(x))])


def opencv_facenet(path: Path, x: np.ndarray) -> np.ndarray:
    """FaceNet on OpenCV dnn; the frozen graph's reshapes fix the batch at 1."""
    import cv2

    net = cv2.dnn.readNetFromTensorflow(str(path))
    out = []
    for i in range(len(x)):
        net.setInput(x[i:i + 1])
        out.append(net.forward())
    return np.concatenate(out)


RUNTIMES = {"sface": (onnxruntime_sface, lambda u8: u8),
            "facenet-casia": (opencv_facenet, lambda u8: (u8 - 127.5) / 128.0)}


def aligned_inputs(name: str) -> np.ndarray:
    """(N, 3, S, S) uint8-valued float32: MASQUE's detection + alignment into the model's template, rounded."""
    model = create_embedder(name, weights=None)
    rows = []
    for photo in PHOTOS:
        face = detect_and_align(ROOT / "tests" / "data" / "faces" / f"{photo}.jpg", 512)
        with torch.no_grad():
            x = model.preprocess(face.tensor())  # in the model's input range
        lo, hi = model.spec.input_range
        u8 = ((x - lo) / (hi - lo) * 255).round().clamp(0, 255)[0].permute(1, 2, 0).numpy().astype(np.uint8)
        Image.fromarray(u8).save(OUT / f"{name}_{photo}.png")
        rows.append(u8.transpose(2, 0, 1))
    return np.stack(rows).astype(np.float32)


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for name, (runtime, scale) in RUNTIMES.items():
        x = scale(aligned_inputs(name)).astype(np.float32)
        ref = runtime(default_weights(name), x)
        np.save(OUT / f"{name}_reference.npy", ref.astype(np.float32))
        print(name, ref.shape)


if __name__ == "__main__":
    main()
