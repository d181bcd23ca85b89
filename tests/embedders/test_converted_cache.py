"""Foreign-format weights are parsed once and read from MASQUE's converted copy after that (issue 15): the copy gives
the same network, and a torn copy is parsed again instead of failing."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch
from PIL import Image

from masque.embedders import create_embedder
from masque.embedders.dlib_resnet import DlibResNet
from masque.embedders.registry import default_weights
from masque.embedders.weights import converted_copy, converter_modules
from masque.paths import converted_path, source_fingerprint

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
    copy = converted_copy(source, "dlib", DlibResNet)
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
    copy = converted_copy(source, "dlib", DlibResNet)
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
    assert converted_path(f, "dlib", converter="a") != converted_path(f, "dlib", converter="b")


def test_changed_converter_code_does_not_reuse_a_converted_file(home, monkeypatch):
    """A converter bug (say a transposed weight view in dlib_resnet.py) must not hide behind a copy an earlier run
    wrote: the copies are keyed by the converters' source, so changed code converts again."""
    import masque.embedders.weights as weights

    source = default_weights("dlib")
    create_embedder("dlib")
    old = converted_copy(source, "dlib", DlibResNet)
    assert old.is_file()
    monkeypatch.setattr(weights, "source_fingerprint", lambda files: "changed-code")
    new = converted_copy(source, "dlib", DlibResNet)
    assert new != old and not new.exists()
    create_embedder("dlib")  # converts again instead of reading the old copy
    assert new.is_file()


def test_the_fingerprint_is_the_converters_source(tmp_path):
    code = tmp_path / "convert.py"
    code.write_text("W = 'x.view(a, b).T'\n")
    before = source_fingerprint((code,))
    code.write_text("W = 'x.view(b, a)'\n")
    source_fingerprint.cache_clear()
    assert source_fingerprint((code,)) != before
    source_fingerprint.cache_clear()


def test_the_cache_key_is_the_code_that_converts_this_model_only():
    """dlib's copy is keyed by its port and its reader, not by every file under embedders/: an edit to another
    model's converter (sface.py, the ONNX reader) keeps it."""
    from masque.embedders.sface import SFaceNet
    from masque.embedders.zoo import IRBackbone

    assert converter_modules(DlibResNet) == ("masque.embedders.dlib_resnet", "masque.embedders.formats.dlib_format")
    assert converter_modules(SFaceNet) == ("masque.embedders.formats.onnx_format", "masque.embedders.sface")
    assert "masque.embedders.formats.onnx_format" not in converter_modules(DlibResNet)
    assert converter_modules(IRBackbone) == ("masque.embedders.irse",)  # a state-dict model converts nothing


def test_saved_hog_detector_finds_the_same_faces(home, faces_dir):
    import dlib

    from masque.faces import detect

    rgb = np.asarray(Image.open(faces_dir / "obama.jpg").convert("RGB"))
    detect._hog.cache_clear()
    try:
        built = detect.detect_candidates(rgb, threshold=-0.5)  # builds dlib's detector and saves it
        # the whole key stays in the name (`with_suffix(".svm")` would cut it at the dot of dlib's version)
        saved = converted_path(dlib.__file__, f"hog-frontal-{dlib.__version__}", suffix=".svm")
        assert [p.name for p in (home / "converted").glob("hog-frontal-*")] == [saved.name]
        detect._hog.cache_clear()
        loaded = detect.detect_candidates(rgb, threshold=-0.5)  # reads the saved copy
        assert isinstance(detect._hog(), dlib.fhog_object_detector)
    finally:
        detect._hog.cache_clear()
    assert len(built) == len(loaded) >= 1
    for (box_a, score_a), (box_b, score_b) in zip(built, loaded, strict=True):
        np.testing.assert_allclose(box_a, box_b, atol=1e-9)
        assert abs(score_a - score_b) <= 1e-9
