"""Write the packaged FR models' reference fixture: aligned network inputs (uint8 PNG) of three real faces and the
embeddings the packages' own runtimes (onnxruntime for SFace, OpenCV dnn for FaceNet, the official TensorFlow.js
runtime for the TFJS graphs, Keras for the Keras FaceNet) compute from them.

    python benchmarks/make_fr_reference.py   # needs onnxruntime, opencv-python-headless and fetched models
    NODE_PATH=.../node_modules python benchmarks/make_fr_reference.py --models mobileface-v3,faceres
    python benchmarks/make_fr_reference.py --models facenet-keras --keras-python /tmp/keras/venv/bin/python

The TFJS graphs run in node with ``@tensorflow/tfjs`` (pure-JS CPU backend; ``npm install @tensorflow/tfjs`` in any
folder and point ``NODE_PATH`` at its node_modules) through `tfjs_reference.js`.

The Keras model runs in its own environment (``python -m venv /tmp/keras/venv && /tmp/keras/venv/bin/pip install
tensorflow-cpu tf-keras h5py``: TensorFlow stays out of MASQUE's) through `keras_reference.py`.

Writes ``tests/data/fr_reference/<model>_<photo>.png`` and ``<model>_reference.npy`` (unnormalised runtime outputs,
rows in photo order); for facenet-keras also ``facenet-keras_random_reference.npy``, Keras on `random_pixels()`.
The default test suite checks the torch ports against these without the runtimes.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
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


TFJS_SCRIPT = Path(__file__).resolve().parent / "tfjs_reference.js"
TFJS_OUTPUT = {"mobileface-v3": "batchnorm0/add_1", "faceres": "global_pooling/Mean"}  # the descriptor nodes


def tfjs_runtime(path: Path, x: np.ndarray, output_node: str) -> np.ndarray:
    """A TFJS graph's ``output_node`` for the NCHW batch ``x`` on the official runtime (node, @tensorflow/tfjs)."""
    nhwc = np.ascontiguousarray(x.transpose(0, 2, 3, 1), dtype="<f4")
    with tempfile.TemporaryDirectory() as d:
        inp, out = Path(d) / "x.f32", Path(d) / "y.f32"
        nhwc.tofile(inp)
        n, h, w, _ = nhwc.shape
        run = subprocess.run(["node", str(TFJS_SCRIPT), str(path), str(inp), str(n), str(h), str(w), output_node,
                              str(out)], capture_output=True, text=True, timeout=600, check=False)
        if run.returncode != 0:
            raise RuntimeError(f"tfjs_reference.js failed: {run.stderr.strip()[-500:]}")
        return np.fromfile(out, dtype="<f4").reshape(n, -1)


def tfjs_available() -> bool:
    """``node`` runs and resolves ``@tensorflow/tfjs`` (through ``NODE_PATH`` or a node_modules above this folder)."""
    try:
        probe = subprocess.run(["node", "-e", "require.resolve('@tensorflow/tfjs')"], capture_output=True,
                               timeout=60, check=False, cwd=TFJS_SCRIPT.parent)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return probe.returncode == 0


KERAS_SCRIPT = Path(__file__).resolve().parent / "keras_reference.py"
KERAS_PYTHON = os.environ.get("MASQUE_KERAS_PYTHON", "/tmp/keras/venv/bin/python")  # a venv with tensorflow-cpu


def random_pixels(n: int = 2, size: int = 160) -> np.ndarray:
    """(n, 3, size, size) float32 uniform in [0, 255), seeded: the random-input half of the Keras check."""
    return np.random.default_rng(0).uniform(0, 255, (n, 3, size, size)).astype(np.float32)


def keras_runtime(path: Path, x: np.ndarray, python: str | None = None) -> np.ndarray:
    """nyoki-mtl's FaceNet in Keras (`keras_reference.py`) on the NCHW 0-255 batch ``x``: raw 128-D outputs."""
    with tempfile.TemporaryDirectory() as d:
        inp, out = Path(d) / "x.npy", Path(d) / "y.npy"
        np.save(inp, np.ascontiguousarray(x.transpose(0, 2, 3, 1), dtype=np.float32))
        run = subprocess.run([python or KERAS_PYTHON, str(KERAS_SCRIPT), str(path), str(inp), str(out)],
                             capture_output=True, text=True, timeout=900, check=False)
        if run.returncode != 0:
            raise RuntimeError(f"keras_reference.py failed: {run.stderr.strip()[-500:]}")
        return np.load(out)


RUNTIMES = {"sface": (onnxruntime_sface, lambda u8: u8),
            "facenet-casia": (opencv_facenet, lambda u8: (u8 - 127.5) / 128.0),
            "facenet-keras": (keras_runtime, lambda u8: u8),
            **{name: (lambda path, x, node=node: tfjs_runtime(path, x, node), lambda u8: u8)
               for name, node in TFJS_OUTPUT.items()}}


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
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default=",".join(RUNTIMES), help="comma-separated (default: all)")
    ap.add_argument("--keras-python", default=KERAS_PYTHON, help="python of an environment with tensorflow-cpu, "
                    "tf-keras and h5py (default: $MASQUE_KERAS_PYTHON or /tmp/keras/venv/bin/python)")
    args = ap.parse_args()
    names = args.models.split(",")
    OUT.mkdir(parents=True, exist_ok=True)
    for name in names:
        runtime, scale = RUNTIMES[name]
        if name == "facenet-keras":
            runtime = lambda path, x: keras_runtime(path, x, args.keras_python)  # noqa: E731
            rand = runtime(default_weights(name), random_pixels())
            np.save(OUT / f"{name}_random_reference.npy", rand.astype(np.float32))
        x = scale(aligned_inputs(name)).astype(np.float32)
        ref = runtime(default_weights(name), x)
        np.save(OUT / f"{name}_reference.npy", ref.astype(np.float32))
        print(name, ref.shape)


if __name__ == "__main__":
    main()
