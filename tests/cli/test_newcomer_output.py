"""What a new user reads in a pipe or log (issue 21, items 6-9): whole table cells and progress lines off a terminal,
unknown words in one line, pair photos of another person skipped (unless `--force-pair`), the sidecar as readable as
the photo, and `masque check` naming missing models in one line."""

from __future__ import annotations

import json
import shutil

import pytest

from masque import api
from masque.cli import run as _run


@pytest.fixture(scope="module")
def piped_run(tmp_path_factory, faces_dir):
    """One captured (not a terminal) `masque protect` of obama with a pair of obama and one of biden, and a prompt with
    an unknown word; returns (exit code, stdout + stderr, output folder)."""
    folder = tmp_path_factory.mktemp("piped")
    for name in ("obama.jpg", "obama2.jpg", "biden.jpg"):
        shutil.copy(faces_dir / name, folder / name)
    import contextlib
    import io

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = _run(["protect", str(folder / "obama.jpg"), "-p", "full glam unicorn", "--engine", "parametric",
                     "--surrogates", "dlib", "--steps", "4", "--pair", str(folder / "obama2.jpg"),
                     "--pair", str(folder / "biden.jpg"), "--out", str(folder / "out.jpg")])
    return code, out.getvalue() + err.getvalue(), folder


def test_piped_tables_keep_every_cell_and_progress_is_printed(piped_run):
    code, text, _ = piped_run
    assert code == 0, text
    assert "…" not in text, text  # rich's ellipsis: a cut cell
    rows = [line for line in text.splitlines() if line.startswith("│")]
    assert any("surrogate" in r for r in rows) and any("independent" in r for r in rows), text
    assert any("protected" in r for r in rows) and any("vs obama2.jpg" in line for line in text.splitlines()), text
    steps = [line for line in text.splitlines() if line.startswith("parametric step ")]
    assert steps and steps[-1] == "parametric step 4/4", text


def test_unknown_word_is_one_line_pointing_to_the_vocabulary_before_the_engine_line(piped_run):
    _, text, _ = piped_run
    lines = [line for line in text.splitlines() if "unicorn" in line]
    assert len(lines) == 1 and "masque vocabulary" in lines[0], text
    order = text.splitlines()
    engine = next(i for i, line in enumerate(order) if line.startswith("Engine:"))
    assert order.index(lines[0]) < engine, text  # named before the wait (issue 29), not after the run


def test_expected_protection_is_said_before_the_wait_from_the_measured_file(piped_run):
    """Right after the "Engine:" line, before the first optimisation step: the measured row of the strength with
    its faces and 95 % interval, and the stronger levels (issue 29)."""
    _, text, _ = piped_run
    order = text.splitlines()
    from masque.makeup.expected import measured_row

    faces = measured_row("natural").faces
    expected = [i for i, line in enumerate(order) if line.startswith(f"Expected at natural (measured on {faces} faces")]
    first_step = next(i for i, line in enumerate(order) if line.startswith("parametric step "))
    assert len(expected) == 1 and expected[0] < first_step, text
    line = order[expected[0]]
    assert "95 % CI" in line and "Stronger: --strength bold" in line, line
    assert "cherry" not in text  # the colour list is not dumped


def test_pair_of_another_person_is_skipped_and_said(piped_run):
    _, text, folder = piped_run
    note = [line for line in text.splitlines() if line.startswith("Note: pair photo")]
    assert len(note) == 1 and "biden.jpg" in note[0] and "--force-pair" in note[0], text
    side = json.loads((folder / "out.jpg.json").read_text())
    assert side["settings"]["pairs_skipped"] == ["biden.jpg"]
    face = side["faces"][0]
    assert face["anchor"] == "pair:obama2.jpg" and face["verdict"]["references"] == ["obama2.jpg"]


def test_sidecar_has_the_photos_mode(piped_run):
    _, _, folder = piped_run
    photo, side = (folder / "out.jpg").stat().st_mode & 0o777, (folder / "out.jpg.json").stat().st_mode & 0o777
    assert side == photo, (oct(side), oct(photo))


def test_no_usable_pair_falls_back_to_single_mode(tmp_path, faces_dir):
    """(Kept with `--force-pair`: tests/test_one_verdict.py.)"""
    import warnings

    from masque.errors import UserNote

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UserNote)
        report = api.protect(faces_dir / "obama.jpg", "red lipstick", pair=[faces_dir / "biden.jpg"],
                             out=tmp_path / "o.jpg", engine="parametric", surrogates=["dlib"], judges=["dlib"],
                             engine_options={"config": _one_step()})
    notes = [str(w.message) for w in caught if issubclass(w.category, UserNote)]
    face = report.faces[0]
    assert len(notes) == 1 and "single mode" in notes[0], notes
    assert face.anchor == "self" and report.settings["pairs_skipped"] == ["biden.jpg"]
    assert face.verdict.references == [] and face.verdict.warnings == []


def _one_step():
    from masque.engines.parametric import ParametricConfig

    return ParametricConfig(steps=1)


def test_vocabulary_command_lists_every_word_grouped(capsys):
    from masque.makeup.vocabulary import EFFECT_WORDS, LOOK_WORDS, PRODUCT_WORDS

    assert _run(["vocabulary"]) == 0
    out = capsys.readouterr().out
    for product, words in PRODUCT_WORDS.items():
        line = next(line for line in out.splitlines() if line.startswith(product + " "))
        assert all(w in line for w in words), line
    assert all(look in out for look in LOOK_WORDS) and all(w in out for w in EFFECT_WORDS)


def test_check_names_missing_models_in_at_most_two_lines(tmp_path, faces_dir, monkeypatch, capsys):
    """No model fetched (an empty MASQUE_HOME): one line names the missing models and `masque models fetch
    --all-fr`; no per-model "unavailable" lines, no paths."""
    monkeypatch.setenv("MASQUE_HOME", str(tmp_path / "home"))
    from masque.embedders import get_spec, list_embedders
    from masque.embedders.registry import TEST_ONLY

    photo = faces_dir / "obama.jpg"
    code = _run(["check", str(photo), str(photo)])
    out = capsys.readouterr().out
    assert code == 3, out  # the unprotected photo is recognised: the check itself ran
    packaged = [n for n in list_embedders() if n not in TEST_ONLY and get_spec(n).package is not None]
    about = [line for line in out.splitlines() if any(n in line for n in packaged) and "│" not in line]
    assert 1 <= len(about) <= 2 and "masque models fetch --all-fr" in about[0], out
    assert "unavailable" not in out and str(tmp_path) not in out, out


def test_the_printed_time_says_what_it_covers(piped_run):
    """Issue 29: the photo's seconds and the loading before it are named apart, and the line says that the wall time
    also counts starting Python and importing torch."""
    _, text, _ = piped_run
    (line,) = [x for x in text.splitlines() if x.startswith("time: ")]
    assert " s for this photo (detect, optimise, write, judge); before it, loading the engine and models took " in line
    assert "starting Python and importing torch" in line, line


def test_the_summary_says_how_far_the_reshape_moved_the_face(piped_run):
    """The default strength reshapes (issue 30): the summary says by how much, in crop px and % of the eye distance,
    and the sidecar has the numbers."""
    import json

    _, text, folder = piped_run
    line = next((x for x in text.splitlines() if x.startswith("face 0 reshape:")), None)
    assert line is not None and "% of the eye distance" in line and "eye openings" in line, text
    sidecar = json.loads((folder / "out.jpg.json").read_text())
    moved = sidecar["faces"][0]["engine"]["reshape"]
    assert 0 < moved["max_px"] <= moved["amplitude_px"] + 1e-5
    assert all(change >= -1e-6 for change in moved["eye_area_change_pct"])  # eyes only grow
