"""`masque protect`: the main command on the tiny SD (crop mode) and on real photos (parametric engine)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from masque.cli import run

FAST_DIFFUSION = ["--engine", "diffusion", "--steps", "3", "--surrogates", "tiny-random", "--quiet"]



@pytest.fixture(scope="module")
def face_crop(tmp_path_factory, faces_dir) -> Path:
    """A 96x80 (WxH) crop around obama's face: not square and not the model's size, on purpose."""
    img = Image.open(faces_dir / "obama.jpg").convert("RGB")
    path = tmp_path_factory.mktemp("crop") / "face.png"
    img.crop((300, 200, 620, 467)).resize((96, 80)).save(path)
    return path


def test_protect_crop_mode_writes_image_and_sidecar(tmp_path, face_crop, tiny_sd_dir, capsys):
    out = tmp_path / "out.png"
    mask = np.zeros((80, 96), np.uint8)
    mask[50:70, 30:66] = 255
    Image.fromarray(mask).save(tmp_path / "mask.png")
    code = run(["protect", str(face_crop), "--prompt", "red lipstick", "--model", str(tiny_sd_dir),
                "--mask", str(tmp_path / "mask.png"), "--out", str(out), "--seed", "3", *FAST_DIFFUSION])
    assert code == 0, capsys.readouterr().err
    result = np.asarray(Image.open(out).convert("RGB"))
    original = np.asarray(Image.open(face_crop).convert("RGB"))
    assert result.shape == original.shape
    assert np.array_equal(result[mask == 0], original[mask == 0]), "pixels outside the mask must not change"
    assert np.any(result[mask > 0] != original[mask > 0]), "the masked region must be edited"
    side = json.loads((tmp_path / "out.png.json").read_text())
    assert side["settings"]["seed"] == 3 and side["settings"]["engine"] == "diffusion"
    assert side["settings"]["engine_config"]["inversion"]["num_steps"] == 3
    # the CLI's flags are the run's `ProtectConfig` in the sidecar (machine settings such as the device left out)
    from masque.run_config import ProtectConfig

    config = ProtectConfig.from_dict(side["settings"]["config"])
    assert (config.prompt, config.seed, config.engine, config.options.steps) == ("red lipstick", 3, "diffusion", 3)
    assert config.options.model == str(tiny_sd_dir) and config.options.device is None
    face = side["faces"][0]
    # optimised against tiny-random only; the present real models (dlib at least) judge it as held out
    held_out = [n for n in side["settings"]["judges"] if n not in (*side["settings"]["surrogates"], "dlib-bin")]
    assert side["settings"]["surrogates"] == ["tiny-random"] and "dlib" in held_out
    roles = {r["model"]: r["role"] for r in face["verdict"]["models"]}
    assert roles["tiny-random"] == "surrogate" and all(roles[n] == "held-out" for n in held_out)
    assert side["cost"]["components"]["unet"]["forward"] > 0
    assert side["cost"]["total_nfe"] > 0


def test_same_seed_same_bytes(tmp_path, face_crop, tiny_sd_dir):
    outs = []
    for i in range(2):
        out = tmp_path / f"o{i}.png"
        assert run(["protect", str(face_crop), "--prompt", "red lipstick", "--aligned", "--model", str(tiny_sd_dir),
                    "--out", str(out), *FAST_DIFFUSION]) == 0
        outs.append(out.read_bytes())
    assert outs[0] == outs[1]


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("missing", "does not exist"),
        ("not_image", "image"),
        ("no_weights", "model"),
        ("bad_mask", "`mask`"),
        ("into_input", "never writes over"),
    ],
)
def test_bad_input_one_line_error_and_no_output(case, message, tmp_path, face_crop, tiny_sd_dir, capsys):
    photo, model, extra = face_crop, str(tiny_sd_dir), []
    out = tmp_path / "out.png"
    if case == "missing":
        photo = tmp_path / "nope.jpg"
    elif case == "not_image":
        photo = tmp_path / "notes.jpg"
        photo.write_text("this is not a picture")
    elif case == "no_weights":
        empty = tmp_path / "empty-model"
        empty.mkdir()
        model = str(empty)
    elif case == "bad_mask":
        Image.new("L", (10, 10), 255).save(tmp_path / "small_mask.png")
        extra = ["--mask", str(tmp_path / "small_mask.png")]
    elif case == "into_input":
        photo = tmp_path / "face.png"
        shutil.copy(face_crop, photo)
        out = photo
    before = photo.read_bytes() if photo.exists() else None
    code = run(["protect", str(photo), "--prompt", "red lipstick", "--aligned", "--model", model, "--out", str(out),
                *extra, *FAST_DIFFUSION])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err.startswith("Error:") and len(err.splitlines()) == 1, err
    assert message.lower() in err.lower()
    if case != "into_input":
        assert not out.exists()
    assert not list(tmp_path.glob("*.json"))
    if before is not None:
        assert photo.read_bytes() == before


def test_existing_output_is_not_replaced_without_overwrite(tmp_path, face_crop, tiny_sd_dir, capsys):
    out = tmp_path / "out.png"
    out.write_bytes(b"precious")
    args = ["protect", str(face_crop), "--prompt", "red lipstick", "--aligned", "--model", str(tiny_sd_dir),
            "--out", str(out), *FAST_DIFFUSION]
    assert run(args) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert out.read_bytes() == b"precious"
    assert run([*args, "--overwrite"]) == 0
    assert out.read_bytes() != b"precious"


def test_engine_specific_flag_is_rejected_for_parametric(tmp_path, face_crop, capsys):
    code = run(["protect", str(face_crop), "--prompt", "red lipstick", "--engine", "parametric", "--guidance-scale",
                "2", "--out", str(tmp_path / "o.png")])
    err = capsys.readouterr().err
    assert code == 2 and "`--guidance-scale` does not apply to the parametric engine" in err and err.count("\n") == 1


@pytest.mark.parametrize("engine, value, message", [
    ("parametric", "2", "one of subtle, natural, bold, max"),
    ("diffusion", "strong", "a number >= 0 or one of subtle, natural, bold, max")])
def test_strength_is_a_level_for_parametric_and_a_number_or_level_for_diffusion(tmp_path, face_crop, capsys, engine,
                                                                                value, message):
    code = run(["protect", str(face_crop), "--prompt", "red lipstick", "--engine", engine, "--strength", value,
                "--out", str(tmp_path / "o.png")])
    assert code == 2 and message in capsys.readouterr().err
    assert not (tmp_path / "o.png").exists()


def test_help_describes_every_option():
    import typer.main

    from masque.cli import app

    cmd = typer.main.get_command(app)
    for name, sub in cmd.commands.items():
        commands = sub.commands.values() if hasattr(sub, "commands") else [sub]
        for c in commands:
            for p in c.params:
                if p.param_type_name == "option" and p.name != "help":
                    assert p.help and len(p.help) > 10, f"{name} {c.name}: option {p.name} has no help"


def test_batch_skips_faceless_photos_with_a_warning(tmp_path, faces_dir, capsys):
    wall = tmp_path / "wall.png"
    Image.new("RGB", (120, 90), (90, 100, 110)).save(wall)
    shutil.copy(faces_dir / "obama.jpg", tmp_path / "obama.jpg")
    out_dir = tmp_path / "protected"
    code = run(["protect", str(wall), str(tmp_path / "obama.jpg"), "--prompt", "plum lipstick", "--engine",
                "parametric", "--steps", "2", "--surrogates", "dlib", "--out", str(out_dir), "--quiet"])
    err = capsys.readouterr().err
    assert code == 0, err
    assert "Skipped" in err and "wall.png" in err
    assert sorted(p.name for p in out_dir.iterdir()) == ["masque-manifest.jsonl", "obama.protected.jpg",
                                                          "obama.protected.jpg.json"]
    side = json.loads((out_dir / "obama.protected.jpg.json").read_text())
    assert side["faces_found"] == 1 and len(side["faces"]) == 1
    # "protected" counts only faces no judge still matches (2 steps of lipstick rarely get there)
    assert side["faces_protected"] == sum(f["status"] == "protected" for f in side["faces"])


@pytest.mark.parametrize("engine", ["parametric", "diffusion"])
def test_eot_flag_reaches_the_engine_config(engine, tmp_path, face_crop, tiny_sd_dir, faces_dir):
    out = tmp_path / "o.png"
    # the parametric engine places makeup by landmarks, so it gets a photo; the diffusion one an aligned crop
    inputs = ([str(face_crop), "--aligned", "--model", str(tiny_sd_dir)] if engine == "diffusion"
              else [str(faces_dir / "obama.jpg")])
    assert run(["protect", *inputs, "-p", "red lipstick", "--engine", engine, "--steps", "2",
                "--surrogates", "tiny-random", "--eot", "--quiet", "--out", str(out)]) == 0
    cfg = json.loads((tmp_path / "o.png.json").read_text())["settings"]["engine_config"]
    objective = cfg["objective"] if engine == "parametric" else cfg["guidance"]["objective"]
    assert objective["eot"]["samples"] >= 1


@pytest.mark.parametrize("method", ["null-text", "negative-prompt"])
def test_inversion_flag_reaches_the_engine(tmp_path, face_crop, tiny_sd_dir, capsys, method):
    out = tmp_path / "out.png"
    code = run(["protect", str(face_crop), "--prompt", "red lipstick", "--aligned", "--model", str(tiny_sd_dir),
                "--out", str(out), "--inversion", method, *FAST_DIFFUSION])
    assert code == 0, capsys.readouterr().err
    side = json.loads((tmp_path / "out.png.json").read_text())
    assert side["settings"]["engine_config"]["inversion"]["method"] == method


def test_unknown_inversion_is_one_line(tmp_path, face_crop, tiny_sd_dir, capsys):
    code = run(["protect", str(face_crop), "--prompt", "red lipstick", "--aligned", "--model", str(tiny_sd_dir),
                "--out", str(tmp_path / "o.png"), "--inversion", "ddim", *FAST_DIFFUSION])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "inversion.method" in err and "\n" not in err
