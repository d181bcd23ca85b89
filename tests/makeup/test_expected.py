"""The expected protection is data (issue 29): the benchmark writes `masque/makeup/measured/frontier.json`, the
product reads it, and these tests tie the file to the strength presets it was measured with, to its own counts and to
what the CLI and the page say."""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

import pytest

from masque.engines.parametric import STRENGTH_PRESETS, ParametricConfig
from masque.makeup import STRENGTHS
from masque.makeup.expected import (
    MeasuredRow,
    Outcome,
    expected_protection,
    measured_path,
    measured_rows,
    measured_settings,
    settings_of,
)

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "protection_table.py"


def _same(a, b) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        return a is not None and b is not None and math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    return a == b


def test_every_strength_preset_has_a_measured_row_with_the_settings_it_resolves_to_today():
    """Fails when a preset (`STRENGTH_PRESETS`) or a `ParametricConfig` default moves away from what its row was
    measured with: re-measure with `benchmarks/protection_table.py --write-measured` (or revert the change)."""
    rows = {r.strength: r for r in measured_rows() if r.prompt == "full glam"}
    assert set(rows) == set(STRENGTH_PRESETS) == set(STRENGTHS)
    for level, row in rows.items():
        today = settings_of(ParametricConfig(strength=level).resolved())
        changed = {k: (row.settings.get(k, "<absent>"), v) for k, v in today.items()
                   if not _same(row.settings.get(k), v) or k not in row.settings}
        changed |= {k: (v, "<absent>") for k, v in row.settings.items() if k not in today}
        assert not changed, f"{level}: (measured with, today) {changed}; re-measure the frontier"


def test_each_outcome_is_its_count_over_n_with_the_wilson_interval():
    for row in measured_rows():
        for name, o in row.outcomes.items():
            assert 0 <= o.count <= o.n <= row.faces, (row.strength, name)
            ref = Outcome.of(o.count, o.n)
            assert abs(ref.low - o.low) < 1e-3 and abs(ref.high - o.high) < 1e-3, (row.strength, name)
            assert o.low <= o.rate <= o.high


def test_wilson_interval_of_three_in_ten():
    """Hand value (Wilson score, z = 1.96): 3/10 -> 0.108 .. 0.603."""
    o = Outcome.of(3, 10)
    assert abs(o.low - 0.1078) < 1e-3 and abs(o.high - 0.6032) < 1e-3


def test_what_the_user_reads_is_the_file():
    """The sentence and the page's chips quote the shipped rows (rates and intervals), nothing written in code."""
    raw = json.loads(measured_path().read_text())["rows"]
    for r in raw:
        loo = r["outcomes"]["leave_one_out"]
        text = expected_protection(["foundation", "lipstick"], r["strength"])
        lo, hi = (round(100 * v) for v in loo["ci95"])
        assert f"Expected at {r['strength']} (measured on {r['faces']} faces" in text, text
        assert f"leave-one-out {round(100 * loo['rate'])} % (95 % CI {lo}–{hi} %)" in text, text
    # the file stores rates to 4 decimals (1/3 is 0.3333): compared at that precision
    chips = {(m.strength, round(m.leave_one_out, 4), round(m.dlib_bin, 4)) for m in measured_settings()}
    assert chips == {(r["strength"], r["outcomes"]["leave_one_out"]["rate"], r["outcomes"]["dlib_bin"]["rate"])
                     for r in raw if r["outcomes"]["leave_one_out"]["rate"] or r["outcomes"]["dlib_bin"]["rate"]}


def test_the_sentence_names_stronger_levels_or_the_escalation_up_to_the_cap():
    plain = expected_protection(["foundation"], "natural")
    assert "Stronger: --strength bold" in plain and "--strength max" in plain
    until = expected_protection(["foundation"], "natural", cap="bold")
    assert "still recognised: bold" in until and "max" not in until.split("Then")[1]
    assert "Stronger" not in expected_protection(["foundation"], "max")
    assert expected_protection(["lipstick"], "max").startswith("Expected protection: little")
    web = expected_protection(["foundation"], "natural", audience="web")
    assert "--strength" not in web and "benchmarks/" not in web


def test_the_benchmark_writes_exactly_what_the_product_reads(tmp_path):
    """The writer (`protection_table.py --write-measured`) and the reader agree: a row summarised from per-face
    records goes through the benchmark's own conversion and comes back equal."""
    spec = importlib.util.spec_from_file_location("protection_table", BENCH)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    faces = [{"loo": i < 3, "dlib_bin": i < 4, "white_box": {"dlib": i < 5, "sface": True},
              "status": "protected" if i == 0 else "not protected", "held_out": "dlib", "held_out_margin": 0.1,
              "face_ssim": 0.95, "texture_ssim": 0.97, "reshape": {"max_landmark_iod_pct": 3.5 + 0.1 * i},
              "ms_ssim": 0.96, "seconds": 12.0, "engine_seconds": 10.0, "iterations": 20}
             for i in range(10)]
    config = ParametricConfig(strength="natural").resolved()
    row = {**bench.summarise("full glam", "natural", 4.0, config, faces), "settings": settings_of(config)}
    written = bench.measured_row(row)
    path = tmp_path / "frontier.json"
    from masque.makeup.expected import measured_document

    path.write_text(measured_document([written], command="test", judges=["dlib"]))
    (back,) = measured_rows(path)
    assert back == MeasuredRow.from_dict(json.loads(path.read_text())["rows"][0]) == written
    assert {k: (o.count, o.n) for k, o in back.outcomes.items()} == {
        "leave_one_out": (3, 10), "dlib_bin": (4, 10), "white_box": (5, 10), "protected": (1, 10)}
    assert abs(back.texture_ssim - 0.97) < 1e-9 and abs(back.reshape_iod_pct - 4.4) < 1e-6  # the largest reach


@pytest.mark.parametrize("level", STRENGTHS)
def test_each_shipped_row_counts_its_faces(level):
    """Every level's row reads back with its faces counted: at least one face of each of the nine shared people, each
    outcome over those faces (dlib-bin over those it could judge)."""
    row = next(r for r in measured_rows() if r.strength == level)
    assert row.faces >= 9
    assert all(o.n == row.faces for k, o in row.outcomes.items() if k != "dlib_bin")
    assert 0 < row.outcomes["dlib_bin"].n <= row.faces
