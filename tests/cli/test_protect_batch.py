"""`masque protect` batches: kill -9 mid-run then re-run finishes only the missing photos; no partial files; the
official ``--ref_map_json`` layout; other settings refused; corrupt outputs redone."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from PIL import Image

from masque.cli import run
from masque.manifest import MANIFEST_NAME, sha256_bytes

FAST = ["--prompt", "plum lipstick", "--engine", "parametric", "--steps", "2", "--surrogates", "dlib", "--quiet"]
DATA = Path(__file__).parents[1] / "data"



def _records(out: Path) -> list[dict]:
    lines = (out / MANIFEST_NAME).read_text().splitlines() if (out / MANIFEST_NAME).exists() else []
    return [json.loads(line) for line in lines if line.strip()]


def _assert_no_partial_outputs(out: Path) -> None:
    """Every file under an output's name is complete: photos decode, sidecars parse, recorded checksums hold."""
    recorded = {rel: sha for r in _records(out) for rel, sha in r["files"].items()}
    for path in out.iterdir():
        if path.name.startswith(".") or path.name == MANIFEST_NAME:
            continue
        if path.suffix == ".json":
            json.loads(path.read_text())
        else:
            with Image.open(path) as im:
                im.load()
        if path.name in recorded:
            assert sha256_bytes(path.read_bytes()) == recorded[path.name], path


@pytest.fixture(scope="module")
def photos(tmp_path_factory, faces_dir) -> list[Path]:
    """Four photos (the real portrait at half size under four names, for speed): enough to kill a run mid-way."""
    folder = tmp_path_factory.mktemp("batch-in")
    img = Image.open(faces_dir / "obama.jpg")
    img = img.resize((img.width // 2, img.height // 2))
    out = []
    for name in "abcd":
        img.save(folder / f"{name}.jpg", quality=95)
        out.append(folder / f"{name}.jpg")
    return out


def test_kill_9_mid_batch_then_rerun_finishes_only_the_missing_photos(photos, tmp_path, capsys):
    out = tmp_path / "out"
    argv = ["protect", *map(str, photos), *FAST, "--out", str(out)]
    # 1. Ctrl-C once the first photo is recorded: exit 130 and a line saying how to finish; then a run killed with
    # SIGKILL once one more photo is recorded (the next one is being protected)
    for sig, records in ((signal.SIGINT, 1), (signal.SIGKILL, 2)):
        proc = subprocess.Popen([sys.executable, "-c", "from masque.cli import main; main()", *argv],
                                env={**os.environ, "OMP_NUM_THREADS": "1"}, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 240
        while len(_records(out)) < records and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
        proc.send_signal(sig)
        code = proc.wait()
        if sig == signal.SIGINT:
            stderr = proc.stderr.read().decode()
            assert code == 130 and "run the same command again" in stderr, (code, stderr[-2000:])
        _assert_no_partial_outputs(out)
    first = {r["key"] for r in _records(out)}
    assert 2 <= len(first) < len(photos)
    # 2. the same command again: finished photos are skipped, the rest done, a summary, exit 0
    assert run(argv) == 0
    err = capsys.readouterr().err
    assert f"Batch: {len(photos) - len(first)} done, {len(first)} skipped, 0 failed of {len(photos)}" in err
    counts = Counter(r["key"] for r in _records(out))
    assert counts == Counter({f"{p.stem}.protected.jpg": 1 for p in photos})  # each photo recorded exactly once
    assert not list(out.glob(".*"))  # temporary files of the killed run are gone
    _assert_no_partial_outputs(out)
    # 3. a corrupted output is redone; the others stay skipped
    victim = out / "b.protected.jpg"
    good = victim.read_bytes()
    victim.write_bytes(good[: len(good) // 2])
    assert run(argv) == 0
    assert "Batch: 1 done, 3 skipped" in capsys.readouterr().err
    assert victim.read_bytes() == good  # same seed, same settings: the same bytes
    # 4. other settings in the same folder are refused in one line, nothing touched
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    other = ["protect", *map(str, photos), "--prompt", "red lipstick", *FAST[2:], "--out", str(out)]
    assert run(other) == 2
    err = capsys.readouterr().err
    assert "made with other settings" in err and "--overwrite" in err and err.count("\n") == 1
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_existing_foreign_file_is_not_replaced(photos, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "a.protected.jpg").write_bytes(b"precious")
    assert run(["protect", *map(str, photos[:2]), *FAST, "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "Batch: 1 done, 0 skipped, 1 failed" in err and "a.protected.jpg" in err and "--overwrite" in err
    assert (out / "a.protected.jpg").read_bytes() == b"precious"
    # --overwrite replaces it (and redoes the rest); a later plain re-run sees the same settings and skips both
    assert run(["protect", *map(str, photos[:2]), *FAST, "--out", str(out), "--overwrite"]) == 0
    assert "Batch: 2 done, 0 skipped" in capsys.readouterr().err
    assert run(["protect", *map(str, photos[:2]), *FAST, "--out", str(out)]) == 0
    assert "Batch: 0 done, 2 skipped" in capsys.readouterr().err


def test_official_ref_map_layout_and_flag_names(tmp_path, faces_dir, capsys):
    out = tmp_path / "result"
    code = run(["protect", "--ref_map_json", str(DATA / "ref_map" / "identity.json"), "--images_dir", str(faces_dir),
                "--ref_base_dir", str(faces_dir), "--img_ext", ".jpg", "--result_dir", str(out), "--skip_existing",
                *FAST])
    assert code == 0, capsys.readouterr().err
    sides = {p.name: json.loads(p.read_text()) for p in out.glob("*.json")}
    assert set(sides) == {"obama.protected.jpg.json", "obama3.protected.jpg.json", "biden.protected.jpg.json"}
    assert sides["obama.protected.jpg.json"]["settings"]["pair"] == [str(faces_dir / "obama2.jpg")]
    assert sides["obama.protected.jpg.json"]["faces"][0]["anchor"] == "pair:obama2.jpg"
    assert sides["biden.protected.jpg.json"]["faces"][0]["anchor"] == "self"  # no reference: single mode
    assert sides["obama3.protected.jpg.json"]["input"] == str(faces_dir / "obama3.jpg")
    assert len(_records(out)) == 3
    # every worker built its run from the batch's `ProtectConfig`: each sidecar stores the same one
    configs = {json.dumps(side["settings"]["config"], sort_keys=True) for side in sides.values()}
    assert len(configs) == 1 and json.loads(configs.pop())["engine"] == "parametric"


def test_a_ctrl_c_lost_inside_a_photo_still_stops_the_batch_after_it():
    """Python drops a KeyboardInterrupt raised inside a finaliser; the batch remembers the press and stops at the next
    photo boundary (`_CtrlC.check`, called after each photo is recorded), then the previous handler is back."""
    from masque.cli.protect_batch import _CtrlC

    previous = signal.getsignal(signal.SIGINT)
    with _CtrlC() as ctrl_c:
        ctrl_c.check()  # not pressed: nothing happens
        try:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(1.0)  # the handler runs here, at the next bytecode boundary
        except KeyboardInterrupt:
            pass  # lost, as inside a __del__
        with pytest.raises(KeyboardInterrupt):
            ctrl_c.check()
    assert signal.getsignal(signal.SIGINT) is previous
