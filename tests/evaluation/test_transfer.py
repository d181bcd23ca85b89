"""Leave-one-out over real FR models: each held-out model's black-box PSR is reported beside the white-box PSR of
the models the same crops were optimised against."""

from __future__ import annotations

import json

import pytest

from masque.cli import main
from masque.evaluation.transfer import transfer_summary


def _run(method, target, protocol, psr, surrogates=(), seconds=1.0):
    return {"method": method, "target": target, "protocol": protocol, "surrogates": list(surrogates),
            "primary_threshold": "t", "verification": {"t": {"psr": psr}}, "cost": {"seconds_per_image": seconds}}


def test_transfer_summary_pairs_black_and_white_box():
    runs = [_run("pgd", "a", "leave-one-out", 0.25, ("b", "c"), 2.0), _run("pgd", "b", "white-box", 1.0),
            _run("pgd", "c", "white-box", 0.5),
            _run("pgd", "b", "leave-one-out", 0.0, ("a", "c"), 3.0), _run("pgd", "a", "white-box", 0.75),
            _run("pgd", "c", "white-box", 1.0), _run("clean", "a", "none", 0.0)]
    rows = {r["model"]: r for r in transfer_summary(runs)}
    assert set(rows) == {"a", "b", "c"}
    assert rows["a"]["black_box_psr"] == 0.25 and rows["a"]["white_box_psr"] == pytest.approx(0.75)
    assert rows["a"]["surrogates"] == ["b", "c"] and rows["a"]["seconds_per_face"] == 2.0
    assert rows["c"]["black_box_psr"] is None and rows["c"]["white_box_psr"] == pytest.approx(0.75)


@pytest.mark.slow  # 24 s of a 2-core suite; the evaluation path itself runs in test_runner.py
def test_leave_one_out_evaluation_reports_black_box_per_held_out_model(tmp_path, monkeypatch, faces_dir,
                                                                       package_weights, capsys):
    home = tmp_path / "home"
    (home / "fr" / "sface").mkdir(parents=True)
    (home / "fr" / "sface" / package_weights("sface").name).symlink_to(package_weights("sface"))
    monkeypatch.setenv("MASQUE_HOME", str(home))
    data = tmp_path / "data"
    for ident, names in {"obama": ["obama", "obama2"], "biden": ["biden"]}.items():
        (data / ident).mkdir(parents=True)
        for n in names:
            (data / ident / f"{n}.jpg").symlink_to(faces_dir / f"{n}.jpg")
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as exit_:
        main(["evaluate", "--dataset", str(data), "--out", str(out), "--methods", "pgd", "--models", "dlib,sface",
              "--size", "128", "--pgd-steps", "2", "--pgd-step-size", "4/255", "--limit", "2"])
    assert exit_.value.code in (0, None)
    results = json.loads((out / "results.json").read_text())
    loo = [(r["target"], tuple(r["surrogates"])) for r in results["runs"] if r["protocol"] == "leave-one-out"]
    assert loo == [("dlib", ("sface",)), ("sface", ("dlib",))]
    white = [(r["target"], r["held_out"]) for r in results["runs"] if r["protocol"] == "white-box"]
    assert white == [("sface", "dlib"), ("dlib", "sface")]
    rows = {r["model"]: r for r in results["transfer"]}
    for run in results["runs"]:
        psr = run["verification"][run["primary_threshold"]]["psr"]
        key = "black_box_psr" if run["protocol"] == "leave-one-out" else "white_box_psr"
        assert rows[run["target"]][key] == pytest.approx(psr)
    printed = capsys.readouterr().out
    assert "Transfer (leave-one-out)" in printed and "black-box" in printed and "white-box" in printed
