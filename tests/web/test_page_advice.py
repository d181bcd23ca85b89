"""Issue 21 item 4: the page follows its own advice. Strength reaches the engine through its options mapper, the
suggestions are the measured ones, hints name only what the page offers, each judge's role is shown, and the first
progress message does not claim a queue."""

from __future__ import annotations

import json
import threading
import uuid

import pytest

from masque.engines import EngineOptions, engine_kwargs
from masque.hints import weak_protection_hint
from masque.makeup.expected import expected_protection, measured_settings
from masque.makeup.prompt import STRENGTHS
from masque.pipeline.verdict import ROLE_MEANINGS, ROLES

from .conftest import http_request


@pytest.fixture(scope="module")
def server(serve, tmp_path_factory):
    with serve(engine="parametric", surrogates=("dlib",), steps=2, quiet=True,
               tmp_root=tmp_path_factory.mktemp("web")) as srv:
        yield srv


def _request(srv, method, path, body=None, headers=None):
    status, _, answer = http_request(srv, method, path, body, headers)
    return status, answer


def _post(srv, fields: dict[str, str], files: dict[str, tuple[str, bytes]]):
    boundary = uuid.uuid4().hex
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
             for k, v in fields.items()]
    parts += [f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"; filename="{n}"\r\n'
              f"Content-Type: application/octet-stream\r\n\r\n".encode() + d + b"\r\n" for k, (n, d) in files.items()]
    body = b"".join(parts) + f"--{boundary}--\r\n".encode()
    return _request(srv, "POST", "/api/protect", body, {"Content-Type": f"multipart/form-data; boundary={boundary}",
                                                        "X-Masque-Token": srv.token})


def test_status_offers_every_strength_and_the_measured_suggestions(server):
    status, body = _request(server, "GET", "/api/status")
    st = json.loads(body)
    assert status == 200 and st["strengths"] == list(STRENGTHS)
    assert st["default_strength"] == engine_kwargs("parametric")["config"].strength  # the CLI's default too
    assert st["until_protected"] is True  # "protect until it holds" is the page's default
    measured = measured_settings()
    assert [(s["prompt"], s["strength"]) for s in st["suggestions"]] == [(m.prompt, m.strength) for m in measured]
    for chip, m in zip(st["suggestions"], measured, strict=True):
        assert chip["leave_one_out"] == pytest.approx(m.leave_one_out, abs=1e-12)
        assert chip["dlib_bin"] == pytest.approx(m.dlib_bin, abs=1e-12)
        assert m.leave_one_out > 0 or m.dlib_bin > 0  # only settings that protected something are offered
    shares = [s["leave_one_out"] for s in st["suggestions"]]
    assert shares == sorted(shares, reverse=True)  # most protective first


def test_page_names_no_command_and_no_hard_coded_measurement(server):
    _, body = _request(server, "GET", "/")
    page = body.decode()
    assert "masque check" not in page and "--strength" not in page and "choose the diffusion" not in page
    assert 'id="strength"' in page and 'name="strength"' in page and "<th>Role</th>" in page
    for m in measured_settings():  # the measured numbers come from /api/status, never written into the page
        assert f"{100 * m.leave_one_out:.0f} %" not in page


def test_strength_reaches_the_engine_through_its_options_mapper(server, faces_dir):
    status, body = _post(server, {"prompt": "full glam", "strength": "bold", "engine": "parametric"},
                         {"photo": ("me.jpg", (faces_dir / "obama.jpg").read_bytes()),
                          "pair": ("me2.jpg", (faces_dir / "obama2.jpg").read_bytes())})
    assert status == 200, body[:300]
    r = json.loads(body)
    mapped = engine_kwargs("parametric", EngineOptions(steps=2, device="cpu", strength="bold"))["config"]
    _, protector = server.service._protectors["parametric"]
    assert protector.engine.config == mapped  # the same config `masque protect --strength bold --steps 2` builds
    assert r["sidecar"]["settings"]["engine_config"]["strength"] == "bold" and r["strength"] == "bold"
    assert r["sidecar"]["faces"][0]["engine"]["plan"]["strength"] == "bold"
    assert r["faces"][0]["bare_regions"] == r["sidecar"]["faces"][0]["bare_regions"]  # the page says what was left bare
    # each judge's role, as the CLI's tables show it, with its meaning for the page's legend
    roles = {(row["model"], row["role"]) for f in r["faces"] for row in f["rows"]}
    assert ("dlib", "surrogate") in roles and ("dlib-bin", "independent") in roles
    assert {role for _, role in roles} <= set(ROLES)
    assert r["roles"] == {role: ROLE_MEANINGS[role] for _, role in roles}
    if r["hint"]:  # worded for the page: no command, no flag, no greyed-out method
        assert "masque" not in r["hint"] and "--" not in r["hint"] and "diffusion" not in r["hint"]


def test_unknown_strength_is_refused_in_the_pages_words(server, faces_dir):
    status, body = _post(server, {"prompt": "full glam", "strength": "huge", "engine": "parametric"},
                         {"photo": ("me.jpg", (faces_dir / "obama.jpg").read_bytes())})
    text = body.decode()
    assert status == 400 and text.count("\n") == 1, text
    assert text.startswith("The strength must be one of subtle, natural, bold, max") and "'huge'" in text, text
    assert "`" not in text and "--" not in text


def test_first_progress_message_claims_no_queue_unless_one_is_running(server, faces_dir, monkeypatch):
    seen: list[str] = []
    real = server.progress.set
    monkeypatch.setattr(server.progress, "set", lambda job, msg, done=0, total=0: (seen.append(msg),
                                                                                    real(job, msg, done, total)))
    photo = {"photo": ("me.jpg", (faces_dir / "obama.jpg").read_bytes())}
    status, body = _post(server, {"prompt": "full glam", "engine": "parametric", "job": "job-" + uuid.uuid4().hex},
                         photo)
    assert status == 200, body[:300]
    assert seen and not any(m.startswith("Waiting") for m in seen), seen
    seen.clear()
    server.service._lock.acquire()  # another photo is running
    try:
        result: list = []
        thread = threading.Thread(target=lambda: result.append(_post(server, {
            "prompt": "full glam", "engine": "parametric", "job": "job-" + uuid.uuid4().hex}, photo)))
        thread.start()
        for _ in range(200):
            if seen:
                break
            thread.join(timeout=0.05)
        assert seen[:1] == ["Waiting for the photo before this one to finish"], seen
    finally:
        server.service._lock.release()
    thread.join(timeout=300)
    assert result and result[0][0] == 200


@pytest.mark.parametrize("strength", STRENGTHS)
def test_web_hint_offers_only_what_the_page_can_do(strength):
    settings = {"regions": ["lips"], "engine": "parametric", "engine_config": {"strength": strength}}
    hint = weak_protection_hint(["dlib"], settings, audience="web", diffusion_available=False, strengths=STRENGTHS)
    assert "masque" not in hint and "--" not in hint and "`" not in hint
    assert "diffusion" not in hint  # greyed out on the page
    assert ("stronger strength" in hint) == (strength != STRENGTHS[-1])
    assert "diffusion method" in weak_protection_hint(["dlib"], settings, audience="web", diffusion_available=True)
    cli = weak_protection_hint(["dlib"], settings, strengths=STRENGTHS)
    assert "masque check" in cli and ("`--strength`" in cli) == (strength != STRENGTHS[-1])


def test_expected_protection_for_the_page_names_no_command():
    for products in (["lipstick"], ["foundation", "lipstick"]):
        for strength in STRENGTHS:
            text = expected_protection(products, strength, audience="web")
            assert "masque" not in text and "--" not in text and "`" not in text, text
    assert "masque check" in expected_protection(["lipstick"], "max")


def test_notes_from_the_run_are_worded_for_the_page(server, faces_dir):
    """A pair photo of another person is skipped with a note; on the page it names no command-line flag."""
    status, body = _post(server, {"prompt": "full glam", "engine": "parametric"},
                         {"photo": ("me.jpg", (faces_dir / "obama.jpg").read_bytes()),
                          "pair": ("other.jpg", (faces_dir / "biden.jpg").read_bytes())})
    assert status == 200, body[:300]
    r = json.loads(body)
    (note,) = [n for n in r["notes"] if "other.jpg" in n]
    assert "skipped" in note and "`" not in note and "--" not in note, note
    assert r["faces"][0]["anchor"] == "self"


@pytest.mark.parametrize(("start", "cap", "levels"), [(None, None, ["natural", "bold", "max"]),
                                                       ("natural", "bold", ["natural", "bold"]),
                                                       ("subtle", "subtle", ["subtle"])])
def test_until_protected_escalates_from_the_strength_up_to_its_own_cap(server, faces_dir, start, cap, levels):
    """Issue 29: the strength control is where escalation starts, the "up to" control (default: the strongest
    level) its cap, so the page's defaults can escalate past natural."""
    fields = {"prompt": "full glam", "engine": "parametric", "until_protected": "1",
              **({"strength": start} if start else {}), **({"max_strength": cap} if cap else {})}
    status, body = _post(server, fields, {"photo": ("me.jpg", (faces_dir / "obama.jpg").read_bytes())})
    assert status == 200, body[:300]
    r = json.loads(body)
    assert r["until_protected"]["max_strength"] == levels[-1] and r["until_protected"]["levels"] == levels
    (face,) = r["faces"]
    tried = [step["strength"] for step in face["escalation"]["escalation"]]
    assert tried == levels[:len(tried)] and face["escalation"]["strength_reached"] == tried[-1]
    assert face["escalation"]["cap_reached"] == (face["status"] != "protected" and tried[-1] == levels[-1])
    line = face["escalation_line"]
    assert line.startswith("face 1: ") and "`" not in line and "--" not in line, line
    _, protector = server.service._protectors["parametric"]
    assert protector.engine.config.strength == levels[0]  # starts at the strength control


def test_a_cap_below_the_start_is_refused_in_page_words(server, faces_dir):
    status, body = _post(server, {"prompt": "full glam", "engine": "parametric", "until_protected": "1",
                                  "strength": "bold", "max_strength": "natural"},
                         {"photo": ("me.jpg", (faces_dir / "obama.jpg").read_bytes())})
    assert status == 400 and b"below the starting strength" in body and b"--" not in body, body


def test_expected_protection_is_offered_before_the_button(server):
    """`/api/expected`: the measured row of the page's choice, the escalation up to the cap, ignored words named."""
    from urllib.parse import urlencode

    status, body = _request(server, "GET", "/api/expected?" + urlencode(
        {"prompt": "full glam", "strength": "natural", "max_strength": "max"}))
    text = json.loads(body)["text"]
    from masque.makeup.expected import measured_row

    faces = measured_row("natural").faces
    assert status == 200 and text.startswith(f"Expected at natural (measured on {faces} faces"), text
    assert "95 % CI" in text and "still recognised: bold" in text and "--" not in text, text
    _, body = _request(server, "GET", "/api/expected?" + urlencode({"prompt": "purple unicorn sparkle"}))
    text = json.loads(body)["text"]
    assert text.startswith("Most of these words are not makeup words") and "unicorn, sparkle" in text, text


def test_progress_names_the_level_being_tried_and_the_time_left():
    import time

    from masque.web.progress import ProgressBoard

    board = ProgressBoard()
    report = board.engine_callback("job-12345678", ("natural", "bold", "max"))
    for done in range(4):
        report("face 1/2: parametric at bold", done, 40)
        time.sleep(0.01)
    message = board.get("job-12345678")["message"]
    assert message.startswith("Trying bold: step 3 of 40 (level 2 of 3, face 1 of 2)"), message
    assert "left at bold" in message and "if max is needed" in message, message
    report("face 1/2: parametric at bold", 40, 40)
    assert board.get("job-12345678")["message"].startswith("Trying bold: pasting back, saving and checking")


def test_web_hint_after_escalation_reads_the_cap_not_the_starting_level():
    settings = {"regions": ["skin"], "engine": "parametric", "engine_config": {"strength": "natural"},
                "until_protected": {"levels": ["natural", "bold", "max"], "max_strength": "max"}}
    def hint():
        return weak_protection_hint(["dlib"], settings, audience="web", strengths=STRENGTHS)

    assert "stronger strength" not in hint()
    settings["until_protected"] = {"levels": ["natural", "bold"], "max_strength": "bold"}
    assert "raise 'up to' above bold" in hint()
