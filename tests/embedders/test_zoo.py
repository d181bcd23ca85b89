"""Every registered architecture: builds, runs forward and backward, round-trips its weights with strict keys."""

from __future__ import annotations

import pytest
import torch

from masque.embedders import create_embedder, get_spec, list_embedders
from masque.errors import WeightsError

# > 10 s for build + forward/backward + save/load on 2 shared CPU cores
SLOW = {"ir152", "irse50", "facenet", "facenet-casia", "facenet-keras"}
NAMES = [pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n for n in list_embedders()]

# Characteristic keys of the checkpoint layouts (InsightFace_Pytorch / facenet-pytorch / our dlib port) and total
# parameter counts of the published checkpoints' architectures.
LAYOUT = {
    "ir152": (["input_layer.0.weight", "body.0.res_layer.4.running_var", "body.3.shortcut_layer.0.weight",
               "output_layer.3.weight", "output_layer.4.running_mean"], 70_737_600),
    "irse50": (["input_layer.2.weight", "body.0.res_layer.5.fc1.weight", "body.23.res_layer.5.fc2.weight",
                "output_layer.0.weight"], 43_797_696),
    "mobileface": (["conv1.prelu.weight", "conv_23.conv_dw.conv.weight", "conv_4.model.5.project.bn.bias",
                    "conv_6_dw.conv.weight", "linear.weight", "bn.running_var"], 1_200_512),
    "facenet": (["conv2d_1a.conv.weight", "repeat_1.4.branch2.2.bn.weight", "mixed_6a.branch1.2.conv.weight",
                 "repeat_3.0.branch1.2.conv.weight", "block8.conv2d.bias", "last_bn.running_var", "logits.weight"],
                27_910_327),
}


def _randomise(module: torch.nn.Module, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    state = {}
    for k, v in module.state_dict().items():
        if v.is_floating_point():
            r = torch.randn(v.shape, generator=g) * 0.02  # small and zero-mean: deep residual stacks stay finite
            state[k] = r.abs() + 1.0 if k.endswith("running_var") else r
        else:
            state[k] = v.clone()
    return state


@pytest.mark.parametrize("name", NAMES)
def test_architecture_forward_backward_and_strict_round_trip(name, tmp_path):
    spec = get_spec(name)
    model = create_embedder(name, weights=None)
    assert model.spec is spec

    # Forward + backward through preprocess (generation crop -> model input size) and the backbone.
    crop = torch.rand(1, 3, 64, 64, requires_grad=True)
    x = model.preprocess(crop)
    assert x.shape == (1, 3, spec.input_size, spec.input_size)
    emb = model.embed(x)
    assert emb.shape == (1, spec.embedding_dim)
    assert torch.allclose(emb.norm(dim=1), torch.ones(1), atol=1e-5)
    emb.sum().backward()
    assert crop.grad is not None and torch.isfinite(crop.grad).all() and crop.grad.abs().sum() > 0

    # Round trip of a random state dict through a file, with strict keys.
    state = _randomise(model.backbone)
    path = tmp_path / "w.pth"
    torch.save(state, path)
    loaded = create_embedder(name, weights=path)
    probe = torch.rand(1, 3, spec.input_size, spec.input_size)
    with torch.no_grad():
        out = loaded.embed(probe)
        model.backbone.load_state_dict(state)
        model.eval()
        assert torch.isfinite(out).all() and torch.allclose(out, model.embed(probe), atol=1e-6)

    # A wrong key gives one clear error naming it.
    key = next(k for k in state if state[k].is_floating_point())
    bad = dict(state)
    bad["not_a_layer.weight"] = bad.pop(key)
    torch.save(bad, path)
    with pytest.raises(WeightsError, match=r"missing keys \[.*" + key.replace(".", r"\.")):
        create_embedder(name, weights=path)

    # A wrong shape too.
    bad = dict(state)
    bad[key] = torch.zeros(3, 3)
    torch.save(bad, path)
    with pytest.raises(WeightsError, match="shape"):
        create_embedder(name, weights=path)


@pytest.mark.parametrize("name", [n for n in LAYOUT if n not in SLOW] +
                         [pytest.param(n, marks=pytest.mark.slow) for n in LAYOUT if n in SLOW])
def test_checkpoint_layouts(name, tmp_path):
    keys, n_params = LAYOUT[name]
    backbone = create_embedder(name, weights=None).backbone
    state = backbone.state_dict()
    assert all(k in state for k in keys), [k for k in keys if k not in state]
    assert sum(p.numel() for p in backbone.parameters()) == n_params
    # Pre-0.4.1 checkpoints have no `num_batches_tracked`; they must still load.
    old = {k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}
    assert len(old) < len(state)
    torch.save(old, tmp_path / "old.pth")
    create_embedder(name, weights=tmp_path / "old.pth")


def test_literature_specs_carry_thresholds_and_files():
    for name, file in [("ir152", "ir152.pth"), ("irse50", "irse50.pth"), ("mobileface", "mobile_face.pth"),
                       ("facenet", "facenet.pth")]:
        spec = get_spec(name)
        assert spec.weights_file == file and spec.embedding_dim == 512 and spec.input_range == (-1.0, 1.0)
        t = spec.thresholds
        assert set(t) == {"far0.1", "far0.01", "far0.001"} and t["far0.1"] < t["far0.01"] < t["far0.001"]
    assert get_spec("facenet").input_size == 160 and get_spec("ir152").input_size == 112


def test_missing_default_weights_name_the_file(tmp_path, monkeypatch):
    monkeypatch.setenv("MASQUE_HOME", str(tmp_path))
    with pytest.raises(WeightsError, match="mobile_face.pth.*masque models import mobileface"):
        create_embedder("mobileface")
