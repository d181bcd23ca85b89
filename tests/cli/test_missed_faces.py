"""`masque protect` says how many faces it protected and which regions may be faces it missed (issue 9, item 5)."""

from __future__ import annotations

import json

from PIL import Image

from masque.cli import main


def _two_faces(faces_dir, tmp_path):
    img = Image.open(faces_dir / "obama.jpg").convert("RGB")
    img.thumbnail((500, 500))
    canvas = Image.new("RGB", (1000, 560), (128, 128, 128))
    canvas.paste(img, (20, 30))
    canvas.paste(img.rotate(50, fillcolor=(128, 128, 128)), (520, 30))  # HOG scores it just under its threshold
    photo = tmp_path / "two.png"
    canvas.save(photo)
    return photo


def test_summary_and_sidecar_report_possibly_missed_faces(tmp_path, faces_dir, capsys):
    photo = _two_faces(faces_dir, tmp_path)
    try:
        main(["protect", str(photo), "-p", "red lipstick", "--engine", "parametric", "--steps", "1", "--surrogates",
              "dlib", "--detector", "hog", "--out", str(tmp_path / "o.png")])
    except SystemExit as exc:
        assert exc.code in (0, None)
    err = " ".join(capsys.readouterr().err.split())
    side = json.loads((tmp_path / "o.png.json").read_text())
    assert side["faces_found"] == 1 and len(side["faces"]) == 1
    assert len(side["faces_possibly_missed"]) == 1 and side["faces_possibly_missed"][0]["box"][0] > 500
    assert "faces found: 1," in err
    assert "1 more region may be a face that was not protected" in err and "--detector hog+cnn" in err


def test_the_default_detector_lets_cnn_confirm_a_face_hog_was_unsure_of(tmp_path, faces_dir, capsys):
    """Issue 29: by default (`auto`) a region HOG was unsure of is looked at again by CNN, which finds the turned
    face: both faces are protected and nothing is left "possibly missed"."""
    photo = _two_faces(faces_dir, tmp_path)
    try:
        main(["protect", str(photo), "-p", "red lipstick", "--engine", "parametric", "--steps", "1", "--surrogates",
              "dlib", "--out", str(tmp_path / "o.png")])
    except SystemExit as exc:
        assert exc.code in (0, None)
    err = " ".join(capsys.readouterr().err.split())
    side = json.loads((tmp_path / "o.png.json").read_text())
    assert side["settings"]["detector"] == "auto"
    assert side["faces_found"] == 2 and side["faces_possibly_missed"] == [], side["faces_possibly_missed"]
    assert "faces found: 2," in err and "may be a face" not in err
