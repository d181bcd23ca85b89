"""Engine-specific options are read by the engine's registered options mapper, the same for every front end."""

from __future__ import annotations

import pytest

from masque.devices import default_device
from masque.engines.base import EngineOptions, engine_kwargs
from masque.errors import InputError


@pytest.mark.parametrize("given, expected", [("0.5", 0.5), (2, 2.0), ("0", 0.0)])
def test_the_diffusion_mapper_reads_strength_as_text_or_number(given, expected):
    cfg = engine_kwargs("diffusion", EngineOptions(strength=given))["config"]
    assert cfg.guidance.strength == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("given", ["-1", "nan", "strong"])
def test_the_diffusion_mapper_refuses_an_unknown_word_or_a_negative_strength(given):
    with pytest.raises(InputError, match=r"`--strength` must be a number >= 0") as exc:
        engine_kwargs("diffusion", EngineOptions(strength=given))
    assert "\n" not in str(exc.value)


def test_the_diffusion_mapper_climbs_the_same_ladder_as_the_fast_engine():
    """Level names map onto increasing guidance strengths (escalation climbs `STRENGTHS` for either engine)."""
    from masque.makeup.prompt import STRENGTHS

    values = [engine_kwargs("diffusion", EngineOptions(strength=s))["config"].guidance.strength for s in STRENGTHS]
    assert values == sorted(set(values))  # strictly increasing


def test_the_parametric_mapper_takes_levels_only():
    assert engine_kwargs("parametric", EngineOptions(strength="max"))["config"].strength == "max"
    with pytest.raises(InputError, match="`--strength` must be one of subtle, natural, bold, max"):
        engine_kwargs("parametric", EngineOptions(strength="0.5"))


def test_the_default_device_is_decided_in_one_place():
    assert default_device("cuda:1") == "cuda:1"
    assert default_device(None) in ("cpu", "cuda")


def test_reshape_is_a_parametric_knob_the_diffusion_engine_refuses():
    from masque.engines.parametric import STRENGTH_PRESETS

    cfg = engine_kwargs("parametric", EngineOptions(strength="bold", reshape=0.0))["config"]
    assert cfg.resolved().reshape == 0.0  # 0 turns it off whatever the level's preset
    preset = engine_kwargs("parametric", EngineOptions(strength="bold"))["config"].resolved().reshape
    assert preset == pytest.approx(STRENGTH_PRESETS["bold"].reshape, abs=1e-12)
    with pytest.raises(InputError, match="`reshape` must lie in"):
        engine_kwargs("parametric", EngineOptions(reshape=9.0))
    with pytest.raises(InputError, match="`--reshape` does not apply to the diffusion engine"):
        engine_kwargs("diffusion", EngineOptions(reshape=1.0))
