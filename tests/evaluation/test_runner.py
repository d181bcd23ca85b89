"""`masque evaluate` on the shared real photos with dlib (obama x3 = one identity, biden = another).

One module-scoped run through the CLI (clean, pgd, masked-pgd; white-box on dlib) feeds every test; aligned crops
are cached in the run's folder, so the resume test re-detects nothing.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from masque.catalogue import sha256sum
from masque.cli import main
from masque.embedders import default_weights
from masque.evaluation.baselines import PGDConfig
from masque.evaluation.datasets import load_folder_dataset
from masque.evaluation.faces import CropCache
from masque.evaluation.runner import EvalConfig, evaluate, protocols_for
from masque.faces.align import footprint

SIZE = 160
EPS = 8  # /255
ARGS = ["--models", "dlib", "--size", str(SIZE), "--pgd-steps", "3", "--pgd-step-size", "3/255",
        "--epsilon", f"{EPS}/255", "--seed", "7"]


def _dataset(root: Path, faces_dir: Path) -> Path:
    for ident, names in {"obama": ["obama", "obama2", "obama3"], "biden": ["biden"]}.items():
        (root / ident).mkdir(parents=True)
        for n in names:
            (root / ident / f"{n}.jpg").symlink_to(faces_dir / f"{n}.jpg")
    return root


@pytest.fixture(scope="module")
def run(tmp_path_factory, faces_dir):
    base = tmp_path_factory.mktemp("evaluate")
    data = _dataset(base / "data", faces_dir)
    out = base / "out"
    with pytest.raises(SystemExit) as exit_:
        main(["evaluate", "--dataset", str(data), "--out", str(out), "--methods", "clean,pgd", *ARGS])
    assert exit_.value.code in (0, None)
    return data, out, json.loads((out / "results.json").read_text())


def _run(results: dict, method: str) -> dict:
    (found,) = [r for r in results["runs"] if r["method"] == method]
    return found


def test_clean_photos_all_match_and_are_identified(run):
    _, _, results = run
    clean = _run(results, "clean")
    key = clean["primary_threshold"]
    assert key.startswith("dlib")  # dlib has no FAR table: its same-person rule is the threshold
    assert clean["verification"][key] == {"psr": 0.0, "pairs": 6, "protected": 0}  # 3 obama photos, 2 pairs each
    assert clean["identification"]["rank1"] == {"psr": 0.0, "probes": 3, "protected": 0}
    ranks = {it["key"]: it["identity_rank"] for it in clean["items"]}
    assert ranks == {"biden__biden": None, "obama__obama": 1, "obama__obama2": 1, "obama__obama3": 1}
    assert clean["quality"]["psnr"] == "inf" and clean["quality"]["lpips"] is None  # unavailable, never 0


def test_pgd_white_box_on_dlib_protects_within_budget(run):
    _, out, results = run
    pgd = _run(results, "pgd")
    assert pgd["protocol"] == "white-box" and pgd["surrogates"] == ["dlib"]
    assert pgd["verification"][pgd["primary_threshold"]]["psr"] > 0
    assert pgd["identification"]["rank1"]["psr"] > 0
    cache = CropCache(out / "crops", SIZE)
    seeds = []
    for item in pgd["items"]:
        # the shipped photo (JPEG like its source): the noise sits in the face crop's footprint; elsewhere only JPEG
        # re-encoding noise (with the input's own JPEG tables the largest single change is 8-18 levels on the test
        # photos, README "What the output keeps")
        photo = np.asarray(Image.open(out / item["protected_photo_path"]).convert("RGB"))
        source = np.asarray(Image.open(item["source"]).convert("RGB"))
        diff = np.abs(photo.astype(int) - source.astype(int)).max(-1)
        face = cache.get(Path(item["source"]))
        x0, y0, x1, y1 = footprint(face.matrix, (SIZE, SIZE), source.shape[:2], margin=2)
        outside = np.ones(diff.shape, bool)
        outside[y0:y1, x0:x1] = False
        assert diff[outside].max() <= 20 and diff[~outside].max() >= EPS // 2
        # the scores' crop is cut from that photo with the original's alignment
        scored = np.asarray(Image.open(out / item["protected_path"]).convert("RGB"))
        assert np.array_equal(scored, face.recrop(photo))
        seeds.append(item["seed"])
    assert sorted(seeds) == [7, 8, 9, 10]  # item i uses seed + i
    assert 25 < pgd["quality"]["psnr"] < 50 and 0.5 < pgd["quality"]["ssim"] < 1


def test_results_record_provenance(run):
    _, _, results = run
    (dlib,) = results["models"]
    assert dlib["sha256"] == sha256sum(default_weights("dlib"))
    assert dlib["available"] and dlib["thresholds"][dlib["primary_threshold"]] > 0
    assert results["command"][:2] == ["masque", "evaluate"] and "--dataset" in results["command"]
    assert results["seed"] == 7 and results["masque_version"]
    assert results["dataset"] == {**results["dataset"], "items": 4, "identities": 2, "photos": 4}


def _tables(markdown: str) -> dict[str, list[dict[str, str]]]:
    """Parse every `## title` + pipe table of report.md into rows of {header: cell}."""
    tables, title, headers = {}, None, None
    for line in markdown.splitlines():
        if line.startswith("## "):
            title, headers = line[3:], None
            tables[title] = []
        elif line.startswith("|") and title is not None:
            cells = [c.strip() for c in line.strip("|").split("|")]
            if headers is None:
                headers = cells
            elif not re.fullmatch(r"-+", cells[0]):
                tables[title].append(dict(zip(headers, cells, strict=True)))
    return tables


def _pct(value) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}"


def test_report_tables_match_results_json(run):
    _, out, results = run
    tables = _tables((out / "report.md").read_text())
    runs = {(r["method"], r["target"], r["protocol"]): r for r in results["runs"]}
    verification = next(v for k, v in tables.items() if k.startswith("Verification"))
    assert len(verification) == sum(len(r["verification"]) for r in results["runs"])
    for row in verification:
        res = runs[(row["method"], row["target"], row["protocol"])]["verification"][row["threshold"]]
        assert row["PSR %"] == _pct(res["psr"]) and int(row["pairs"]) == res["pairs"]
    identification = next(v for k, v in tables.items() if k.startswith("Identification"))
    assert len(identification) == len(runs)
    for row in identification:
        res = runs[(row["method"], row["target"], row["protocol"])]["identification"]
        assert row["rank-1 PSR %"] == _pct(res["rank1"]["psr"]) and row["rank-5 PSR %"] == _pct(res["rank5"]["psr"])
    robustness = next(v for k, v in tables.items() if k.startswith("Robustness"))
    for row in robustness:
        res = runs[(row["method"], row["target"], row["protocol"])]["robustness"]
        for name in ("jpeg_q75", "jpeg_q50", "resize_0.5x", "blur_sigma1"):
            assert row[name] == _pct(res[name]["psr"])
    quality = next(v for k, v in tables.items() if k.startswith("Quality"))
    for row in quality:
        q = runs[(row["method"], row["target"], row["protocol"])]["quality"]
        assert row["PSNR dB"] == ("inf" if q["psnr"] == "inf" else f"{q['psnr']:.2f}")
        assert row["LPIPS"] == "n/a" and row["FID"] == "n/a"


def test_grid_has_one_row_per_image(run):
    _, out, results = run
    grid = Image.open(out / "grid.png")
    assert grid.width == 3 * grid.height // len(_run(results, "pgd")["items"])
    assert (out / "grids" / "pgd__dlib__white-box.png").is_file()


def test_resume_with_limit_and_masked_pgd_stays_in_the_region(run, tmp_path, changes_near_lips):
    """--skip-existing reuses the saved pgd crops; masked-pgd (new) only touches the prompt's region."""
    data, first_out, results = run
    out = tmp_path / "resumed"
    shutil.copytree(first_out, out)  # leave the module's run untouched for the other tests
    cfg = EvalConfig(methods=("pgd", "masked-pgd"), models=("dlib",), size=SIZE, seed=7, skip_existing=True,
                     limit=2, pgd=PGDConfig(epsilon=EPS / 255, step_size=3 / 255, steps=3))
    again = evaluate(load_folder_dataset(data), cfg, out)
    pgd, masked = _run(again, "pgd"), _run(again, "masked-pgd")
    assert [it["resumed"] for it in pgd["items"]] == [True, True]
    first = {it["key"]: it for it in _run(results, "pgd")["items"]}
    for it in pgd["items"]:
        # the saved crop is reused bit for bit; its score is recomputed in another batch composition, where BLAS
        # may sum in another order (seen: 1.2e-7 apart), so the similarity is compared to 1e-5
        before = np.asarray(Image.open(first_out / it["protected_path"]))
        assert np.array_equal(np.asarray(Image.open(out / it["protected_path"])), before)
        assert it["same_person_similarity"] == pytest.approx(first[it["key"]]["same_person_similarity"], abs=1e-5)
    assert [it["resumed"] for it in masked["items"]] == [False, False]
    for item in masked["items"]:
        changed, near = changes_near_lips(item["source"], out / item["protected_photo_path"])
        assert changed and near


def test_leave_one_out_holds_each_model_out():
    runs = protocols_for("pgd", ["a", "b", "c"])
    assert [(p.target, p.surrogates, p.label) for p in runs] == [
        ("a", ("b", "c"), "leave-one-out"), ("b", ("a", "c"), "leave-one-out"), ("c", ("a", "b"), "leave-one-out")]
    assert [p.label for p in protocols_for("pgd", ["dlib"])] == ["white-box"]
    assert [p.surrogates for p in protocols_for("clean", ["a", "b"])] == [(), ()]


def test_evaluate_cli_errors_are_one_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["evaluate", "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and "exactly one of `--dataset`" in err and err.count("\n") == 1
    with pytest.raises(SystemExit) as exit_:
        main(["evaluate", "--out", str(tmp_path), "--dataset", str(tmp_path), "--epsilon", "8/0"])
    assert exit_.value.code == 2 and "`--epsilon`" in capsys.readouterr().err
