"""`masque serve`: the page, a real protection over HTTP, clear 400s, nothing left on disk, clean shutdown."""

from __future__ import annotations

import base64
import io
import json
import uuid

import numpy as np
import pytest
from PIL import Image

from masque.errors import InputError
from masque.web.server import ServeConfig, make_server, parse_multipart

from .conftest import http_request


@pytest.fixture(scope="module")
def server(serve, tmp_path_factory):
    tmp_root = tmp_path_factory.mktemp("web-tmp")
    with serve(surrogates=("dlib",), steps=2, tmp_root=tmp_root, quiet=True, max_upload_bytes=4 * 2**20) as srv:
        yield srv, tmp_root


_request = http_request


def _multipart(fields: dict[str, str], files: dict[str, tuple[str, bytes]]) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    chunks = []
    for name, value in fields.items():
        chunks.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
    for name, (filename, data) in files.items():
        chunks.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
                      f"Content-Type: application/octet-stream\r\n\r\n".encode() + data + b"\r\n")
    chunks.append(f"--{boundary}--\r\n".encode())
    return b"".join(chunks), f"multipart/form-data; boundary={boundary}"


def _post(srv, fields, files):
    body, ctype = _multipart(fields, files)
    return _request(srv, "POST", "/api/protect", body, {"Content-Type": ctype, "X-Masque-Token": srv.token})


def _png_bytes(size=(160, 120), colour=(120, 130, 140)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, colour).save(buf, format="PNG")
    return buf.getvalue()


def test_page_is_self_contained(server):
    srv, _ = server
    status, ctype, body = _request(srv, "GET", "/")
    page = body.decode()
    assert status == 200 and ctype.startswith("text/html")
    assert "<form" in page and 'name="photo"' in page and 'name="pair"' in page and 'name="prompt"' in page
    assert 'name="engine"' in page and "Protect" in page
    assert "http://" not in page and "https://" not in page and "//cdn" not in page  # works offline, no requests out


def test_status_lists_engines_and_suggestions(server):
    srv, _ = server
    status, _, body = _request(srv, "GET", "/api/status")
    st = json.loads(body)
    assert status == 200 and st["engines"]["parametric"]["available"] is True
    assert st["default_engine"] == "auto"
    assert st["engines"]["auto"]["runs"] == ("diffusion" if st["engines"]["diffusion"]["available"] else "parametric")
    diffusion = st["engines"]["diffusion"]
    assert diffusion["available"] or "Stable Diffusion" in diffusion["message"]  # no weights here: a clear message
    # the page's strength control follows the catalog's declaration, not the engine's name
    assert st["engines"]["parametric"]["level_presets"] and not diffusion["level_presets"]


def test_protect_real_photo_over_http(server, faces_dir):
    srv, tmp_root = server
    data = (faces_dir / "obama.jpg").read_bytes()
    status, ctype, body = _post(srv, {"prompt": "red lipstick", "engine": "parametric"},
                                {"photo": ("my holiday.jpg", data), "pair": ("obama2.jpg",
                                                                             (faces_dir / "obama2.jpg").read_bytes())})
    assert status == 200, body[:300]
    r = json.loads(body)
    assert r["filename"] == "my_holiday.protected.jpg" and r["mime"] == "image/jpeg"
    original = np.asarray(Image.open(io.BytesIO(data)).convert("RGB")).astype(int)
    result_im = Image.open(io.BytesIO(base64.b64decode(r["image"])))
    assert result_im.format == "JPEG" and not result_im.getexif()  # the input's format, metadata stripped
    result = np.asarray(result_im.convert("RGB")).astype(int)
    assert result.shape == original.shape  # full resolution
    # pixels far from the face are unchanged up to JPEG re-encoding noise; the lips do change
    face = r["sidecar"]["faces"][0]
    left, top, right, bottom = face["box"]
    diff = np.abs(result - original).max(axis=2)
    far = np.ones(diff.shape, bool)
    far[max(top - 20, 0):bottom + 20, max(left - 20, 0):right + 20] = False
    assert diff[far].max() <= 12 and (diff[top:bottom, left:right] > 12).sum() > 100
    # the per-model table, the hint wording and the sidecar (no private temporary paths in it)
    row = r["faces"][0]["rows"][0]
    assert row["model"] == "dlib" and row["against"] == "original"
    assert row["protected"] is None  # with a pair photo the verdict reads the rows against it, not the original's
    assert {"before", "after", "threshold", "protected"} <= set(row)
    assert r["faces"][0]["anchor"] == "pair:obama2.jpg"
    assert (r["hint"] is None) == all(x["protected"] is not False for f in r["faces"] for x in f["rows"])
    assert r["faces_protected"] == sum(f["status"] == "protected" for f in r["faces"])  # never more than judged
    rows = r["faces"][0]["rows"]
    (bin_pair,) = [x for x in rows if x["model"] == "dlib-bin" and x["against"] == "obama2.jpg"]
    assert bin_pair["metric"] == "l2" and bin_pair["threshold"] == 0.6  # the independent judge
    assert bin_pair["before"] == pytest.approx(0.35, abs=0.02)  # obama vs obama2 before protection
    if r["hint"]:
        weak = sorted({x["model"] for x in rows if x["protected"] is False})
        assert r["hint"].startswith(f"Still matched by: {', '.join(weak)}.")
    assert r["sidecar"]["input"] == "my_holiday.jpg" and r["sidecar"]["settings"]["prompt"] == "red lipstick"
    assert str(tmp_root) not in body.decode()
    assert list(tmp_root.iterdir()) == []  # nothing of the user's left on disk


def test_prompt_changes_reuse_the_loaded_models(server, faces_dir):
    srv, tmp_root = server
    first = srv.service._protector("parametric", "red lipstick")
    second = srv.service._protector("parametric", "tan foundation")
    assert second.embedders is first.embedders and second.engine is first.engine  # loaded once
    assert second.pipeline.judge is first.pipeline.judge
    assert list(first.regions) == ["lips"] and list(second.regions) == ["skin"]
    assert first.prompt == "red lipstick" and srv.service._protectors["parametric"][1].prompt != "tan foundation"


def test_png_upload_is_bit_identical_outside_the_face(server, faces_dir, tmp_path):
    srv, tmp_root = server
    buf = io.BytesIO()
    Image.open(faces_dir / "obama.jpg").save(buf, format="PNG")
    status, _, body = _post(srv, {"prompt": "plum lipstick"}, {"photo": ("me.png", buf.getvalue())})
    assert status == 200, body[:300]
    r = json.loads(body)
    assert r["filename"] == "me.protected.png" and r["faces"][0]["anchor"] == "self"
    original = np.asarray(Image.open(buf).convert("RGB"))
    result = np.asarray(Image.open(io.BytesIO(base64.b64decode(r["image"]))).convert("RGB"))
    left, top, right, bottom = r["sidecar"]["faces"][0]["box"]
    changed = np.any(result != original, axis=2)
    outside = np.ones_like(changed)
    outside[top:bottom + 1, left:right + 1] = False
    assert changed.any() and not changed[outside].any()
    assert list(tmp_root.iterdir()) == []


def _assert_one_line_400(status, ctype, body, *words):
    text = body.decode()
    assert status == 400 and ctype.startswith("text/plain"), text
    assert text.count("\n") == 1 and "Traceback" not in text
    for w in words:
        assert w in text.lower(), text


def test_text_file_is_a_clear_400(server):
    srv, tmp_root = server
    status, ctype, body = _post(srv, {"prompt": "red lipstick"}, {"photo": ("notes.txt", b"hello, not a photo\n")})
    _assert_one_line_400(status, ctype, body, "notes.txt")
    assert str(tmp_root) not in body.decode() and "masque-web-" not in body.decode()
    assert list(tmp_root.iterdir()) == []


def test_no_face_is_a_clear_400(server):
    srv, tmp_root = server
    status, ctype, body = _post(srv, {"prompt": "red lipstick"}, {"photo": ("wall.png", _png_bytes())})
    _assert_one_line_400(status, ctype, body, "no face")
    assert list(tmp_root.iterdir()) == []


@pytest.mark.parametrize(("fields", "files", "words"), [
    ({"prompt": "red lipstick"}, {}, ["choose a photo"]),
    ({"prompt": "  "}, {"photo": ("a.png", b"x")}, ["describe the makeup"]),
    ({"prompt": "red lipstick", "engine": "magic"}, {"photo": ("a.png", b"x")}, ["unknown engine"]),
])
def test_missing_or_wrong_fields_are_clear_400s(server, fields, files, words):
    srv, _ = server
    _assert_one_line_400(*_post(srv, fields, files), *words)


def test_upload_over_the_limit_is_refused_with_its_size(server):
    srv, tmp_root = server
    status, ctype, body = _post(srv, {"prompt": "red lipstick"}, {"photo": ("big.png", b"\0" * (5 * 2**20))})
    assert status == 413 and "too large" in body.decode() and "4 MB" in body.decode()
    assert list(tmp_root.iterdir()) == []


def test_foreign_host_header_is_refused(server):
    srv, _ = server
    status, _, _ = _request(srv, "GET", "/", headers={"Host": "evil.example:7860"})
    assert status == 403


def test_non_loopback_host_needs_allow_remote():
    with pytest.raises(InputError, match="allow-remote"):
        make_server("0.0.0.0", 0, ServeConfig())


def test_multipart_keeps_binary_bytes_exactly():
    payload = bytes(range(256)) * 4 + b"\r\n--\r\n\n\r"
    body, ctype = _multipart({"prompt": "plum lipstick"}, {"photo": ("x.bin", payload)})
    form = parse_multipart(ctype, body)
    assert form["photo"] == ("x.bin", payload) and form["prompt"] == (None, b"plum lipstick")


def test_serve_help_describes_every_option():
    from typer.testing import CliRunner

    from masque.cli import app

    result = CliRunner().invoke(app, ["serve", "--help"], terminal_width=200)
    assert result.exit_code == 0
    for flag in ("--host", "--port", "--engine", "--model", "--surrogates", "--steps", "--allow-remote",
                 "--max-upload-mb"):
        assert flag in result.output
