"""The output location is checked before any work (issue 9, item 3): unwritable folders, missing folders and every way
of naming the input (``..``, symlink, hard link) fail in one line, before a model loads, and write nothing."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from masque import api
from masque.cli import run
from masque.errors import InputError
from masque.io import check_output_path, prepare_output_folder

UNWRITABLE = Path("/sys")  # sysfs: no new files, not even for root (a chmod'ed folder would not stop root)



@pytest.fixture
def photo(tmp_path, faces_dir) -> Path:
    path = tmp_path / "in" / "me.jpg"
    path.parent.mkdir()
    shutil.copy(faces_dir / "obama.jpg", path)
    return path


@pytest.fixture
def no_model_loads(monkeypatch):
    """Fails the test if a Protector (engine + FR models) is built."""
    def refuse(self, *args, **kwargs):
        raise AssertionError("a model was loaded before the output location was checked")
    monkeypatch.setattr(api.Protector, "__init__", refuse)


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith("Error:") and len(err.splitlines()) == 1, err
    return err


def _same_dir_symlink(photo: Path) -> Path:
    link = photo.with_name("link.jpg")
    link.symlink_to(photo.name)
    return link


def _hard_link(photo: Path) -> Path:
    link = photo.with_name("hard.jpg")
    os.link(photo, link)
    return link


@pytest.mark.skipif(not UNWRITABLE.is_dir(), reason="needs Linux sysfs")
@pytest.mark.parametrize("batch", [False, True])
def test_unwritable_output_folder_fails_in_one_line_before_loading(batch, photo, capsys, no_model_loads):
    photos = [str(photo)] * (2 if batch else 1)
    out = UNWRITABLE / ("masque-out" if batch else "out.jpg")
    code = run(["protect", *photos, "-p", "red lipstick", "--engine", "parametric", "--out", str(out)])
    err = _one_line_error(capsys)
    assert code == 2
    assert ("cannot" in err or "not writable" in err) and "/sys" in err


@pytest.mark.parametrize("how", ["dotdot", "symlink", "hardlink", "other-batch-photo"])
def test_output_that_is_the_input_is_refused_up_front(how, photo, tmp_path, capsys, no_model_loads):
    before = photo.read_bytes()
    photos = [photo]
    if how == "dotdot":
        out = photo.parent / ".." / photo.parent.name / photo.name
    elif how == "symlink":
        out = _same_dir_symlink(photo)
    elif how == "hardlink":
        out = _hard_link(photo)
    else:  # a batch whose second photo is where the first one's output would go
        second = photo.with_name(f"{photo.stem}.protected{photo.suffix}")
        shutil.copy(photo, second)
        photos, out = [photo, second], None
    code = run(["protect", *map(str, photos), "-p", "red lipstick", "--engine", "parametric",
                *(["--out", str(out)] if out is not None else [])])
    err = _one_line_error(capsys)
    assert code == 2 and "never writes over its input" in err
    assert photo.read_bytes() == before
    assert not list(photo.parent.glob("*.json"))


def test_missing_output_folder_fails_up_front(photo, tmp_path, capsys, no_model_loads):
    code = run(["protect", str(photo), "-p", "red lipstick", "--out", str(tmp_path / "nope" / "o.jpg")])
    assert code == 2 and "does not exist" in _one_line_error(capsys)


def test_check_output_path_rules(tmp_path):
    src = tmp_path / "a.png"
    src.write_bytes(b"x")
    assert check_output_path(tmp_path / "b.png", inputs=[src]) == tmp_path / "b.png"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".masque-probe")]  # the probe cleans up
    with pytest.raises(InputError, match="is a folder"):
        check_output_path(tmp_path, inputs=[src])
    with pytest.raises(InputError, match="never writes over"):
        check_output_path(tmp_path / "sub" / ".." / "a.png", inputs=[src])
    (tmp_path / "file").write_bytes(b"")
    with pytest.raises(InputError, match="is not a folder"):
        check_output_path(tmp_path / "file" / "o.png")
    made = prepare_output_folder(tmp_path / "x" / "y")
    assert made.is_dir()
    with pytest.raises(InputError, match="is a file"):
        prepare_output_folder(tmp_path / "file")
