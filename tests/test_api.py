"""`masque.protect` on real photos: detection → alignment → region mask → engine → paste-back → atomic write."""

from __future__ import annotations

import json

import numpy as np
import pytest

import masque
from masque.engines.parametric import ParametricConfig
from masque.errors import InputError, NoFaceError
from masque.io import read_image
from masque.pipeline.escalate import held_out_model

FAST = {"engine": "parametric", "surrogates": ["dlib"], "engine_options": {"config": ParametricConfig(steps=3)}}


def test_protect_real_photo_changes_only_the_lips(tmp_path, faces_dir):
    out = tmp_path / "obama.protected.jpg"
    report = masque.protect(faces_dir / "obama.jpg", "red lipstick", out=out, **FAST)
    original = read_image(faces_dir / "obama.jpg").rgb
    result = read_image(out).rgb
    assert result.shape == original.shape
    assert report.faces_found == 1 and len(report.faces) == 1
    side = json.loads(report.sidecar.read_text())
    assert side["settings"]["regions"] == ["lips"]
    assert set(side["faces"][0]["similarity_after"]) == {"dlib"}
    # the edit is confined to the mouth: rows/cols that differ lie inside the lower half of the face box
    left, top, right, bottom = report.faces[0].box
    diff = np.abs(result.astype(int) - original.astype(int)).max(axis=2) > 12  # JPEG noise elsewhere stays below
    ys, xs = np.nonzero(diff)
    assert len(ys) > 100, "the lips should visibly change"
    assert ys.min() >= top + (bottom - top) * 0.4 and ys.max() <= bottom + (bottom - top) * 0.3
    assert xs.min() >= left - 5 and xs.max() <= right + 5


def test_png_output_is_bit_identical_outside_the_region(tmp_path, faces_dir):
    out = tmp_path / "o.png"
    src = faces_dir / "32bit.png"  # RGBA: alpha must come back too
    report = masque.protect(src, "red lipstick", out=out, faces="largest", **FAST)
    original, result = read_image(src), read_image(out)
    assert result.alpha is not None and np.array_equal(result.alpha, original.alpha)
    changed = np.any(result.rgb != original.rgb, axis=2)
    left, top, right, bottom = report.faces[0].box
    m = (bottom - top) // 4  # the detector's box is coarse (its pyramid level); the makeup may reach past the chin line
    outside = np.ones_like(changed)
    outside[max(top - m, 0):bottom + m + 1, max(left - m, 0):right + m + 1] = False
    assert changed.any() and not changed[outside].any()


def test_no_face_is_a_clear_error_and_writes_nothing(tmp_path):
    from PIL import Image

    blank = tmp_path / "wall.png"
    Image.new("RGB", (200, 200), (120, 130, 140)).save(blank)
    with pytest.raises(NoFaceError, match="no face"):
        masque.protect(blank, "red lipstick", **FAST)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["wall.png"]


def test_two_region_prompt_colours_each_region_and_records_both(tmp_path, faces_dir):
    out = tmp_path / "o.png"
    report = masque.protect(faces_dir / "obama.jpg", "red lipstick and blue eyeshadow", out=out, **FAST)
    side = json.loads(report.sidecar.read_text())
    assert side["settings"]["regions"] == ["lips", "eyes", "skin"]  # the lids up to the crease lie in "skin"
    products = side["faces"][0]["engine"]["plan"]["products"]
    assert set(products) == {"lipstick", "eyeshadow"}
    assert products["lipstick"]["shade"] == "red" and products["eyeshadow"]["shade"] == "blue"


def test_group_photo_protects_every_face_and_gives_the_pair_to_its_owner(tmp_path, faces_dir):
    """Two people side by side: both faces are protected; the pair photo (obama2) anchors Obama's face only."""
    from PIL import Image

    obama = Image.open(faces_dir / "obama.jpg").convert("RGB").crop((250, 100, 700, 650))
    biden = Image.open(faces_dir / "biden.jpg").convert("RGB").crop((300, 150, 700, 700)).resize((450, 550))
    group = Image.new("RGB", (900, 550))
    group.paste(biden, (0, 0))
    group.paste(obama, (450, 0))
    photo = tmp_path / "group.png"
    group.save(photo)
    report = masque.protect(photo, "red lipstick", out=tmp_path / "o.png", pair=[faces_dir / "obama2.jpg"], **FAST)
    assert report.faces_found == 2 and len(report.faces) == 2
    anchors = {("right" if f.box[0] >= 450 else "left"): f.anchor for f in report.faces}
    assert anchors == {"right": "pair:obama2.jpg", "left": "self"}


def test_dlib_bin_judges_the_written_photo_independently(tmp_path, faces_dir):
    """The sidecar carries dlib-bin's own distance (its detector, chip and ResNet on the saved file), so a verdict
    never rests only on the differentiable path the makeup was optimised through."""
    report = masque.protect(faces_dir / "obama.jpg", "tan foundation", out=tmp_path / "o.png",
                            pair=[faces_dir / "obama2.jpg"], engine="parametric", surrogates=["dlib"])
    side = json.loads(report.sidecar.read_text())["faces"][0]
    rows = {r["model"]: r for r in side["verdict"]["models"]}
    dlib_bin = rows["dlib-bin"]
    assert dlib_bin["role"] == "independent" and rows["dlib"]["role"] == "surrogate"
    assert dlib_bin["references_before"]["obama2.jpg"] == pytest.approx(0.35, abs=0.015)  # obama vs obama2, unprotected
    # measured on the written file, not copied from the unprotected photo
    assert dlib_bin["vs_references"]["obama2.jpg"] != pytest.approx(dlib_bin["references_before"]["obama2.jpg"],
                                                                     abs=1e-3)
    # the one rule (`verdict.ModelVerdict.recognised`): with references they decide (a distance below 0.6 to any of
    # them); the distance to the unprotected original is reported but does not count
    still = dlib_bin["vs_references"]["obama2.jpg"] < 0.6
    assert dlib_bin["recognised"] == still
    assert (side["status"] == "protected") == (not any(r["recognised"] for r in rows.values()))


def test_explicit_surrogates_leave_the_other_present_models_as_held_out_judges(tmp_path, faces_dir, monkeypatch,
                                                                                 package_weights):
    """`surrogates=["dlib"]` with sface present: sface judges the result too, marked held out (transfer)."""
    home = tmp_path / "home"
    (home / "fr" / "sface").mkdir(parents=True)
    (home / "fr" / "sface" / package_weights("sface").name).symlink_to(package_weights("sface"))
    monkeypatch.setenv("MASQUE_HOME", str(home))
    report = masque.protect(faces_dir / "obama.jpg", "red lipstick", out=tmp_path / "o.png",
                            pair=[faces_dir / "obama2.jpg"], **FAST)
    side = json.loads(report.sidecar.read_text())
    assert side["settings"]["surrogates"] == ["dlib"]
    rows = {r["model"]: r for r in side["faces"][0]["verdict"]["models"]}
    assert {m: r["role"] for m, r in rows.items()} == {"dlib": "surrogate", "sface": "held-out",
                                                      "dlib-bin": "independent"}
    sface = rows["sface"]
    assert sface["threshold"] == pytest.approx(0.3729, abs=1e-3)
    assert sface["references_before"]["obama2.jpg"] > sface["threshold"]  # sface recognises obama in obama2 before
    assert sface["recognised"] == (sface["vs_original"] >= sface["threshold"]
                                   or sface["vs_references"]["obama2.jpg"] >= sface["threshold"])


def test_until_protected_holds_one_present_model_out_and_records_each_level(tmp_path, faces_dir, monkeypatch,
                                                                            package_weights):
    """No `surrogates` named, dlib and sface present: escalation optimises on dlib only and sface (the default
    held-out judge, `DEFAULT_HELD_OUT`, named with its reason) judges as held out; the sidecar records every level
    tried (JPEG in, JPEG out: each step judged on the quantised pixels, the final verdict on the written file)."""
    home = tmp_path / "home"
    (home / "fr" / "sface").mkdir(parents=True)
    (home / "fr" / "sface" / package_weights("sface").name).symlink_to(package_weights("sface"))
    monkeypatch.setenv("MASQUE_HOME", str(home))
    options = {**FAST, "surrogates": None, "engine_options": {"config": ParametricConfig(steps=1, strength="bold")}}
    report = masque.protect(faces_dir / "obama.jpg", "red lipstick", out=tmp_path / "o.jpg", until_protected=True,
                            **options)
    side = json.loads(report.sidecar.read_text())
    assert side["settings"]["surrogates"] == ["dlib"]
    assert side["settings"]["until_protected"] == {"levels": ["bold", "max"], "max_strength": "max",
                                                   "held_out": ["sface"], "held_out_by_rule": ["sface"],
                                                   "held_out_rule": held_out_model(["dlib", "sface"]).to_dict()}
    assert side["settings"]["until_protected"]["held_out_rule"]["reason"].startswith("the default held-out judge")
    face = side["faces"][0]
    assert [s["strength"] for s in face["escalation"]] == ["bold", "max"][:len(face["escalation"])]
    assert face["escalation"][-1]["status"] == face["status"]  # the last step's pixels are what was written
    with pytest.raises(InputError, match="`max_strength` caps `until_protected`"):
        masque.Protector("red lipstick", engine="parametric", max_strength="bold")
