"""A run configuration that round-trips (issue 27): the sidecar stores the run's `ProtectConfig`, it loads back equal,
and protecting again from it gives the same settings and the same pixels."""

from __future__ import annotations

import json

import pytest

import masque
from masque.engines.base import EngineOptions
from masque.engines.parametric import ParametricConfig
from masque.errors import InputError
from masque.run_config import ProtectConfig

CONFIG = ProtectConfig("full glam", engine="parametric", options=EngineOptions(steps=2, strength="bold"),
                       surrogates=["dlib"], judges=["dlib"], dlib_bin=False, seed=4, faces="largest")
# what differs between two runs of the same settings: where they wrote, and how long they took
RUN_SPECIFIC = {"output", "cost", "timings", "seconds"}
CONFIG_ENGINE = ParametricConfig(steps=1)


def test_a_config_round_trips_through_json():
    data = json.loads(json.dumps(CONFIG.to_dict()))
    assert ProtectConfig.from_dict(data) == CONFIG
    assert CONFIG.surrogates == ("dlib",) and CONFIG.options.device is None  # tuples; no machine setting stored
    assert ProtectConfig("x", options=EngineOptions(device="cuda")).options.device is None


@pytest.mark.parametrize("data, words", [({"version": 99, "prompt": "x"}, "version must be 1"),
                                         ({"version": 1, "prompt": "x", "colour": "red"}, "unknown settings"),
                                         ({"version": 1, "prompt": "x", "options": {"volume": 11}},
                                          "unknown engine options")])
def test_a_config_from_another_version_is_refused_in_one_line(data, words):
    with pytest.raises(InputError, match=words) as exc:
        ProtectConfig.from_dict(data)
    assert "\n" not in str(exc.value)


def test_the_sidecar_stores_the_config_and_reruns_it(tmp_path, faces_dir):
    first = masque.Protector.from_config(CONFIG).protect_photo(faces_dir / "obama.jpg", out=tmp_path / "a.png")
    side = json.loads(first.sidecar.read_text())
    assert side["settings"]["config"] == json.loads(json.dumps(CONFIG.to_dict()))

    again = masque.Protector.from_sidecar(first.sidecar)
    assert again.config == CONFIG  # loads back equal
    second = again.protect_photo(faces_dir / "obama.jpg", out=tmp_path / "b.png")
    redo = json.loads(second.sidecar.read_text())
    assert redo["settings"] == side["settings"]  # the same settings, engine config and plan included
    for face in (*side["faces"], *redo["faces"]):
        face["engine"].pop("seconds")  # the engine's own timing
    keep = {k: v for k, v in side.items() if k not in RUN_SPECIFIC}
    assert {k: v for k, v in redo.items() if k not in RUN_SPECIFIC} == keep  # same verdicts, same similarities
    assert (tmp_path / "b.png").read_bytes() == (tmp_path / "a.png").read_bytes()  # same seed: the same pixels


def test_a_prompt_change_is_a_change_of_the_config(faces_dir):
    protector = masque.Protector.from_config(CONFIG)
    assert protector.with_prompt("red lipstick").config == ProtectConfig(
        **{**CONFIG.__dict__, "prompt": "red lipstick", "region": None})


def test_a_sidecar_without_a_config_is_refused_in_one_line(tmp_path):
    side = tmp_path / "x.json"
    side.write_text(json.dumps({"settings": {"engine": "parametric"}}))
    with pytest.raises(InputError, match="holds no run configuration"):
        masque.Protector.from_sidecar(side)


def test_the_one_call_form_stores_its_settings_too(tmp_path, faces_dir):
    """`masque.protect` with the engine's default knobs: its keyword arguments are the config."""
    report = masque.protect(faces_dir / "obama.jpg", "red lipstick", out=tmp_path / "o.png", engine="parametric",
                            surrogates=["dlib"], judges=["dlib"], dlib_bin=False, seed=2)
    stored = ProtectConfig.from_dict(json.loads(report.sidecar.read_text())["settings"]["config"])
    assert stored == ProtectConfig("red lipstick", engine="parametric", surrogates=("dlib",), judges=("dlib",),
                                   dlib_bin=False, seed=2)
    raw = masque.Protector("red lipstick", engine="parametric", surrogates=["dlib"], judges=["dlib"],
                           engine_options={"config": CONFIG_ENGINE})
    assert raw.config is None  # raw engine configs are no front-end settings: nothing to claim
