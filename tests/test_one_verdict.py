"""Issue 10 acceptance: `masque protect`'s sidecar, `masque check` on the written file, the web page's JSON and
`masque evaluate` give the same per-face, per-model verdicts for the same real photo and settings (parametric
engine, 3 steps, dlib), because all four run the one pipeline, judge and rule; and a pair photo of another person
never earns a "protected"."""

from __future__ import annotations

import json

import pytest

from masque.cli import main

STEPS = 3
PROMPT = "red lipstick"


def _cli(capsys, *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_:
        main(list(args))
    captured = capsys.readouterr()
    return exit_.value.code or 0, captured.out, captured.err


def _verdicts(face: dict) -> dict[str, tuple]:
    """model -> (verdict, recognised, vs original, vs each reference, each reference before)."""
    return {m["model"]: (m["verdict"], m["recognised"], m["vs_original"], m["vs_references"], m["references_before"])
            for m in face["models"]}


def _same(a: dict, b: dict, what: str) -> None:
    assert a.keys() == b.keys(), what
    for model in a:
        verdict_a, rec_a, *numbers_a = a[model]
        verdict_b, rec_b, *numbers_b = b[model]
        assert (verdict_a, rec_a) == (verdict_b, rec_b), (what, model)
        # same bytes, same judges: the numbers agree to float rounding
        assert numbers_a[0] == pytest.approx(numbers_b[0], abs=1e-6), (what, model)
        for key in numbers_a[1]:
            assert numbers_a[1][key] == pytest.approx(numbers_b[1][key], abs=1e-6), (what, model, key)
            assert numbers_a[2][key] == pytest.approx(numbers_b[2][key], abs=1e-6), (what, model, key)


def test_protect_check_web_and_evaluate_agree_on_a_real_photo(tmp_path, faces_dir, capsys):
    photo, pair = faces_dir / "obama.jpg", faces_dir / "obama2.jpg"
    # 1. masque protect (CLI): the sidecar's verdict
    out = tmp_path / "obama.protected.jpg"
    code, _, err = _cli(capsys, "protect", str(photo), "--pair", str(pair), "--prompt", PROMPT, "--engine",
                        "parametric", "--steps", str(STEPS), "--surrogates", "dlib", "--seed", "0", "--out", str(out),
                        "--quiet")
    assert code == 0, err
    side = json.loads((tmp_path / "obama.protected.jpg.json").read_text())
    (face,) = side["faces"]
    protect_v = _verdicts(face["verdict"])
    models = {"dlib", "dlib-bin"}
    assert models <= set(protect_v)
    assert {k: v[0] for k, v in protect_v.items()}  # every judge has a verdict word
    assert set(side["timings"]) >= {"load", "detect", "align_mask", "anchors", "engine", "paste", "write", "judge"}

    # 2. masque check on the written file (its sidecar tells it which judge was a surrogate)
    code, stdout, _ = _cli(capsys, "check", str(photo), str(out), "-r", str(pair), "--models", "dlib", "--json")
    report = json.loads(stdout)
    (checked,) = report["faces"]
    _same({m: protect_v[m] for m in models}, _verdicts(checked), "check")
    assert checked["status"] == face["status"]
    assert {m["model"]: m["role"] for m in checked["models"]} == {"dlib": "surrogate", "dlib-bin": "independent"}
    assert code == {"protected": 0, "unverified": 4}.get(face["status"], 3)

    # 3. the web page's JSON for the same upload and settings
    from masque.web.server import ProtectService, ServeConfig

    service = ProtectService(ServeConfig(engine="parametric", surrogates=("dlib",), steps=STEPS, quiet=True,
                                         tmp_root=tmp_path))
    answer = service.protect({"photo": ("obama.jpg", photo.read_bytes()), "pair": ("obama2.jpg", pair.read_bytes()),
                              "prompt": (None, PROMPT.encode()), "engine": (None, b"parametric")})
    (web_face,) = answer["faces"]
    _same({m: protect_v[m] for m in models}, {m: v for m, v in _verdicts(web_face["verdict"]).items() if m in models},
          "web")
    assert web_face["status"] == face["status"] and answer["faces_protected"] == side["faces_protected"]

    # 4. masque evaluate on the same pair (white-box on dlib: the same surrogate)
    pairs = tmp_path / "pairs.txt"
    pairs.write_text(f"{photo} {pair} obama\n")
    code, _, err = _cli(capsys, "evaluate", "--pairs", str(pairs), "--out", str(tmp_path / "eval"), "--methods",
                        "parametric", "--parametric-steps", str(STEPS), "--models", "dlib", "--prompt", PROMPT,
                        "--seed", "0")
    assert code == 0, err
    results = json.loads((tmp_path / "eval" / "results.json").read_text())
    (run,) = results["runs"]
    (item,) = [it for it in run["items"] if it["source"] == str(photo)]
    _same({m: protect_v[m] for m in models}, _verdicts(item["verdict"]), "evaluate")
    assert item["status"] == face["status"]


def test_pair_photo_of_another_person_warns_and_never_claims_protected(tmp_path, faces_dir, capsys):
    """biden.jpg given as obama's pair, and kept with `--force-pair` (by default it is skipped, see
    tests/cli/test_newcomer_output.py): it never matched obama, so moving away from it proves nothing."""
    out = tmp_path / "obama.protected.png"
    code, _, err = _cli(capsys, "protect", str(faces_dir / "obama.jpg"), "--pair", str(faces_dir / "biden.jpg"),
                        "--prompt", PROMPT, "--engine", "parametric", "--steps", "2", "--surrogates", "dlib",
                        "--out", str(out), "--force-pair")
    assert code == 0, err
    side = json.loads((tmp_path / "obama.protected.png.json").read_text())
    (face,) = side["faces"]
    assert face["status"] != "protected" and side["faces_protected"] == 0
    warnings = face["verdict"]["warnings"]
    assert len(warnings) == 1 and "biden.jpg" in warnings[0] and "another person" in warnings[0]
    assert side["summary"]["warnings"] == warnings
    rows = {m["model"]: m for m in face["verdict"]["models"]}
    assert rows["dlib"]["references_before"]["biden.jpg"] < rows["dlib"]["threshold"]  # never matched
    assert rows["dlib-bin"]["references_before"]["biden.jpg"] >= 0.6
    summary = " ".join(err.split())
    assert "Warning (face 0)" in summary and "biden.jpg" in summary and "protected: 0, not protected:" \
        in summary
