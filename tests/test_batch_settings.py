"""What a batch's settings digest covers: a re-run into the same folder with other settings is never "skipped"."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from masque.api import ProtectReport
from masque.batch import ProtectSpec, WrittenUnit, plan_units, run_protect_batch
from masque.errors import InputError
from masque.executors import LocalPool
from masque.trace import CostTrace


class _StubExecutor:
    """Runs units in-process with a stub worker (no model): what is tested is the driver's bookkeeping."""

    name = "local"

    def pool(self, make_worker, resources):
        def worker(job):
            report = ProtectReport(job.unit.photo, Path(job.unit.out_name), Path(job.unit.out_name + ".json"), 1, [],
                                   {"prompt": "red lipstick"}, CostTrace(), 0.0)
            return WrittenUnit(b"protected " + job.photo, report, [])

        return LocalPool(lambda: worker)

    def close(self):
        pass


def _mask(value: float) -> np.ndarray:
    m = np.zeros((8, 8), np.float32)
    m[2:6, 2:6] = value
    return m


@pytest.fixture
def units(tmp_path):
    photo = tmp_path / "in" / "a.png"
    photo.parent.mkdir()
    photo.write_bytes(b"pixels")
    return plan_units([photo])


def test_a_rerun_with_another_mask_is_refused_not_skipped(units, tmp_path):
    out = tmp_path / "out"
    protector = {"prompt": "red lipstick", "engine": "parametric", "seed": 0}
    first = run_protect_batch(ProtectSpec(protector, mask=_mask(1.0), aligned=True), units, out,
                              executor=_StubExecutor())
    assert first.done == ["a.protected.png"]
    same = run_protect_batch(ProtectSpec(protector, mask=_mask(1.0), aligned=True), units, out,
                             executor=_StubExecutor())
    assert [why for _, why in same.skipped] == ["finished earlier"] and not same.done
    with pytest.raises(InputError, match="other settings"):
        run_protect_batch(ProtectSpec(protector, mask=_mask(0.5), aligned=True), units, out,
                          executor=_StubExecutor())


def test_the_sidecar_is_the_reports_with_the_batch_record(units, tmp_path):
    import json

    out = tmp_path / "out"
    spec = ProtectSpec({"prompt": "red lipstick", "engine": "parametric", "seed": 3})
    run_protect_batch(spec, units, out, executor=_StubExecutor())
    side = json.loads((out / "a.protected.png.json").read_text())
    assert side["input"] == str(units[0].photo) and side["output"] == str(out / "a.protected.png")
    assert side["batch"]["settings_hash"] == spec.digest() and side["batch"]["seed"] == 3
    assert side["settings"]["pair"] == [] and side["settings"]["prompt"] == "red lipstick"
