"""`masque protect` on the child under her fringe (issue 21, item 3): not one pixel of her hair changes, and the summary
and the sidecar say which regions were left bare and why."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image
from skimage.draw import polygon as draw_polygon

from masque.cli import main

GROUPS = Path(__file__).parents[1] / "data" / "groups"


def _protect_child(tmp_path: Path, *argv: str) -> tuple[np.ndarray, np.ndarray, dict]:
    """Protect the child (--faces 2: the smallest face) in a PNG copy of the group photo (input and output compare
    exactly); (changed pixels, hair pixels, sidecar)."""
    photo = tmp_path / "group.png"
    Image.open(GROUPS / "obama_and_biden.jpg").convert("RGB").save(photo)
    out = tmp_path / "out.png"
    try:
        main(["protect", str(photo), "--faces", "2", "--out", str(out), *argv])
    except SystemExit as exc:
        assert exc.code in (0, None, 3)  # 3: still recognised (a few steps protect nobody); the picture is the point
    before = np.asarray(Image.open(photo).convert("RGB")).astype(int)
    after = np.asarray(Image.open(out).convert("RGB")).astype(int)
    changed = np.abs(after - before).max(-1) > 0
    hair = np.zeros(changed.shape, bool)  # hand-annotated, independent of the detector (how: in the JSON)
    for poly in json.loads((GROUPS / "obama_and_biden_hair.json").read_text())["polygons"]:
        pts = np.asarray(poly, float)
        rr, cc = draw_polygon(pts[:, 1], pts[:, 0], hair.shape)
        hair[rr, cc] = True
    return changed, hair, json.loads((tmp_path / "out.png.json").read_text())


def test_full_glam_paints_nothing_on_the_childs_hair(tmp_path, capsys):
    changed, hair, side = _protect_child(tmp_path, "-p", "full glam", "--engine", "parametric", "--steps", "2",
                                         "--surrogates", "dlib")
    err = " ".join(capsys.readouterr().err.split())
    (face,) = side["faces"]
    left, top, right, bottom = face["box"]
    assert left > 1500 and hair[top:bottom, left:right].sum() > 2000  # the child, and her fringe inside her box
    assert changed[top:bottom, left:right].sum() > 1000  # her visible skin and lips got makeup
    assert not changed[hair].any(), f"{int(changed[hair].sum())} hair pixels changed"

    assert list(face["bare_regions"]) == ["eyes", "brows"]
    assert all("covered by hair" in why for why in face["bare_regions"].values())
    assert face["occlusion"]["regions"]["eyes"]["occluded"] and not face["occlusion"]["regions"]["lips"]["occluded"]
    assert "face 0 left bare: eyes: covered by hair" in err and "brows: covered by hair" in err


def test_the_diffusion_engine_gets_the_same_bare_regions(tmp_path, tiny_sd_dir):
    """Both engines read the one prepared job: the tiny SD edits the child's visible face, never her fringe."""
    changed, hair, side = _protect_child(tmp_path, "-p", "red lipstick, smoky eyeshadow, foundation", "--engine",
                                         "diffusion", "--model", str(tiny_sd_dir), "--steps", "2", "--surrogates",
                                         "tiny-random", "--quiet")
    (face,) = side["faces"]
    left, top, right, bottom = face["box"]
    assert changed[top:bottom, left:right].sum() > 1000
    assert not changed[hair].any(), f"{int(changed[hair].sum())} hair pixels changed"
    assert list(face["bare_regions"]) == ["eyes"]
