"""The engine-backed methods (`parametric`, `masque`) run through the same evaluation loop as the baselines."""

from __future__ import annotations

from pathlib import Path

import pytest

from masque.errors import InputError
from masque.evaluation.datasets import load_folder_dataset
from masque.evaluation.runner import EvalConfig, evaluate


@pytest.fixture(scope="module")
def one_identity(tmp_path_factory, faces_dir) -> Path:
    root = tmp_path_factory.mktemp("methods") / "data"
    (root / "obama").mkdir(parents=True)
    for n in ("obama2", "obama"):
        (root / "obama" / f"{n}.jpg").symlink_to(faces_dir / f"{n}.jpg")
    return root


def test_parametric_method_runs_white_box_and_stays_in_the_region(one_identity, tmp_path, changes_near_lips):
    cfg = EvalConfig(methods=("parametric",), models=("tiny-random",), size=96, limit=1, parametric_steps=3)
    results = evaluate(load_folder_dataset(one_identity), cfg, tmp_path)
    (run,) = results["runs"]
    assert run["protocol"] == "white-box" and run["surrogates"] == ["tiny-random"]
    assert run["verification"]["far0.01"]["pairs"] == 1
    assert run["items"][0]["nfe"] > 0 and (tmp_path / run["items"][0]["protected_path"]).is_file()
    item = run["items"][0]
    changed, near = changes_near_lips(item["source"], tmp_path / item["protected_photo_path"])
    assert changed and near
    # the item is judged like `masque protect` judges a photo: surrogate, dlib-bin, one status
    roles = {m["model"]: m["role"] for m in item["verdict"]["models"]}
    assert roles == {"tiny-random": "surrogate", "dlib-bin": "independent"}
    assert item["status"] == item["verdict"]["status"]


def test_masque_method_needs_a_model(one_identity, tmp_path, monkeypatch):
    monkeypatch.delenv("MASQUE_SD_MODEL", raising=False)
    with pytest.raises(InputError, match="--model"):
        evaluate(load_folder_dataset(one_identity), EvalConfig(methods=("masque",)), tmp_path)
    with pytest.raises(InputError, match="--methods"):
        evaluate(load_folder_dataset(one_identity), EvalConfig(methods=("nope",)), tmp_path)


@pytest.mark.slow
def test_masque_method_with_the_tiny_diffusion_model(one_identity, tmp_path, tiny_sd_dir):
    cfg = EvalConfig(methods=("clean", "masque"), models=("dlib",), size=128, limit=1, sd_model=str(tiny_sd_dir),
                     diffusion_steps=2)
    results = evaluate(load_folder_dataset(one_identity), cfg, tmp_path)
    run = next(r for r in results["runs"] if r["method"] == "masque")
    assert run["protocol"] == "white-box"
    assert run["items"][0]["trace"]["components"]["unet"]["nfe"] > 0
    assert run["quality"]["psnr"] not in (None, "inf")
    assert (tmp_path / "grid.png").is_file()
