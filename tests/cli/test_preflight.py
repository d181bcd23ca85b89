"""Bad inputs fail before any model loads (issue 21, item 2): every photo, pair and mask is decoded and the prompt is
parsed with the makeup vocabulary first, so a bad one is one line and exit 2 in about the time `masque --help` takes,
before the "Engine: …" line."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from masque import api
from masque.cli import run as _run
from masque.engines import auto as engine_auto
from masque.engines import base as engine_base

SRC = Path(__file__).resolve().parents[2] / "src"



@pytest.fixture
def files(tmp_path, faces_dir) -> dict[str, Path]:
    """A good photo and four bad inputs: empty, truncated JPEG (header intact), not an image, a mask of the wrong
    size; plus an empty output folder."""
    good = tmp_path / "good.jpg"
    shutil.copy(faces_dir / "obama.jpg", good)
    data = good.read_bytes()
    paths = {"good": good, "empty": tmp_path / "empty.jpg", "truncated": tmp_path / "truncated.jpg",
             "text": tmp_path / "notes.jpg", "small_mask": tmp_path / "mask.png", "out": tmp_path / "out"}
    paths["empty"].write_bytes(b"")
    paths["truncated"].write_bytes(data[: len(data) // 3])  # the header reads fine; the scan data stops
    paths["text"].write_text("not an image\n")
    from PIL import Image

    Image.new("L", (10, 10), 255).save(paths["small_mask"])
    paths["out"].mkdir()
    return paths


@pytest.fixture
def nothing_loads(monkeypatch):
    """Every way to a model raises: the engine choice (it imports torch), the engine and FR-model factories and the
    Protector, so a test using this fixture fails if any of them is reached."""
    def refuse(*args, **kwargs):
        raise AssertionError("a model or engine was reached before the inputs were checked")

    monkeypatch.setattr(engine_auto, "choose_engine", refuse)
    monkeypatch.setattr(engine_base, "create_engine", refuse)
    monkeypatch.setattr(api, "create_embedder", refuse)
    monkeypatch.setattr(api.Protector, "__init__", refuse)


CASES = {
    "empty file": (["{empty}", "-p", "red lipstick"], ["`PHOTO`", "empty"]),
    "empty prompt": (["{good}", "-p", "  "], ["`prompt`", "empty prompt"]),
    "truncated JPEG": (["{truncated}", "-p", "red lipstick"], ["`PHOTO`", "truncated"]),
    "unreadable pair": (["{good}", "-p", "red lipstick", "--pair", "{text}"], ["`--pair`", "not a recognised image"]),
    "empty pair": (["{good}", "-p", "red lipstick", "--pair", "{empty}"], ["`--pair`", "empty"]),
    "prompt understood nowhere": (["{good}", "-p", "unicorn glitter sparkles"], ["`prompt`", "unicorn"]),
    "prompt mostly not understood": (["{good}", "-p", "purple unicorn sparkle"],
                                     ["`prompt`", "unicorn, sparkle", "--allow-unknown-words"]),
    "mask of another size": (["{good}", "-p", "red lipstick", "--mask", "{small_mask}"], ["`mask`", "10x10"]),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_fails_in_one_line_before_any_model(case, files, capsys, nothing_loads):
    args, needles = CASES[case]
    argv = ["protect", *(a.format(**{k: str(v) for k, v in files.items()}) for a in args),
            "--out", str(files["out"] / "protected.jpg")]
    code = _run(argv)
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert err.startswith("Error:") and len(err.splitlines()) == 1 and "Engine:" not in err, err
    for needle in needles:
        assert needle in err, err
    assert not list(files["out"].iterdir())  # nothing written


def test_bad_inputs_never_import_torch(files):
    """In a fresh interpreter the four bad inputs of the issue fail without importing torch: what makes them fail in
    about `masque --help`'s time (the numbers are in README, "Errors before the wait")."""
    cases = [CASES[c][0] for c in ("empty file", "empty prompt", "truncated JPEG", "unreadable pair")]
    argvs = [["protect", *(a.format(**{k: str(v) for k, v in files.items()}) for a in args),
              "--out", str(files["out"] / "protected.jpg")] for args in cases]
    script = ("import json, sys\nfrom masque.cli import main\ncodes = []\n"
              f"for argv in {json.dumps(argvs)}:\n"
              "    try:\n        main(argv)\n    except SystemExit as exc:\n        codes.append(exc.code)\n"
              "print(json.dumps({'codes': codes, 'torch': 'torch' in sys.modules}))\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(SRC)})
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result == {"codes": [2, 2, 2, 2], "torch": False}, done.stderr


def test_a_mostly_unknown_prompt_runs_when_the_user_insists():
    """`--allow-unknown-words`: the same prompt passes the preflight, its ignored words returned to be said."""
    from masque.cli.preflight import check_prompt

    (note,) = check_prompt("purple unicorn sparkle", region=None, allow_unknown_words=True).notes
    assert "unicorn, sparkle" in note
    assert check_prompt("red lipstick with sparkle", region=None) == check_prompt(
        "red lipstick with sparkle", region=None, allow_unknown_words=True)  # one unknown word of three: a note only


def test_a_faceless_photo_fails_before_any_model_loads(tmp_path):
    """Issue 29: the photo's faces are found in a forked process while torch imports; when it found none, the
    command says so in one line before loading the engine and models (no "Engine:" line, which follows the load)."""
    from PIL import Image

    photo = tmp_path / "wall.jpg"
    Image.new("RGB", (640, 480), (150, 140, 130)).save(photo)
    done = subprocess.run([sys.executable, "-c", "import sys; from masque.cli import main; main(sys.argv[1:])",
                           "protect", str(photo), "-p", "red lipstick", "--surrogates", "dlib", "--engine",
                           "parametric", "--out", str(tmp_path / "out.jpg")],
                          capture_output=True, text=True, timeout=300, env={**os.environ, "PYTHONPATH": str(SRC)})
    err = done.stderr.strip()
    assert done.returncode == 2, err
    assert err.startswith("Error:") and "no face found" in err and len(err.splitlines()) == 1, err
    assert "Engine:" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["wall.jpg"]  # nothing written
