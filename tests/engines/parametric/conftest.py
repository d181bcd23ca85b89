"""A real face (tests/data/faces/obama.jpg) aligned to a small generation crop, with its 68 landmarks."""

from __future__ import annotations

import pytest

SIZE = 128


def _aligned(path):
    from masque.faces.align import align_face
    from masque.faces.detect import detect_faces
    from masque.faces.templates import generation_template
    from masque.io import read_image

    rgb = read_image(path).rgb
    return align_face(rgb, detect_faces(rgb)[0], generation_template(SIZE))


@pytest.fixture(scope="session")
def face(faces_dir):
    from masque.faces.align import crop_to_tensor

    aligned = _aligned(faces_dir / "obama.jpg")
    return aligned, crop_to_tensor(aligned.crop)


@pytest.fixture(scope="session")
def pair(faces_dir):
    from masque.faces.align import crop_to_tensor

    return crop_to_tensor(_aligned(faces_dir / "obama2.jpg").crop)
