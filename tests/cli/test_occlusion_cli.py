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


def test_full_glam_paints_nothing_on_the_childs_hair(tmp_path, capsys):
    photo = tmp_path / "group.png"  # a PNG copy: input and output compare exactly
    Image.open(GROUPS / "obama_and_biden.jpg").convert("RGB").save(photo)
    out = tmp_path / "out.png"
    try:  # --faces 2: the smallest face, the child at the right edge
        main(["protect", str(photo), "-p", "full glam", "--engine", "parametric", "--steps", "2", "--surrogates",
              "dlib", "--faces", "2", "--out", str(out)])
    except SystemExit as exc:
        assert exc.code in (0, None, 3)  # 3: still recognised (two steps protect nobody); the picture is the point
    err = " ".join(capsys.readouterr().err.split())
    before = np.asarray(Image.open(photo).convert("RGB")).astype(int)
    after = np.asarray(Image.open(out).convert("RGB")).astype(int)
    changed = np.abs(after - before).max(-1) > 0

    hair = np.zeros(changed.shape, bool)  # hand-annotated, independent of the detector (how: in the JSON)
    for poly in json.loads((GROUPS / "obama_and_biden_hair.json").read_text())["polygons"]:
        pts = np.asarray(poly, float)
        rr, cc = draw_polygon(pts[:, 1], pts[:, 0], hair.shape)
        hair[rr, cc] = True
    side = json.loads((tmp_path / "out.png.json").read_text())
    (face,) = side["faces"]
    left, top, right, bottom = face["box"]
    assert left > 1500 and hair[top:bottom, left:right].sum() > 2000  # the child, and her fringe inside her box
    assert changed[top:bottom, left:right].sum() > 1000  # her visible skin and lips got makeup
    assert not changed[hair].any(), f"{int(changed[hair].sum())} hair pixels changed"

    assert list(face["bare_regions"]) == ["eyes", "brows"]
    assert all("covered by hair" in why for why in face["bare_regions"].values())
    assert face["occlusion"]["regions"]["eyes"]["occluded"] and not face["occlusion"]["regions"]["lips"]["occluded"]
    assert "face 0 left bare: eyes: covered by hair" in err and "brows: covered by hair" in err
