"""Occluded regions (issue 21, item 3): the child's fringe is found, faces nobody covers lose nothing, and painted
occluders (sunglasses, a blue or white mask) are seen for what they are."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import numpy as np
import pytest
from scipy.ndimage import distance_transform_edt
from skimage.draw import polygon as draw_polygon

from masque.errors import InputError
from masque.faces.align import align_face, apply_matrix
from masque.faces.detect import detect
from masque.faces.occlusion import OcclusionConfig, find_occlusion
from masque.faces.regions import REGIONS, LandmarkRegions, MaskConfig
from masque.faces.templates import generation_template
from masque.io import read_image
from masque.pipeline.prepare import occlusion_of

DATA = Path(__file__).parents[1] / "data"
GROUP = DATA / "groups" / "obama_and_biden.jpg"
CROP = 256  # the parametric engine's crop


@cache
def _faces(path: Path):
    rgb = read_image(path).rgb
    return rgb, detect(rgb).faces


def _aligned(path: Path, index: int):
    rgb, faces = _faces(path)
    return align_face(rgb, faces[index], generation_template(CROP))


UNOCCLUDED = [("faces/obama.jpg", 0), ("faces/obama2.jpg", 0), ("faces/obama3.jpg", 0), ("faces/biden.jpg", 0),
              ("groups/obama_and_biden.jpg", 0), ("groups/obama_and_biden.jpg", 1), ("groups/kit_with_rose.jpg", 0),
              ("groups/kit_with_rose.jpg", 1), ("identities/kit2.jpg", 0), ("identities/rose1.jpg", 0)]


@pytest.mark.parametrize(("photo", "index"), UNOCCLUDED)
def test_faces_nobody_covers_keep_every_region(photo, index):
    """No false positive: kit2's dark deep-set eyes, rose1's hair on the temple, obama's grey brows stay painted."""
    al = _aligned(DATA / photo, index)
    occ = occlusion_of(al)
    assert occ.bare(REGIONS) == (), {r: o.to_dict() for r, o in occ.regions.items()}
    assert not occ.cut.any()


def _hair_in_crop(al) -> np.ndarray:
    """The hand-annotated fringe (photo pixels, tests/data/groups/obama_and_biden_hair.json) drawn in crop pixels."""
    out = np.zeros(al.crop.shape[:2], bool)
    for poly in json.loads((DATA / "groups" / "obama_and_biden_hair.json").read_text())["polygons"]:
        pts = apply_matrix(al.matrix, np.asarray(poly, float))
        rr, cc = draw_polygon(pts[:, 1], pts[:, 0], out.shape)
        out[rr, cc] = True
    return out


def test_child_under_her_fringe_eyes_and_brows_left_bare_hair_cut_skin_kept():
    rgb, faces = _faces(GROUP)
    child = min(range(len(faces)), key=lambda i: faces[i].area)
    assert faces[child].box[0] > 1500  # the child at the right edge
    al = _aligned(GROUP, child)
    occ = occlusion_of(al)
    assert occ.bare(REGIONS) == ("eyes", "brows")
    assert "hair" in occ.regions["eyes"].reason
    hair = _hair_in_crop(al)
    # the whole annotated fringe is cut, with the 1 px the paste-back's bilinear warp reaches
    reach = distance_transform_edt(~hair) <= 1.5
    assert hair.sum() > 5000 and occ.cut[reach].all()
    # her visible skin is kept: most of her cheeks and lips stay paintable (the image-left third of the lip polygon
    # lies on the strand and its shadow beside her mouth: her landmarks are guesses there)
    geo = LandmarkRegions(al.landmarks68, al.crop.shape[:2], MaskConfig())
    for region, least in (("cheeks", 0.7), ("lips", 0.55)):
        assert (~occ.cut[geo.hard(region)]).mean() >= least, region


def _obama():
    al = _aligned(DATA / "faces" / "obama.jpg", 0)
    return al, LandmarkRegions(al.landmarks68, al.crop.shape[:2], MaskConfig())


def test_sunglasses_leave_the_eyes_bare_and_nothing_else():
    al, geo = _obama()
    crop = al.crop.copy()
    lenses = geo.eye_areas()
    crop[lenses] = (22, 20, 24)
    occ = find_occlusion(crop, al.landmarks68)
    assert occ.bare(REGIONS) == ("eyes",)
    assert occ.cut[lenses].all() and not occ.cut[geo.lips()].any()


@pytest.mark.parametrize("colour", [(140, 185, 215), (236, 236, 232)], ids=["blue-mask", "white-mask"])
def test_a_face_mask_leaves_the_lips_bare_and_is_cut_from_the_cheeks(colour):
    """A surgical mask is not dark: the colour evidence (another hue, or no chroma) finds it."""
    al, geo = _obama()
    lm = al.landmarks68
    mask_poly = np.vstack([lm[2:15], lm[[35, 33, 31]] + [0, 0.0]])  # jaw from ear to ear, over the nose wings
    covered = np.zeros(al.crop.shape[:2], bool)
    rr, cc = draw_polygon(mask_poly[:, 1], mask_poly[:, 0], covered.shape)
    covered[rr, cc] = True
    crop = al.crop.copy()
    crop[covered] = colour
    occ = find_occlusion(crop, lm)
    assert "lips" in occ.bare(REGIONS) and "eyes" not in occ.bare(REGIONS)
    assert "not skin-coloured" in occ.regions["lips"].reason
    assert occ.cut[covered & geo.skin()].mean() > 0.99  # the mask is cut from the visible skin around it
    assert not occ.cut[geo.eyes()].any()


def test_a_half_covered_eye_is_bare_only_when_its_landmarks_are_guesses():
    al, geo = _obama()
    eyes = geo.eyes()
    ys = np.nonzero(eyes)[0]
    half = eyes & (np.arange(eyes.shape[0])[:, None] < np.median(ys))  # the upper half of each eye ring
    crop = al.crop.copy()
    crop[half] = (15, 12, 10)
    sure = find_occlusion(crop, al.landmarks68, spread=np.full(68, 0.01 * 64))
    assert 0.45 <= sure.regions["eyes"].covered < 0.6 and not sure.regions["eyes"].occluded
    unsure = find_occlusion(crop, al.landmarks68, spread=np.full(68, 0.2 * geo.u))
    assert unsure.regions["eyes"].occluded and unsure.regions["eyes"].guessed
    assert "guesses" in unsure.regions["eyes"].reason
    assert not unsure.regions["cheeks"].occluded  # skin areas are never judged by the lower share


def test_landmark_spread_is_measured_from_the_jittered_predictions():
    rgb, faces = _faces(DATA / "faces" / "obama.jpg")
    spread = faces[0].landmark_spread
    assert spread is not None and spread.shape == (68,) and np.isfinite(spread).all() and spread.max() > 0
    assert detect(rgb, landmark_samples=1).faces[0].landmark_spread is None


def test_config_refuses_inconsistent_thresholds():
    with pytest.raises(InputError, match="`guessed`"):
        OcclusionConfig(guessed=0.7, occluded=0.6)
    with pytest.raises(InputError, match="`dark`"):
        OcclusionConfig(dark=0.0)
    with pytest.raises(InputError, match="`landmarks`"):
        find_occlusion(np.zeros((64, 64, 3), np.uint8), np.zeros((5, 2)))
