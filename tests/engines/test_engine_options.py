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


def test_the_catalog_declares_options_by_the_fields_of_engine_options():
    """`OPTION_NAMES` (the torch-free catalog) is exactly `EngineOptions`' fields, so an entry cannot accept an option
    that does not exist, nor miss a new one silently."""
    from dataclasses import fields

    from masque.engines.catalog import KNOWN_ENGINES, OPTION_NAMES

    assert tuple(f.name for f in fields(EngineOptions)) == OPTION_NAMES
    assert all(e.options <= set(OPTION_NAMES) for e in KNOWN_ENGINES.values())


@pytest.mark.parametrize("option, value", [("model", "sd"), ("guidance_scale", 7.5), ("inversion", "direct"),
                                           ("source_prompt", "a face")])
def test_an_option_the_catalog_entry_does_not_accept_is_refused(option, value):
    with pytest.raises(InputError, match=f"`--{option.replace('_', '-')}` does not apply to the parametric engine"):
        engine_kwargs("parametric", EngineOptions(**{option: value}))


def test_capabilities_are_read_from_the_entry_not_the_name():
    """GPU and weights needs come from the catalog; the start level of escalation from the registered ``level_of``,
    before any model loads (a guidance strength that is no level name is refused in one line)."""
    from masque.engines.base import config_level
    from masque.engines.catalog import auto_order, needs_gpu

    assert needs_gpu("diffusion", None) and not needs_gpu("diffusion", "cpu") and not needs_gpu("parametric", None)
    assert not needs_gpu("auto", None)  # not resolved yet: no engine entry
    assert auto_order() == ["diffusion", "parametric"]
    assert config_level("parametric") == config_level("diffusion") == "natural"
    assert config_level("parametric", engine_kwargs("parametric", EngineOptions(strength="bold"))["config"]) == "bold"
    assert config_level("diffusion", engine_kwargs("diffusion", EngineOptions(strength="max"))["config"]) == "max"
    with pytest.raises(InputError, match="must be a level name .* got the number 0.7"):
        config_level("diffusion", engine_kwargs("diffusion", EngineOptions(strength="0.7"))["config"])


def test_no_front_end_probes_an_engine_or_compares_its_name():
    """Issue 27's acceptance, kept: capabilities are declared (catalog / registry), never probed."""
    import re
    from pathlib import Path

    import masque

    pattern = re.compile(r"getattr\(engine|== \"diffusion\"|== 'diffusion'")
    hits = [f"{p}:{i}" for p in Path(masque.__file__).parent.rglob("*.py")
            for i, line in enumerate(p.read_text().splitlines(), 1) if pattern.search(line)]
    assert hits == []
