"""The Ray executor on a local Ray instance (2 CPUs): same results as local, and a worker killed mid-run costs
nothing but a retry. Slow (Ray takes seconds to start on 2 cores); `.ci/run` runs it with ``-m slow -k ray``."""

from __future__ import annotations

import json
import os
import shutil
import signal
from collections import Counter
from pathlib import Path

import pytest
import torch
from PIL import Image

from masque.cli import main
from masque.manifest import MANIFEST_NAME, sha256_bytes

pytestmark = pytest.mark.slow

EVAL = ["--methods", "clean,pgd,parametric", "--models", "dlib", "--size", "128", "--pgd-steps", "2",
        "--pgd-step-size", "3/255", "--parametric-steps", "2", "--seed", "3"]


@pytest.fixture(scope="module")
def ray_local():
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"OMP_WAIT_POLICY": "PASSIVE"}})
    yield ray
    ray.shutdown()


def _evaluate(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["evaluate", *argv])
    assert exit_.value.code in (0, None)


def _items(out: Path) -> dict[tuple[str, str], dict]:
    results = json.loads((out / "results.json").read_text())
    return {(run["method"], it["key"]): it for run in results["runs"] for it in run["items"]}


def _float_leaves(obj, prefix=""):
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _float_leaves(v, f"{prefix}/{k}")
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _float_leaves(v, f"{prefix}/{i}")
    else:
        yield prefix, obj


def test_evaluate_on_ray_gives_the_local_per_item_results(ray_local, tmp_path, faces_dir):
    data = tmp_path / "identities"
    for ident, names in {"obama": ["obama", "obama2"], "biden": ["biden"]}.items():
        (data / ident).mkdir(parents=True)
        for n in names:
            (data / ident / f"{n}.jpg").symlink_to(faces_dir / f"{n}.jpg")
    local, remote = tmp_path / "local", tmp_path / "ray"
    # Ray's 1-CPU workers run torch on one thread; the local run gets the same, since convolutions (channels-last,
    # oneDNN) sum in an order that depends on the thread count and PGD's sign steps turn 1e-8 into a pixel
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        _evaluate(["--dataset", str(data), "--out", str(local), *EVAL, "--executor", "local"])
    finally:
        torch.set_num_threads(threads)
    shutil.copytree(local / "crops", remote / "crops")  # the driver's detection cache: same crops, less waiting
    _evaluate(["--dataset", str(data), "--out", str(remote), *EVAL, "--executor", "ray", "--workers", "2"])

    a, b = _items(local), _items(remote)
    assert set(a) == set(b) and {m for m, _ in a} == {"clean", "pgd", "parametric"}
    for key, item in a.items():
        other = b[key]
        if key[0] != "clean":  # the protected photos and their scoring crops: bit for bit
            for path in ("protected_photo_path", "protected_path"):
                assert (local / item[path]).read_bytes() == (remote / other[path]).read_bytes(), (key, path)
        # scores are computed by the driver from those crops: identical; the engine's own diagnostics (summed in
        # a worker with another thread count) to 1e-5
        for field in ("seed", "nfe", "same_person_similarity", "identity_rank", "robustness_similarity", "psnr",
                      "ssim"):
            assert item.get(field) == other.get(field), (key, field)
        for (path, x), (_, y) in zip(_float_leaves(item.get("engine_info", {})),
                                     _float_leaves(other.get("engine_info", {})), strict=True):
            if "seconds" in path:
                continue
            if isinstance(x, float):
                assert y == pytest.approx(x, abs=1e-5), (key, path)
            else:
                assert x == y, (key, path)


def test_worker_killed_mid_run_is_retried_and_each_photo_recorded_once(ray_local, tmp_path, faces_dir):
    from masque.batch import ProtectSpec, plan_units, run_protect_batch
    from masque.engines.parametric import ParametricConfig
    from masque.executors import RayExecutor

    img = Image.open(faces_dir / "obama.jpg")
    img = img.resize((img.width // 2, img.height // 2))
    photos = []
    for name in "abcd":
        img.save(tmp_path / f"{name}.jpg", quality=95)
        photos.append(tmp_path / f"{name}.jpg")
    spec = ProtectSpec({"prompt": "plum lipstick", "engine": "parametric", "surrogates": ["dlib"], "seed": 0,
                        "engine_options": {"config": ParametricConfig(steps=2)}}, device="cpu")
    out = tmp_path / "out"
    executor = RayExecutor(workers=2)
    killed: list[int] = []
    after: list[list[int]] = []

    def on_outcome(key: str, status: str, why: str | None) -> None:
        pool = executor.pools[-1]
        if not killed:  # first result back: the other units are still in flight on both workers
            pid = pool.pids()[0]
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)
        after.append(pool.pids())

    summary = run_protect_batch(spec, plan_units(photos), out, executor=executor, on_outcome=on_outcome)
    executor.close()
    assert summary.failed == [] and sorted(summary.done) == [f"{n}.protected.jpg" for n in "abcd"]
    assert killed[0] not in after[-1]  # Ray restarted the killed worker (and re-ran what it held)
    records = [json.loads(line) for line in (out / MANIFEST_NAME).read_text().splitlines()]
    assert Counter(r["key"] for r in records) == Counter({f"{n}.protected.jpg": 1 for n in "abcd"})
    for r in records:
        for rel, sha in r["files"].items():
            assert sha256_bytes((out / rel).read_bytes()) == sha
    assert not list(out.glob(".*"))
    # the same seed gives the same bytes as the local executor
    local = tmp_path / "local"
    assert run_protect_batch(spec, plan_units(photos[:1]), local).done == ["a.protected.jpg"]
    assert (local / "a.protected.jpg").read_bytes() == (out / "a.protected.jpg").read_bytes()
