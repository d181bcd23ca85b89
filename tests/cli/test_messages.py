"""Help texts and messages say what is true and name only flags that exist (issue 9, item 8)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from masque.cli import main
from masque.cli import run as _run
from masque.hints import weak_protection_hint

COMMANDS = [[], ["protect"], ["check"], ["evaluate"], ["serve"], ["models"], ["models", "list"], ["models", "fetch"],
            ["models", "import"], ["models", "create-tiny"], ["models", "verify"], ["vocabulary"]]
README = Path(__file__).resolve().parents[2] / "README.md"


def _help(args: list[str], capsys) -> str:
    with pytest.raises(SystemExit) as exc:
        main([*args, "--help"])
    assert exc.value.code == 0
    return capsys.readouterr().out


@pytest.mark.parametrize("args", COMMANDS, ids=lambda a: " ".join(a) or "masque")
def test_help_shows_no_python_type_tags(args, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    text = _help(args, capsys)
    assert "--help" in text
    tags = re.findall(r"<(?:str|bool|int|float|path|list\[[^\]]*\])[^>]*>", text, flags=re.IGNORECASE)
    assert not tags, f"type tags in `masque {' '.join(args)} --help`: {tags}"


def test_steps_help_states_each_engines_real_default(capsys, monkeypatch):
    from masque.engines.diffusion import DiffusionConfig
    from masque.engines.parametric import ParametricConfig

    monkeypatch.setenv("COLUMNS", "400")
    text = " ".join(_help(["protect"], capsys).replace("│", " ").split())
    assert f"(diffusion, default {DiffusionConfig().inversion.num_steps})" in text
    assert f"(parametric, default {ParametricConfig().resolved().steps})" in text  # the default strength's preset


def test_max_pixels_flag_default_is_the_library_default(capsys, monkeypatch):
    from masque.io import DEFAULT_MAX_PIXELS

    monkeypatch.setenv("COLUMNS", "400")
    text = " ".join(_help(["protect"], capsys).replace("│", " ").split())
    assert "--max-pixels" in text and f"[default: {DEFAULT_MAX_PIXELS}]" in text



def test_eot_and_executor_help_match_what_runs(capsys, monkeypatch):
    """Issue 29: `--eot` help says the strength presets already run EOT (the sidecar showed it on while the help
    said off), and the `[ray]` extra of the install command survives the help renderer."""
    from masque.engines.parametric import STRENGTH_PRESETS

    monkeypatch.setenv("COLUMNS", "400")
    text = " ".join(_help(["protect"], capsys).replace("│", " ").split())
    assert "pip install 'masque-privacy[ray]'" in text
    assert all(p.eot for p in STRENGTH_PRESETS.values())  # what the help says: every preset optimises under EOT
    assert "Every --strength preset already optimises under a cheaper EOT" in text and "[default: no-eot]" not in text


def test_face_index_out_of_range_names_the_flag(tmp_path, faces_dir, capsys):
    code = _run(["protect", str(faces_dir / "obama.jpg"), "-p", "red lipstick", "--engine", "parametric",
                 "--surrogates", "dlib", "--steps", "1", "--faces", "7", "--out", str(tmp_path / "o.jpg"), "-q"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1, err
    assert "`faces`" in err and "1 face found" in err and "`which`" not in err
    assert not list(tmp_path.iterdir())


def test_pixel_limit_error_names_a_flag_that_exists(tmp_path, faces_dir, capsys):
    code = _run(["protect", str(faces_dir / "obama.jpg"), "-p", "red lipstick", "--engine", "parametric",
                 "--surrogates", "dlib", "--max-pixels", "1000", "--out", str(tmp_path / "o.jpg"), "-q"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1, err
    flags = set(re.findall(r"`(--[a-z-]+)", err))
    assert flags == {"--max-pixels"}, err
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize(
    ("regions", "engine", "must", "must_not"),
    [
        (["lips"], "parametric", ["blush", "foundation", "diffusion engine", "--steps"], []),
        (["lips", "cheeks"], "parametric", ["foundation"], ["blush"]),
        (["lips", "skin"], "parametric", ["diffusion engine"], ["blush", "foundation", "larger region"]),
        (["cheeks", "skin"], "diffusion", ["--steps"], ["blush", "foundation", "diffusion engine"]),
    ],
)
def test_weak_protection_hint_suggests_only_what_the_run_lacks(regions, engine, must, must_not):
    hint = weak_protection_hint(["dlib"], {"regions": regions, "engine": engine})
    assert hint.startswith("Still matched by: dlib.")
    for word in must:
        assert word in hint, hint
    for word in must_not:
        assert word not in hint, hint


def test_weak_protection_hint_for_the_web_names_no_command_line_flags():
    hint = weak_protection_hint(["dlib", "irse50"], {"regions": ["lips"], "engine": "parametric"}, audience="web")
    assert "dlib, irse50" in hint and "blush" in hint
    assert "--" not in hint and "masque " not in hint


def test_readme_set_up_creates_a_virtual_environment_before_installing():
    text = README.read_text()
    setup = text[text.index("## Set up"):text.index("## Main command")]
    venv = setup.index("python3 -m venv .venv && . .venv/bin/activate")
    assert venv < setup.index("pip install")


def test_pair_advice_fits_a_group_photo():
    """Issue 29: a group photo without a pair is not told "add another photo of you"; it is told that a pair photo
    serves the one face it shows and how to protect everyone (one run per person)."""
    from masque.hints import escalation_line
    from masque.makeup.prompt import STRENGTHS

    settings = {"regions": ["skin"], "engine": "parametric", "engine_config": {"strength": "max"}}
    group = weak_protection_hint(["dlib"], settings, has_pair=False, faces=3, strengths=STRENGTHS)
    assert "one run per person" in group and "`--faces N --pair THEIR_PHOTO`" in group and "of you" not in group
    alone = weak_protection_hint(["dlib"], settings, has_pair=False, faces=1, strengths=STRENGTHS)
    assert "add another photo of you with `--pair`" in alone
    assert "--pair" not in weak_protection_hint(["dlib"], settings, has_pair=True, faces=1, strengths=STRENGTHS)
    capped = {"escalation": [{"strength": "max", "status": "not protected"}], "strength_reached": "max",
              "cap_reached": True}
    line = escalation_line(2, capped, False, strengths=STRENGTHS, faces=3)
    assert "one run per person" in line, line
    web = escalation_line(2, capped, False, "web", strengths=STRENGTHS, faces=3)
    assert "once per person" in web and "--" not in web, web
