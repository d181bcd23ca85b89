"""The single-photo command's detection in a forked process (`masque.prefetch`): it must change nothing but time."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from masque.faces.detect import detect
from masque.io import read_image
from masque.prefetch import DetectionPrefetch, pixel_digest

FACES = Path(__file__).parent / "data" / "faces"
# a fresh interpreter (no torch imported, as in the console script) runs the prefetch and pickles what it got
CHILD = """
import pickle, sys
from masque.io import read_image
from masque.prefetch import DetectionPrefetch
p = DetectionPrefetch.start(sys.argv[1], "hog", 10**9)
assert p is not None, "prefetch did not start"
rgb = read_image(sys.argv[2]).rgb
sys.stdout.buffer.write(pickle.dumps(p.result(rgb)))
"""


def _prefetched(photo: Path, pixels_of: Path):
    out = subprocess.run([sys.executable, "-c", CHILD, str(photo), str(pixels_of)], capture_output=True, check=True,
                         timeout=120, env={**os.environ, "OMP_NUM_THREADS": "1"})
    return pickle.loads(out.stdout)


def test_prefetched_detection_is_the_inline_one():
    photo = FACES / "obama.jpg"
    got = _prefetched(photo, photo)
    want = detect(read_image(photo).rgb)
    assert got is not None and len(got.faces) == len(want.faces) == 1
    assert got.faces[0].box == want.faces[0].box
    np.testing.assert_allclose(got.faces[0].landmarks68, want.faces[0].landmarks68, atol=1e-9)
    assert got.possibly_missed == want.possibly_missed


def test_other_pixels_or_a_bad_photo_give_nothing(tmp_path):
    assert _prefetched(FACES / "obama.jpg", FACES / "biden.jpg") is None  # the command read different pixels
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not an image")
    assert _prefetched(bad, FACES / "obama.jpg") is None  # the child failed: the command detects (and errs) itself


def test_not_started_once_torch_is_loaded():
    import torch  # noqa: F401  (torch's threads do not survive a fork)

    assert DetectionPrefetch.start(FACES / "obama.jpg", "hog", 10**9) is None


def test_digest_sees_every_pixel():
    rgb = np.zeros((4, 5, 3), np.uint8)
    other = rgb.copy()
    other[3, 4, 2] = 1
    assert pixel_digest(rgb) != pixel_digest(other)
    assert pixel_digest(rgb) != pixel_digest(rgb.reshape(5, 4, 3))


@pytest.mark.parametrize("argv_extra", [["--steps", "2", "--surrogates", "dlib"]])
def test_console_script_writes_what_the_in_process_command_writes(tmp_path, argv_extra):
    """The console script (prefetching, fresh process) and `main(argv)` (no prefetch) give the same photo."""
    from masque.cli import main

    photo = FACES / "obama.jpg"
    args = ["protect", str(photo), "-p", "red lipstick", "--engine", "parametric", "-q", *argv_extra]
    subprocess.run([sys.executable, "-c", "from masque.cli import main; main()", *args, "-o",
                    str(tmp_path / "a.png")], check=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # like the subprocess: convolutions round by thread count, and the optimiser amplifies it
    try:
        with pytest.raises(SystemExit) as exit_info:
            main([*args, "-o", str(tmp_path / "b.png")])
    finally:
        torch.set_num_threads(threads)
    assert not exit_info.value.code
    a, b = (np.asarray(Image.open(tmp_path / f"{n}.png")) for n in "ab")
    assert np.abs(a.astype(int) - b.astype(int)).max() <= 1  # summation order may still move a pixel by one level
    sides = [json.loads((tmp_path / f"{n}.png.json").read_text()) for n in "ab"]
    assert [f["box"] for f in sides[0]["faces"]] == [f["box"] for f in sides[1]["faces"]]
