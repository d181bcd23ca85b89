"""`benchmarks/bench_engine.py` on the tiny model: the same build/placement path `--arch sd15 --device cuda` takes."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[3] / "benchmarks" / "bench_engine.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_engine", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow  # every method x memory mode of the benchmark, 11 s
def test_bench_rows_per_method_and_memory_mode(bench, tmp_path):
    out = tmp_path / "rows.jsonl"
    rows = bench.main(["--arch", "tiny", "--resolution", "32", "--device", "cpu", "--dtype", "fp16", "--steps", "2",
                       "--inner-iters", "1",
                       "--no-early-stop", "--guidance-iters", "1", "--memory", "default,tiling", "--out", str(out)])
    assert [(r["memory"], r["inversion"]) for r in rows] == [
        (m, i) for m in ("default", "tiling") for i in ("direct", "null-text", "negative-prompt")]
    assert [json.loads(line) for line in out.read_text().splitlines()] == json.loads(json.dumps(rows, default=str))
    unet = {r["inversion"]: r["unet_nfe"] for r in rows[:3]}
    # 2 steps: DDIM inversion 2 + edit 2; direct +2 offsets; null-text +2 cond +2 CFG + 2 fwd+bwd (= 6 NFE)
    assert unet == {"direct": 6, "null-text": 14, "negative-prompt": 4}
    assert all(r["dtype"] == "float16" and r["peak_memory_kind"] == "RSS" and r["seconds_per_face"] > 0 for r in rows)


@pytest.mark.parametrize("argv", [["--inversion", "ddim"], ["--memory", "huge"]])
def test_bench_rejects_unknown_modes_in_one_line(bench, argv, capsys):
    with pytest.raises(SystemExit) as err:
        bench.main(argv)
    assert err.value.code != 0 and len(capsys.readouterr().err.strip().splitlines()[-1]) > 0


def test_bench_dtype_list_runs_each_dtype(bench):
    rows = bench.main(["--arch", "tiny", "--resolution", "32", "--device", "cpu", "--dtype", "fp32,bf16", "--steps",
                       "2", "--inversion", "null-text", "--inner-iters", "1", "--guidance-iters", "1"])
    assert [r["dtype"] for r in rows] == ["float32", "bfloat16"]
    assert all(len(r["null_text_losses"]) == 2 for r in rows)
