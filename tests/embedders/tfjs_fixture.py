"""The TFJS models' reference fixture: aligned face crops and the official TFJS runtime's outputs on them.

    NODE_PATH=/path/to/node_modules MASQUE_HOME=... python tests/embedders/tfjs_fixture.py

writes ``tests/data/tfjs/<model>/<photo>.png`` (the largest face of each photo, aligned by MASQUE's face stack into
the model's template) and ``<model>/reference.npy`` (the graph's output node for those crops, computed by
``@tensorflow/tfjs`` in node, pure-JS CPU backend, via `tfjs_reference.js`). The default test suite compares our
PyTorch ports against that file, so it checks the ports without node.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).parent
FIXTURE = HERE.parent / "data" / "tfjs"
SCRIPT = HERE / "tfjs_reference.js"
PHOTOS = ("obama.jpg", "obama2.jpg", "biden.jpg")
OUTPUT_NODE = {"mobileface-v3": "batchnorm0/add_1", "faceres": "global_pooling/Mean"}


def node_tfjs_available() -> bool:
    """``node`` on PATH and ``@tensorflow/tfjs`` resolvable by it (``NODE_PATH`` or a local node_modules)."""
    node = shutil.which("node")
    if node is None:
        return False
    probe = subprocess.run([node, "-e", "require.resolve('@tensorflow/tfjs')"], capture_output=True, cwd=HERE,
                           timeout=60)
    return probe.returncode == 0


def tfjs_reference(model_json: Path, x_nhwc: np.ndarray, output_node: str) -> np.ndarray:
    """The graph's ``output_node`` for the float32 NHWC batch ``x_nhwc``, computed by the official TFJS runtime."""
    x = np.ascontiguousarray(x_nhwc, dtype="<f4")
    with tempfile.TemporaryDirectory() as d:
        inp, out = Path(d) / "x.f32", Path(d) / "y.f32"
        x.tofile(inp)
        n, h, w, _ = x.shape
        run = subprocess.run(["node", str(SCRIPT), str(model_json), str(inp), str(n), str(h), str(w), output_node,
                              str(out)], capture_output=True, text=True, cwd=HERE, timeout=600)
        if run.returncode != 0:
            raise RuntimeError(f"tfjs_reference.js failed: {run.stderr.strip()[-500:]}")
        return np.fromfile(out, dtype="<f4").reshape(n, -1)


def load_crops(model: str) -> np.ndarray:
    """(N, S, S, 3) float32 RGB 0..255 of the committed aligned crops, in `PHOTOS` order."""
    from PIL import Image

    return np.stack([np.asarray(Image.open(FIXTURE / model / f"{Path(p).stem}.png").convert("RGB"), np.float32)
                     for p in PHOTOS])


def write_fixture() -> None:
    from PIL import Image

    from masque.embedders import default_weights, get_spec
    from masque.faces.align import align_face
    from masque.faces.detect import detect_faces
    from masque.io import read_image

    images = {p: read_image(HERE.parent / "data" / "faces" / p).rgb for p in PHOTOS}
    faces = {p: detect_faces(rgb)[0] for p, rgb in images.items()}
    for model, node in OUTPUT_NODE.items():
        spec = get_spec(model)
        folder = FIXTURE / model
        folder.mkdir(parents=True, exist_ok=True)
        for p in PHOTOS:
            Image.fromarray(align_face(images[p], faces[p], spec.template).crop).save(folder / f"{Path(p).stem}.png")
        reference = tfjs_reference(default_weights(model), load_crops(model), node)
        np.save(folder / "reference.npy", reference.astype(np.float32))
        print(f"{model}: {reference.shape} -> {folder}")


if __name__ == "__main__":
    if not node_tfjs_available():
        raise SystemExit("node with @tensorflow/tfjs is needed (npm install @tensorflow/tfjs; NODE_PATH=...); "
                         f"NODE_PATH={os.environ.get('NODE_PATH')!r}")
    write_fixture()
