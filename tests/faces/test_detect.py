from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from masque.errors import InputError, NoFaceError
from masque.faces.detect import Face, auto_scale, detect_faces, select_faces


@pytest.mark.parametrize("name", ["obama.jpg", "obama3.jpg", "biden.jpg", "obama2.jpg"])
def test_one_face_per_photo(detections, photos, name):
    faces = detections[name]
    assert len(faces) == 1
    face = faces[0]
    h, w = photos[name].rgb.shape[:2]
    assert face.landmarks68.shape == (68, 2)
    left, top, right, bottom = face.box
    assert 0 <= left < right < w and 0 <= top < bottom < h
    # the landmarks sit on the detected face: their centre lies inside the box
    cx, cy = face.landmarks68.mean(0)
    assert left < cx < right and top < cy < bottom


def test_rgba_copy_gives_same_landmarks(detections, photos):
    assert photos["32bit.png"].alpha is not None  # alpha was split off, RGB detected
    a, b = detections["obama2.jpg"], detections["32bit.png"]
    assert len(a) == len(b) == 1
    assert np.abs(a[0].landmarks68 - b[0].landmarks68).max() <= 1.0


def test_points5_geometry(detections):
    p = detections["obama.jpg"][0].points5
    assert p.shape == (5, 2)
    left_eye, right_eye, nose, mouth_l, mouth_r = p
    assert left_eye[0] < nose[0] < right_eye[0]
    assert mouth_l[0] < mouth_r[0]
    assert max(left_eye[1], right_eye[1]) < nose[1] < min(mouth_l[1], mouth_r[1])


def test_every_face_returned_largest_first(photos, detections):
    """Two copies of one face at different sizes on a canvas: both found, the bigger first."""
    rgb = photos["obama.jpg"].rgb
    left, top, right, bottom = detections["obama.jpg"][0].box
    pad = (right - left) // 2
    head = Image.fromarray(rgb[max(top - pad, 0) : bottom + pad, max(left - pad, 0) : right + pad])
    big, small = (
        head.resize((320, 320 * head.height // head.width)),
        head.resize((160, 160 * head.height // head.width)),
    )
    canvas = Image.new("RGB", (560, 480), (128, 128, 128))
    canvas.paste(small, (20, 40))
    canvas.paste(big, (220, 20))
    faces = detect_faces(np.asarray(canvas))
    assert len(faces) == 2
    assert faces[0].area > faces[1].area
    assert faces[0].box[0] > 200 and faces[1].box[0] < 200


def test_blank_photo_has_no_face():
    assert detect_faces(np.full((200, 300, 3), 127, np.uint8)) == []


def test_integer_upsample_and_cnn_agree_with_default(photos, detections):
    small = np.asarray(Image.fromarray(photos["obama.jpg"].rgb).reduce(2))
    ref = detections["obama.jpg"][0].landmarks68 / 2
    for kwargs in ({"upsample": 0}, {"detector": "cnn", "upsample": 0}):
        faces = detect_faces(small, **kwargs)
        assert len(faces) == 1, kwargs
        # landmarks come from the same shape model; the box differs a little between detectors
        assert np.median(np.linalg.norm(faces[0].landmarks68 - ref, axis=1)) < 4.0, kwargs


def test_auto_scale_enlarges_small_and_shrinks_huge():
    assert auto_scale(200, 300) == pytest.approx(4.0)  # capped zoom
    assert auto_scale(6000, 4000) < 1.0
    assert auto_scale(6000, 4000, "cnn") < auto_scale(6000, 4000, "hog")
    assert auto_scale(6000, 4000, pixels=4_000_000) == pytest.approx(2 * auto_scale(6000, 4000, pixels=1_000_000))


def test_select_faces(detections):
    face = detections["obama.jpg"][0]
    other = Face(box=(0, 0, 10, 10), landmarks68=face.landmarks68, score=0.0)
    assert select_faces([other, face], "largest") == [face]
    assert select_faces([other, face], "all") == [face, other]
    assert select_faces([other, face], 1) == [other]
    assert select_faces([other, face], "1") == [other]
    with pytest.raises(InputError, match=r"`faces` .*\[0, 0\].*1 face found"):
        select_faces([face], 3)
    with pytest.raises(NoFaceError):
        select_faces([], "all")


@pytest.mark.parametrize(
    ("rgb", "kwargs", "match"),
    [
        (np.zeros((10, 10), np.uint8), {}, "rgb"),
        (np.zeros((10, 10, 3), np.float32), {}, "rgb"),
        (np.zeros((10, 10, 3), np.uint8), {"detector": "mtcnn"}, "detector"),
        (np.zeros((10, 10, 3), np.uint8), {"upsample": -1}, "upsample"),
    ],
)
def test_bad_arguments(rgb, kwargs, match):
    with pytest.raises(InputError, match=match):
        detect_faces(rgb, **kwargs)


def test_auto_upsampling_finds_small_faces(photos):
    """A 160-px-wide portrait (face ~45 px): dlib at its own scale misses it, the automatic zoom finds it."""
    im = Image.fromarray(photos["obama.jpg"].rgb)
    small = np.asarray(im.resize((160, 160 * im.height // im.width), Image.Resampling.LANCZOS))
    assert detect_faces(small, upsample=0) == []
    faces = detect_faces(small)
    assert len(faces) == 1
    left, top, right, bottom = faces[0].box
    assert 30 < right - left < 70
