"""Foreign-format weights are parsed once and read from MASQUE's converted copy after that (issue 15): the copy gives
the same network, and a torn copy is parsed again instead of failing."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch
from PIL import Image

from masque.embedders import create_embedder
from masque.embedders.registry import CONVERTER_VERSION, default_weights
from masque.paths import converted_path

TOL = 1e-6  # the copy holds the parsed tensors themselves: outputs agree to float rounding


def _input() -> torch.Tensor:
    torch.manual_seed(0)
    return torch.rand(2, 3, 150, 150)


@pytest.fixture()
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("MASQUE_HOME", str(tmp_path))
    return tmp_path


def test_dlib_dat_is_parsed_once_then_read_from_the_copy(home):
    source = default_weights("dlib")
    copy = converted_path(source, "dlib", CONVERTER_VERSION).with_suffix(".pt")
    assert not copy.exists()
    first = create_embedder("dlib")
    assert copy.is_file() and copy.is_relative_to(home)
    second = create_embedder("dlib")
    x = _input()
    with torch.no_grad():
        torch.testing.assert_close(second.backbone(x), first.backbone(x), rtol=0, atol=TOL)


def test_torn_copy_is_parsed_again(home):
    source = default_weights("dlib")
    create_embedder("dlib")
    copy = converted_path(source, "dlib", CONVERTER_VERSION).with_suffix(".pt")
    copy.write_bytes(b"not a checkpoint")
    model = create_embedder("dlib")  # no error: the .dat is parsed again and the copy rewritten
    reference = create_embedder("dlib", weights=source)
    x = _input()
    with torch.no_grad():
        torch.testing.assert_close(model.backbone(x), reference.backbone(x), rtol=0, atol=TOL)
    assert copy.stat().st_size > 1_000_000


def test_changed_source_gets_a_new_key(tmp_path):
    f = tmp_path / "w.dat"
    f.write_bytes(b"a")
    before = converted_path(f, "dlib")
    time.sleep(0.01)
    f.write_bytes(b"ab")
    assert converted_path(f, "dlib") != before
    assert converted_path(f, "dlib", version=2) != converted_path(f, "dlib", version=1)


def test_saved_hog_detector_finds_the_same_faces(home, faces_dir):
    import dlib

    from masque.faces import detect

    rgb = np.asarray(Image.open(faces_dir / "obama.jpg").convert("RGB"))
    detect._hog.cache_clear()
    try:
        built = detect.detect_candidates(rgb, threshold=-0.5)  # builds dlib's detector and saves it
        assert list((home / "converted").glob("hog-frontal-*.svm"))
        detect._hog.cache_clear()
        loaded = detect.detect_candidates(rgb, threshold=-0.5)  # reads the saved copy
        assert isinstance(detect._hog(), dlib.fhog_object_detector)
    finally:
        detect._hog.cache_clear()
    assert len(built) == len(loaded) >= 1
    for (box_a, score_a), (box_b, score_b) in zip(built, loaded, strict=True):
        np.testing.assert_allclose(box_a, box_b, atol=1e-9)
        assert abs(score_a - score_b) <= 1e-9
