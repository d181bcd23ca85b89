"""The `auto` engine (issue 9, item 2): the README's main command works on a fresh install without diffusion weights,
says which engine ran and why, and no protect run opens a network connection."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import socket
from pathlib import Path

import pytest
from PIL import Image

import masque
from masque.cli import run
from masque.engines.auto import choose_engine

README = Path(__file__).resolve().parents[2] / "README.md"



@pytest.fixture
def fresh_install(tmp_path, monkeypatch):
    """No Stable Diffusion anywhere (empty MASQUE_HOME and Hugging Face cache, no $MASQUE_SD_MODEL)."""
    import huggingface_hub.constants as hub

    monkeypatch.setenv("MASQUE_HOME", str(tmp_path / "masque-home"))
    monkeypatch.delenv("MASQUE_SD_MODEL", raising=False)
    monkeypatch.setattr(hub, "HF_HUB_CACHE", str(tmp_path / "hf-cache"))


@pytest.fixture
def no_network(monkeypatch):
    """Every attempt to resolve a name or open a connection is recorded and refused."""
    attempts: list[str] = []

    def refuse(what):
        def _refuse(*args, **kwargs):
            attempts.append(f"{what}{args[1:2] if what == 'connect' else args[:2]}")
            raise OSError(f"network use during a protect run: {what}")
        return _refuse

    monkeypatch.setattr(socket.socket, "connect", refuse("connect"))
    monkeypatch.setattr(socket.socket, "connect_ex", refuse("connect"))
    monkeypatch.setattr(socket, "getaddrinfo", refuse("getaddrinfo"))
    monkeypatch.setattr(socket, "create_connection", refuse("create_connection"))
    return attempts


def _readme_main_command() -> list[str]:
    text = README.read_text()
    section = text[text.index("## Main command"):]
    line = re.search(r"```bash\n(masque protect [^\n]+)\n```", section).group(1)
    return shlex.split(line)[1:]  # drop the program name


def test_readme_main_command_works_without_diffusion_weights_and_offline(tmp_path, faces_dir, fresh_install,
                                                                         no_network, monkeypatch, capsys):
    shutil.copy(faces_dir / "obama.jpg", tmp_path / "photo.jpg")
    shutil.copy(faces_dir / "obama2.jpg", tmp_path / "another_photo_of_me.jpg")
    monkeypatch.chdir(tmp_path)
    argv = _readme_main_command()
    assert argv[:2] == ["protect", "photo.jpg"] and "--engine" not in argv
    code = run(argv)
    err = capsys.readouterr().err
    assert code == 0, err
    assert no_network == [], f"protect used the network: {no_network}"
    out = tmp_path / argv[argv.index("--out") + 1]
    assert Image.open(out).size == Image.open(tmp_path / "photo.jpg").size
    settings = json.loads(out.with_name(out.name + ".json").read_text())["settings"]
    assert settings["engine"] == "parametric" and settings["engine_requested"] == "auto"
    assert "no Stable Diffusion weights" in settings["engine_reason"]
    line = [x for x in err.splitlines() if x.startswith("Engine:")]
    assert len(line) == 1 and line[0].startswith("Engine: parametric (auto: no Stable Diffusion weights"), err


def test_auto_runs_diffusion_when_its_weights_are_present(tmp_path, tiny_sd_dir, monkeypatch, no_network, capsys):
    monkeypatch.setenv("MASQUE_SD_MODEL", str(tiny_sd_dir))
    crop = tmp_path / "crop.png"
    Image.new("RGB", (64, 64), (150, 120, 110)).save(crop)
    code = run(["protect", str(crop), "-p", "red lipstick", "--aligned", "--steps", "2", "--surrogates",
                "tiny-random", "--out", str(tmp_path / "o.png")])
    err = capsys.readouterr().err
    assert code == 0, err
    settings = json.loads((tmp_path / "o.png.json").read_text())["settings"]
    assert settings["engine"] == "diffusion" and settings["engine_requested"] == "auto"
    assert str(tiny_sd_dir) in settings["engine_reason"]
    assert "Engine: diffusion (auto: Stable Diffusion weights found" in err
    assert no_network == []


def test_explicit_diffusion_without_weights_is_one_line_and_offline(tmp_path, faces_dir, fresh_install, no_network,
                                                                     capsys):
    code = run(["protect", str(faces_dir / "obama.jpg"), "-p", "red lipstick", "--engine", "diffusion",
                "--out", str(tmp_path / "o.jpg")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1, err
    assert "not downloaded" in err and "masque models fetch sd" in err
    assert no_network == [], f"a failed load must not look the model up online: {no_network}"
    assert not (tmp_path / "o.jpg").exists()


def test_python_api_defaults_to_auto(tmp_path, faces_dir, fresh_install, no_network):
    report = masque.protect(faces_dir / "obama.jpg", "red lipstick", out=tmp_path / "o.jpg", surrogates=["dlib"],
                            engine_options={})
    assert report.settings["engine"] == "parametric" and report.settings["engine_requested"] == "auto"
    assert no_network == []


def test_choose_engine_reasons(tmp_path, tiny_sd_dir, fresh_install):
    assert choose_engine("parametric").reason == "chosen explicitly"
    missing = choose_engine("auto", str(tmp_path / "nowhere"))
    assert missing.name == "parametric" and "does not exist" in missing.reason
    assert choose_engine("auto", str(tiny_sd_dir)).name == "diffusion"
    assert choose_engine("auto").name == "parametric"  # the default hub id, not in the (empty) cache
    with pytest.raises(masque.MasqueError, match="`engine` must be one of"):
        choose_engine("fast")
