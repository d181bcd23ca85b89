"""`masque models list|verify|fetch|import` against an empty MASQUE_HOME (no weights, no network needed)."""

from __future__ import annotations

import time

import pytest
import torch

from masque.cli import main
from masque.embedders import create_embedder


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("MASQUE_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("MASQUE_SD_MODEL", raising=False)
    for name in ("IR152", "IRSE50", "MOBILEFACE", "FACENET"):
        monkeypatch.delenv(f"MASQUE_URL_{name}", raising=False)
    return tmp_path / "home"


def run(argv, capsys) -> tuple[int, str, str]:
    try:
        main(argv)
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    out = capsys.readouterr()
    return code, out.out, out.err


def test_list_with_no_weights_says_what_is_missing_and_how(home, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "400")  # one table row per line
    code, out, _ = run(["models", "list"], capsys)
    assert code == 0
    for name in ("sd", "ir152", "irse50", "mobileface", "facenet", "dlib", "face-parser"):
        assert name in out
    assert "missing" in out and "present" in out  # FR zoo missing, dlib (package) present
    rows = {line.split("│")[1].strip(): line for line in out.splitlines() if line.count("│") > 3}
    assert "missing" in rows["ir152"] and "masque models import ir152 FILE" in rows["ir152"]
    assert "present" in rows["dlib"] and "55533b28a958" in rows["dlib"]
    assert "masque models fetch sd" in rows["sd"]
    assert str(home) in out
    assert ("Missing: sd, facenet, facenet-casia, facenet-keras, faceres, ir152, irse50, mobileface, mobileface-v3, "
            "sface, face-parser") in out
    assert "masque models fetch sface" in rows["sface"] and "10.3 MB download" in rows["sface"]
    assert "Apache-2.0" in rows["sface"]


def test_import_validates_strictly_then_copies_atomically(home, tmp_path, capsys):
    good = tmp_path / "mine.pth"
    torch.save(create_embedder("mobileface", weights=None).backbone.state_dict(), good)
    code, out, _ = run(["models", "import", "mobileface", str(good)], capsys)
    assert code == 0, out
    dst = home / "fr" / "mobile_face.pth"
    assert dst.is_file() and dst.read_bytes() == good.read_bytes()
    assert not [p for p in dst.parent.iterdir() if p.name.endswith(".part")]
    create_embedder("mobileface")  # the default weights now resolve

    code, out, _ = run(["models", "list"], capsys)
    assert ("Missing: sd, facenet, facenet-casia, facenet-keras, faceres, ir152, irse50, mobileface-v3, sface, "
            "face-parser") in out

    code, out, _ = run(["models", "verify", "mobileface"], capsys)
    assert code == 0 and "ok" in out


def test_import_rejects_a_checkpoint_of_another_architecture(home, tmp_path, capsys):
    wrong = tmp_path / "wrong.pth"
    torch.save(create_embedder("tiny-random", weights=None).backbone.state_dict(), wrong)
    code, _, err = run(["models", "import", "mobileface", str(wrong)], capsys)
    assert code == 2 and "does not match the architecture" in err and len(err.strip().splitlines()) == 1
    assert not (home / "fr" / "mobile_face.pth").exists()


def test_verify_flags_a_corrupt_file(home, tmp_path, capsys):
    (home / "fr").mkdir(parents=True)
    (home / "fr" / "mobile_face.pth").write_bytes(b"not a checkpoint")
    code, out, err = run(["models", "verify", "mobileface"], capsys)
    assert code == 1 and "FAILED" in out and "mobileface" in err


def test_verify_checks_the_dlib_files_by_checksum(home, capsys):
    code, out, _ = run(["models", "verify", "dlib", "--no-load"], capsys)
    assert code == 0 and "ok" in out


def test_fetch_offline_fails_fast_in_one_line(home, capsys, monkeypatch):
    monkeypatch.setenv("MASQUE_URL_IR152", "https://unreachable.invalid/ir152.pth")
    start = time.monotonic()
    code, _, err = run(["models", "fetch", "ir152", "--timeout", "3"], capsys)
    assert code == 2 and time.monotonic() - start < 30
    assert "cannot reach" in err and len(err.strip().splitlines()) == 1
    assert not (home / "fr" / "ir152.pth").exists()


def test_fetch_downloads_validates_and_installs(home, tmp_path, capsys, monkeypatch):
    src = tmp_path / "served.pth"
    torch.save(create_embedder("mobileface", weights=None).backbone.state_dict(), src)
    monkeypatch.setenv("MASQUE_URL_MOBILEFACE", src.as_uri())  # a file:// URL stands in for the network
    code, out, err = run(["models", "fetch", "mobileface"], capsys)
    assert code == 0, err
    assert (home / "fr" / "mobile_face.pth").read_bytes() == src.read_bytes()
    code, out, _ = run(["models", "fetch", "mobileface"], capsys)
    assert code == 0 and "already present" in out


def test_fetch_rejects_a_download_that_does_not_load(home, tmp_path, capsys, monkeypatch):
    src = tmp_path / "junk.pth"
    src.write_bytes(b"<html>quota exceeded</html>")
    monkeypatch.setenv("MASQUE_URL_MOBILEFACE", src.as_uri())
    code, _, err = run(["models", "fetch", "mobileface"], capsys)
    assert code == 2 and "not a readable PyTorch checkpoint" in err
    assert not (home / "fr" / "mobile_face.pth").exists()


def test_fetch_sd_offline_is_one_line_without_touching_the_hub(home, capsys, monkeypatch):
    import urllib.error
    import urllib.request

    def offline(*args, **kwargs):
        raise urllib.error.URLError("Name or service not known")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    code, _, err = run(["models", "fetch", "sd"], capsys)
    assert code == 2 and "cannot reach https://huggingface.co/" in err and len(err.strip().splitlines()) == 1
    assert not (home / "sd").exists()


def test_fetch_without_url_explains_what_to_do(home, capsys):
    code, _, err = run(["models", "fetch", "irse50"], capsys)
    assert code == 2 and "no download URL" in err and "masque models import irse50" in err


def test_unknown_model_name_is_a_one_line_error(home, capsys):
    code, _, err = run(["models", "import", "resnet9000", __file__], capsys)
    assert code == 2 and "`name` must be one of" in err


def test_import_face_parser_checkpoint(home, tmp_path, capsys):
    from masque.faces.parser import BiSeNet

    ckpt = tmp_path / "79999_iter.pth"
    torch.save(BiSeNet().state_dict(), ckpt)
    code, out, err = run(["models", "import", "face-parser", str(ckpt)], capsys)
    assert code == 0, err
    assert (home / "parser" / "79999_iter.pth").is_file()


def test_sd_folder_from_env_is_listed_and_verified(home, tiny_sd_dir, capsys, monkeypatch):
    monkeypatch.setenv("MASQUE_SD_MODEL", str(tiny_sd_dir))
    monkeypatch.setenv("COLUMNS", "400")
    code, out, _ = run(["models", "list"], capsys)
    row = next(line for line in out.splitlines() if line.startswith("│ sd "))
    assert code == 0 and "present" in row
    code, out, _ = run(["models", "verify", "sd"], capsys)
    assert code == 0 and "ok" in out
