"""`masque evaluate --skip-existing` resumes through the output folder's manifest and never mixes settings."""

from __future__ import annotations

import json

import pytest

from masque.errors import InputError
from masque.evaluation.baselines import PGDConfig
from masque.evaluation.datasets import load_folder_dataset
from masque.evaluation.runner import EvalConfig, evaluate
from masque.manifest import MANIFEST_NAME


@pytest.mark.slow  # 18 s; evaluate's resume stays in the default suite (test_runner.py)
def test_resume_skips_recorded_crops_redoes_corrupt_ones_and_refuses_other_settings(tmp_path, faces_dir):
    data = tmp_path / "data" / "obama"
    data.mkdir(parents=True)
    for n in ("obama", "obama2"):
        (data / f"{n}.jpg").symlink_to(faces_dir / f"{n}.jpg")
    dataset = load_folder_dataset(tmp_path / "data")
    cfg = EvalConfig(methods=("pgd",), models=("dlib",), size=96, seed=1, skip_existing=True,
                     pgd=PGDConfig(epsilon=8 / 255, step_size=2 / 255, steps=1))
    out = tmp_path / "out"
    first = evaluate(dataset, cfg, out)
    (run,) = first["runs"]
    assert [it["resumed"] for it in run["items"]] == [False, False]
    # a corrupted crop is protected again; the intact one is reused
    victim = out / run["items"][1]["protected_path"]
    good = victim.read_bytes()
    victim.write_bytes(b"not a png")
    (again,) = evaluate(dataset, cfg, out)["runs"]
    assert [it["resumed"] for it in again["items"]] == [True, False]
    assert victim.read_bytes() == good  # same seed: the same crop
    keys = [json.loads(line)["key"] for line in (out / MANIFEST_NAME).read_text().splitlines()]
    assert sorted(keys) == sorted(["pgd/dlib__white-box/obama__obama", "pgd/dlib__white-box/obama__obama2",
                                   "pgd/dlib__white-box/obama__obama2"])  # first run + the redone one
    # other PGD settings into the same folder: refused in one line rather than mixed
    other = EvalConfig(**{**cfg.__dict__, "pgd": PGDConfig(epsilon=8 / 255, step_size=2 / 255, steps=2)})
    with pytest.raises(InputError, match=r"holds 2 pgd output\(s\) made with other settings.*new `--out` folder"):
        evaluate(dataset, other, out)
