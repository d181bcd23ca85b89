"""`masque check`: a PGD-protected face is called protected on dlib, the original is not; errors are one line."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from masque.cli import main
from masque.embedders import create_embedder
from masque.evaluation.baselines import PGDBaseline, PGDConfig
from masque.evaluation.faces import detect_and_align
from masque.faces.align import tensor_to_crop

SIZE = 256


@pytest.fixture(scope="module")
def protected(tmp_path_factory, faces_dir):
    """obama's crop, PGD-protected (eps 8/255, white-box dlib) against obama2, as a crop and pasted into the photo."""
    from masque.faces.paste import paste_back
    from masque.io import read_image

    out = tmp_path_factory.mktemp("check")
    face = detect_and_align(faces_dir / "obama.jpg", SIZE)
    anchor = detect_and_align(faces_dir / "obama2.jpg", SIZE)
    cfg = PGDConfig(epsilon=8 / 255, step_size=2 / 255, steps=6)
    result = PGDBaseline([create_embedder("dlib")], cfg).protect(face.tensor(), torch.ones(1, 1, SIZE, SIZE), "",
                                                                 [anchor.tensor()])
    crop = tensor_to_crop(result.image)
    paths = {"original_crop": out / "original_crop.png", "protected_crop": out / "protected_crop.png",
             "protected_photo": out / "protected_photo.png", "reference_crop": out / "reference_crop.png"}
    Image.fromarray(anchor.crop).save(paths["reference_crop"])
    Image.fromarray(face.crop).save(paths["original_crop"])
    Image.fromarray(crop).save(paths["protected_crop"])
    photo = read_image(faces_dir / "obama.jpg").rgb
    pasted = paste_back(photo, face.aligned(), crop, np.ones((SIZE, SIZE), np.float32))
    Image.fromarray(pasted).save(paths["protected_photo"])
    return paths


def _check(capsys, *args) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_:
        main(["check", *args])
    captured = capsys.readouterr()
    return exit_.value.code or 0, captured.out, captured.err


def test_pgd_protected_crop_is_protected_and_original_is_not(protected, capsys):
    ref = str(protected["reference_crop"])
    code, out, err = _check(capsys, str(protected["original_crop"]), str(protected["protected_crop"]), "--aligned",
                            "--size", str(SIZE), "--models", "dlib", "--json", "-r", ref)
    assert code == 0, err
    report = json.loads(out)
    (dlib,) = report["models"]
    assert dlib["verdict"] == "protected" and report["overall"] == "protected"
    assert dlib["similarity_original"] < dlib["threshold"] and dlib["similarity_references"][ref] < dlib["threshold"]
    assert dlib["threshold_key"].startswith("dlib") and report["weights"]["dlib"]["sha256"]

    code, out, err = _check(capsys, str(protected["original_crop"]), str(protected["original_crop"]), "--aligned",
                            "--size", str(SIZE), "--models", "dlib", "--json", "-r", ref)
    assert code == 0, err
    report = json.loads(out)
    assert report["overall"] == "not protected"
    assert report["models"][0]["similarity_original"] == pytest.approx(1.0, abs=1e-4)
    assert report["models"][0]["similarity_references"][ref] > report["models"][0]["threshold"]


def test_photos_are_detected_and_checked_against_references(protected, capsys, faces_dir):
    """Photo in, photo out: the pasted-back protection survives re-detection and re-alignment."""
    original, ref = str(faces_dir / "obama.jpg"), str(faces_dir / "obama2.jpg")
    code, out, _ = _check(capsys, original, str(protected["protected_photo"]), "-r", ref, "--models", "dlib",
                          "--size", str(SIZE))
    assert code == 0
    assert "dlib" in out and "Overall: protected" in out
    code, out, _ = _check(capsys, original, original, "-r", ref, "--models", "dlib", "--json", "--size", str(SIZE))
    report = json.loads(out)
    assert report["overall"] == "not protected"
    assert report["models"][0]["similarity_references"][ref] > report["models"][0]["threshold"]


def test_missing_file_and_no_face_are_one_line_errors(tmp_path, capsys, faces_dir):
    code, _, err = _check(capsys, str(tmp_path / "nope.jpg"), str(faces_dir / "obama.jpg"))
    assert code == 2 and "ORIGINAL" in err and "nope.jpg" in err and err.count("\n") == 1
    blank = tmp_path / "blank.png"
    Image.fromarray(np.full((200, 200, 3), 128, np.uint8)).save(blank)
    code, _, err = _check(capsys, str(blank), str(faces_dir / "obama.jpg"), "--models", "dlib")
    assert code == 2 and "no face" in err and "blank.png" in err and err.count("\n") == 1
    code, _, err = _check(capsys, str(blank), str(blank), "--models", "nosuchmodel")
    assert code == 2 and "--models" in err
    code, _, err = _check(capsys, str(blank), str(faces_dir / "obama.jpg"), "--aligned")
    assert code == 2 and "--aligned" in err and "square" in err


def test_verdict_is_per_model_and_overall_partial(protected):
    """Protected on dlib (attacked) but not on an unrelated random model: overall "partially protected"."""
    from masque.evaluation.check import check_protection

    report = check_protection(protected["original_crop"], protected["protected_crop"], models=["dlib", "tiny-random"],
                              aligned=True, size=SIZE)
    verdicts = {v.model: v.protected for v in report.verdicts}
    assert verdicts == {"dlib": True, "tiny-random": False}
    assert report.overall == "partially protected"
    assert report.to_dict()["models"][1]["threshold_key"] == "far0.01"  # FAR 0.01 where the model has it


def test_dlib_bin_judges_photos_with_its_own_pipeline(protected, capsys, faces_dir):
    """A second, independent opinion: dlib-bin's detector, chip and descriptor with its 0.6 distance rule."""
    original, ref = str(faces_dir / "obama.jpg"), str(faces_dir / "obama2.jpg")
    code, out, _ = _check(capsys, original, original, "-r", ref, "--models", "dlib", "--json", "--size", str(SIZE))
    row = {m["model"]: m for m in json.loads(out)["models"]}["dlib-bin"]
    assert code == 0 and row["metric"] == "l2" and row["threshold"] == 0.6
    assert row["similarity_original"] == 0.0 and 0.2 < row["similarity_references"][ref] < 0.6
    assert row["verdict"] == "not protected"
    code, out, _ = _check(capsys, original, str(protected["protected_photo"]), "-r", ref, "--models", "dlib", "--json",
                          "--size", str(SIZE))
    row = {m["model"]: m for m in json.loads(out)["models"]}["dlib-bin"]
    assert row["verdict"] == "protected" and row["similarity_references"][ref] >= 0.6  # unprotected: ~0.35
