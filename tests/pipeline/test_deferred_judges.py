"""Held-out judges embed the original together with the protected face (one batched pass, issue 15): the verdict is
the one the judges give when they embed the original first."""

from __future__ import annotations

import numpy as np
import pytest

from masque.embedders import create_embedder
from masque.errors import InputError
from masque.faces.detect import detect
from masque.io import read_image
from masque.pipeline import Judge
from masque.trace import CostTrace

TOL = 1e-5  # batched vs single convolutions: float rounding only


def test_deferred_original_gives_the_same_verdict_in_fewer_passes(faces_dir):
    models = [create_embedder("dlib"), create_embedder("tiny-random")]
    judge = Judge(models, surrogates={"dlib"}, dlib_bin=False)
    rgb = read_image(faces_dir / "obama.jpg").rgb
    face = detect(rgb).faces[0]
    protected = np.clip(rgb.astype(int) + np.random.default_rng(0).integers(-20, 21, rgb.shape), 0, 255).astype(
        np.uint8)
    eager_trace, lazy_trace = CostTrace(), CostTrace()
    eager = judge.verdict(judge.original(rgb, face, 0, eager_trace), protected, trace=eager_trace)
    lazy_original = judge.original(rgb, face, 0, lazy_trace, defer=["tiny-random"])
    assert set(lazy_original.embeddings) == {"dlib"} and lazy_original.crop is not None
    lazy = judge.verdict(lazy_original, protected, trace=lazy_trace)
    assert set(lazy_original.embeddings) == {"dlib", "tiny-random"}  # completed by the verdict
    for a, b in zip(eager.models, lazy.models, strict=True):
        assert (a.model, a.role, a.verdict) == (b.model, b.role, b.verdict)
        assert abs(a.vs_original - b.vs_original) <= TOL
    assert eager_trace.forward["judge:tiny-random"] == 2 and lazy_trace.forward["judge:tiny-random"] == 1
    assert eager_trace.forward["judge:dlib"] == lazy_trace.forward["judge:dlib"] == 2


def test_deferred_without_the_crop_is_a_clear_error(faces_dir):
    judge = Judge([create_embedder("tiny-random")], dlib_bin=False)
    rgb = read_image(faces_dir / "obama.jpg").rgb
    face = detect(rgb).faces[0]
    original = judge.original(rgb, face, 0, defer=["tiny-random"])
    original.crop = None
    with pytest.raises(InputError, match="lacks the embeddings"):
        judge.verdict(original, rgb)
