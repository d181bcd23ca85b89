"""Real photos are read and detected once per test session (HOG on 2 CPU cores is the slow part)."""

from __future__ import annotations

import pytest

from masque.faces.align import align_face
from masque.faces.detect import detect_faces
from masque.io import read_image

PHOTOS = ("obama.jpg", "obama2.jpg", "obama3.jpg", "biden.jpg", "32bit.png")


@pytest.fixture(scope="session")
def photos(faces_dir):
    return {name: read_image(faces_dir / name) for name in PHOTOS}


@pytest.fixture(scope="session")
def detections(photos):
    return {name: detect_faces(img.rgb) for name, img in photos.items()}


@pytest.fixture(scope="session")
def aligned(photos, detections):
    """The largest face of every photo in the default 512 generation framing."""
    return {name: align_face(photos[name].rgb, faces[0]) for name, faces in detections.items()}
