"""A local web page over `masque.api.Protector` for people who never open a terminal.

Stdlib only: `ThreadingHTTPServer` serves one page (``page.html``, package data, no external requests) and one JSON
endpoint. A request's photos live in a private temporary folder that is removed before the answer is sent, so
nothing of the user's stays on disk; the written photo is metadata-free exactly as with `masque protect`.

Routes: ``GET /`` the page, ``GET /api/status`` engine availability and limits, ``POST /api/protect`` multipart form
(``photo``, optional ``pair``, ``prompt``, ``engine``) → JSON with the protected image (base64), the per-model
table and the sidecar. User mistakes answer HTTP 400 (413 when too large) with one plain-text line, never a traceback.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import socket
import sys
import tempfile
import threading
import traceback
from dataclasses import dataclass
from email import policy
from email.parser import BytesParser
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from ..engines.catalog import engine_names
from ..errors import InputError, MasqueError, WeightsError
from .answer import BROWSER_FORMATS, OTHER_EXTENSIONS, answer
from .guard import TOKEN_PLACEHOLDER, new_token, same_origin, token_ok
from .messages import web_message
from .progress import JOB_ID, ProgressBoard

ENGINES = ("auto", *engine_names())  # auto: diffusion when its weights are here, else parametric
DETECTORS = {"hog": "fast", "hog+cnn": "thorough"}  # the page's face finders (masque.faces.detect.DETECTORS)
PROMPT_SUGGESTIONS = ("red lipstick", "plum lipstick", "smoky eyeshadow", "pink blush", "tan foundation")
LOOPBACK_NAMES = ("localhost",)
MAX_PROMPT_CHARS = 200
DRAIN_FACTOR = 8  # a too-large upload up to this many times the limit is read and discarded so the browser sees 413
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
                               "img-src 'self' blob: data:; connect-src 'self'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


@dataclass(frozen=True)
class ServeConfig:
    """What `masque serve` fixes for every request (the page chooses photo, prompt and engine)."""

    engine: str = "auto"  # engine selected when the page opens
    model: str | None = None  # diffusion weights (hub id or folder); None: $MASQUE_SD_MODEL / the default
    surrogates: tuple[str, ...] | None = None  # FR models to optimise against; None: every present one
    steps: int | None = None  # engine steps; None: the engine's default
    device: str = "cpu"
    max_upload_bytes: int = 25 * 2**20  # the whole request (photo + pair)
    max_pixels: int = 60_000_000  # per photo; far above any phone camera, far below a decompression bomb
    tmp_root: Path | None = None  # where per-request folders are made; None: the system's temporary folder
    quiet: bool = False  # no request log on stderr

    def validate(self) -> ServeConfig:
        if self.engine not in ENGINES:
            raise InputError(f"`--engine` must be one of {ENGINES}; got {self.engine!r}.")
        if self.max_upload_bytes <= 0:
            raise InputError(f"`--max-upload-mb` must be positive; got {self.max_upload_bytes / 2**20:g}.")
        return self


class UserError(Exception):
    """A request the user can fix: answered with ``status`` and one line."""

    def __init__(self, message: str, status: HTTPStatus = HTTPStatus.BAD_REQUEST):
        super().__init__(message)
        self.status = status


# --- the protection service ----------------------------------------------------------------------------------------

class ProtectService:
    """Loads one `Protector` per engine on first use and reuses it (`Protector.with_prompt`) for every prompt.

    Runs are serialised by a lock: the engine and FR models are shared, and the CPU has no spare cores anyway.
    """

    def __init__(self, config: ServeConfig, progress: ProgressBoard | None = None):
        self.config = config
        self.progress = progress or ProgressBoard()
        self._lock = threading.Lock()
        self._protectors: dict = {}
        self._unavailable: dict[str, str] = {}

    def status(self) -> dict:
        engines = {}
        for name in ENGINES:
            reason = self._unavailable.get(name)
            if reason is None and name == "diffusion" and name not in self._protectors:
                reason = diffusion_weights_missing(self.config.model)
            engines[name] = {"available": reason is None, "message": reason or ""}
        engines["auto"]["runs"] = "diffusion" if engines["diffusion"]["available"] else "parametric"
        return {"engines": engines, "default_engine": self.config.engine, "suggestions": list(PROMPT_SUGGESTIONS),
                "detectors": DETECTORS,
                "max_upload_bytes": self.config.max_upload_bytes}

    def _protector(self, engine: str, prompt: str, detector: str = "hog", job: str | None = None):
        from .. import api
        from ..engines import EngineOptions, engine_kwargs
        from ..engines.auto import choose_engine

        choice = choose_engine(engine, self.config.model)
        engine = choice.name
        if engine in self._unavailable:
            raise UserError(self._unavailable[engine])
        if engine not in self._protectors:
            self.progress.set(job, "Loading the models (first photo only, a few seconds)")
            cfg = self.config
            try:
                self._protectors[engine] = api.Protector(
                    prompt=prompt, engine=engine, engine_choice=choice,
                    surrogates=list(cfg.surrogates) if cfg.surrogates else None,
                    device=cfg.device, overwrite=True,
                    engine_options=engine_kwargs(engine, EngineOptions(
                        steps=cfg.steps, model=cfg.model if engine == "diffusion" else None, device=cfg.device)))
            except WeightsError as exc:
                self._unavailable[engine] = (f"The {engine} method cannot start on this computer (its model files did "
                                             "not load); choose the fast method.")
                raise UserError(self._unavailable[engine]) from exc
        return self._protectors[engine].with_prompt(prompt, detector=detector)

    def protect(self, form: dict[str, tuple[str | None, bytes]]) -> dict:
        """Run one protection from the parsed form; everything written lives in a folder removed before returning."""
        job = _text_field(form, "job").strip() or None
        if job is not None and not JOB_ID.fullmatch(job):
            raise UserError("The page sent a malformed request; reload the page and try again.")
        try:
            return self._protect(form, job)
        finally:
            self.progress.forget(job)

    def _protect(self, form: dict[str, tuple[str | None, bytes]], job: str | None) -> dict:
        # 1. fields
        photo_name, photo = _file_field(form, "photo", required=True)
        pair_name, pair = _file_field(form, "pair", required=False)
        prompt = _text_field(form, "prompt").strip()
        engine = _text_field(form, "engine").strip() or self.config.engine
        detector = _text_field(form, "detector").strip() or "hog"
        if detector not in DETECTORS:
            raise UserError(f"Unknown face finder {detector!r}; choose {' or '.join(DETECTORS.values())}.")
        if not prompt:
            raise UserError("Please describe the makeup, for example 'red lipstick'.")
        if len(prompt) > MAX_PROMPT_CHARS:
            raise UserError(f"The makeup description is too long ({len(prompt)} characters; at most "
                            f"{MAX_PROMPT_CHARS}).")
        if engine not in ENGINES:
            raise UserError(f"Unknown engine {engine!r}; choose one of {', '.join(ENGINES)}.")

        # 2. a private folder per request (mode 0700), gone when this block ends
        with tempfile.TemporaryDirectory(prefix="masque-web-", dir=self.config.tmp_root) as tmp:
            root = Path(tmp)
            try:
                return self._run(root, engine, prompt, (photo_name, photo), (pair_name, pair) if pair else None,
                                 detector, job)
            except MasqueError as exc:
                raise UserError(_scrub(web_message(exc), root)) from exc

    def _run(self, root: Path, engine: str, prompt: str, photo: tuple[str, bytes],
             pair: tuple[str, bytes] | None, detector: str = "hog", job: str | None = None) -> dict:
        import warnings

        from ..errors import UserNote
        from ..io import read_image

        photo_path = _save(root / "photo", *photo)
        pair_path = _save(root / "pair", *pair) if pair else None
        image = read_image(photo_path, max_pixels=self.config.max_pixels)  # not an image / too big: fail before work
        if pair_path is not None:
            read_image(pair_path, max_pixels=self.config.max_pixels)
        ext = BROWSER_FORMATS.get(image.format, (None, OTHER_EXTENSIONS.get(image.format, photo_path.suffix)))[1]
        out_dir = root / "out"
        out_dir.mkdir()
        out_path = out_dir / f"{photo_path.stem}.protected{ext or '.png'}"
        self.progress.set(job, "Waiting for the photo before this one to finish")
        with self._lock, warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", UserNote)
            protector = self._protector(engine, prompt, detector, job)
            self.progress.set(job, "Finding faces")
            report = protector.protect_photo(photo_path, out=out_path, pair=[pair_path] if pair_path else (),
                                             progress=self.progress.engine_callback(job))
        data = out_path.read_bytes()
        notes = [str(w.message) for w in caught if issubclass(w.category, UserNote)]
        return answer(report, data, image.format, photo_path.name, pair_path.name if pair_path else None, notes)


def diffusion_weights_missing(model: str | None) -> str | None:
    """Why the diffusion engine cannot load here (None when its weights look present) — a file check, no loading,
    phrased for the page's user (the person who started the server is the one who can add weights)."""
    from ..engines.diffusion.backbone import local_weights_problem

    problem = local_weights_problem(model)
    if problem is None:
        return None
    return (f"The diffusion method needs Stable Diffusion weights on this computer ({problem}); the fast method "
            "works without them.")


# --- form handling -------------------------------------------------------------------------------------------------

def parse_multipart(content_type: str, body: bytes) -> dict[str, tuple[str | None, bytes]]:
    """``multipart/form-data`` → {field: (filename or None, bytes)} with the stdlib `email` parser (no `cgi`)."""
    if not content_type.lower().startswith("multipart/form-data"):
        raise UserError("The form must be sent as multipart/form-data (use the page's Protect button).")
    header = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode("latin-1")
    msg = BytesParser(policy=policy.HTTP).parsebytes(header + body)
    if not msg.is_multipart():
        raise UserError("The upload could not be read as a form; please try again.")
    form: dict[str, tuple[str | None, bytes]] = {}
    for part in msg.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if name:
            form[str(name)] = (part.get_filename(), part.get_payload(decode=True) or b"")
    return form


def _file_field(form, name: str, *, required: bool) -> tuple[str, bytes]:
    filename, data = form.get(name, (None, b""))
    if not data:
        if required:
            raise UserError("Please choose a photo to protect.")
        return "", b""
    return _safe_name(filename or name), data


def _text_field(form, name: str) -> str:
    _, data = form.get(name, (None, b""))
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UserError(f"The field {name!r} is not UTF-8 text.") from exc


def _safe_name(filename: str) -> str:
    """A plain file name (no folders, no odd characters) for the download; the original name is only echoed."""
    base = Path(filename.replace("\\", "/")).name
    stem, suffix = os.path.splitext(base)
    stem = re.sub(r"[^A-Za-z0-9_-]+", "_", stem).strip("_")[:60] or "photo"
    suffix = suffix if re.fullmatch(r"\.[A-Za-z0-9]{1,5}", suffix) else ""
    return stem + suffix.lower()


def _save(folder: Path, name: str, data: bytes) -> Path:
    folder.mkdir()
    path = folder / name
    path.write_bytes(data)
    return path


def _scrub(message: str, root: Path) -> str:
    """One line, without the private temporary folder's path."""
    for sub in ("photo", "pair", "out"):
        message = message.replace(f"{root / sub}{os.sep}", "")
    return " ".join(message.replace(str(root), "").split())


# --- HTTP ----------------------------------------------------------------------------------------------------------

def page_html(token: str = "") -> bytes:
    """The page, with this server's token written in (see `masque.web.guard`)."""
    page = resources.files(__package__).joinpath("page.html").read_text(encoding="utf-8")
    return page.replace(TOKEN_PLACEHOLDER, token).encode("utf-8")


class MasqueServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], config: ServeConfig, allow_remote: bool = False):
        self.config = config
        self.allow_remote = allow_remote
        self.token = new_token()  # written into the page; every POST must send it back
        self.progress = ProgressBoard()
        self.service = ProtectService(config, self.progress)
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{'[' + host + ']' if ':' in host else host}:{port}/"


class _Handler(BaseHTTPRequestHandler):
    server: MasqueServer
    server_version = "masque"
    sys_version = ""

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - the base class's signature
        if not self.server.config.quiet:
            super().log_message(format, *args)

    # responses
    def _send(self, status: int, body: bytes, content_type: str, close: bool = False) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in SECURITY_HEADERS.items():
            self.send_header(key, value)
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _send_json(self, data: dict) -> None:
        self._send(HTTPStatus.OK, json.dumps(data).encode("utf-8"), "application/json")

    def _send_error_line(self, status: int, message: str, close: bool = False) -> None:
        self._send(status, (" ".join(message.split()) + "\n").encode("utf-8"), "text/plain; charset=utf-8", close)

    def _host_ok(self) -> bool:
        """Refuse other Host names on a loopback server (a web page elsewhere cannot reach it via DNS rebinding)."""
        if self.server.allow_remote:
            return True
        host = (self.headers.get("Host") or "").strip()
        name = host[1:host.index("]")] if host.startswith("[") and "]" in host else host.rsplit(":", 1)[0]
        return is_loopback(name)

    # routes
    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        if not self._host_ok():
            return self._send_error_line(HTTPStatus.FORBIDDEN, "Open this page as http://127.0.0.1 (local only).")
        path = self.path.split("?", 1)[0]
        if path in ("/", "/index.html"):
            return self._send(HTTPStatus.OK, page_html(self.server.token), "text/html; charset=utf-8")
        if path == "/favicon.ico":  # browsers ask for it; answering keeps the log quiet
            self.send_response(HTTPStatus.NO_CONTENT)
            self.end_headers()
            return None
        if path == "/api/status":
            return self._send_json(self.server.service.status())
        if path == "/api/progress":
            job = parse_qs(urlsplit(self.path).query).get("job", [""])[0]
            state = self.server.progress.get(job) if JOB_ID.fullmatch(job) else None
            return self._send_json(state or {"message": "", "done": 0, "total": 0})
        return self._send_error_line(HTTPStatus.NOT_FOUND, f"Nothing at {path}; open the main page /.")

    do_HEAD = do_GET

    def do_POST(self) -> None:  # noqa: N802
        if not self._host_ok():
            return self._send_error_line(HTTPStatus.FORBIDDEN, "Open this page as http://127.0.0.1 (local only).")
        if self.path.split("?", 1)[0] != "/api/protect":
            return self._send_error_line(HTTPStatus.NOT_FOUND, f"Nothing to post at {self.path}.")
        if not (same_origin(self.headers, self.headers.get("Host", "")) and token_ok(self.headers, self.server.token)):
            return self._send_error_line(HTTPStatus.FORBIDDEN, "This request did not come from the MASQUE page; open "
                                         "the page and use its Protect button.", close=True)
        try:
            body = self._read_body()
            result = self.server.service.protect(parse_multipart(self.headers.get("Content-Type", ""), body))
        except UserError as exc:
            return self._send_error_line(exc.status, str(exc), close=exc.status == HTTPStatus.REQUEST_ENTITY_TOO_LARGE)
        except Exception as exc:  # noqa: BLE001 - the page gets one line; the terminal gets the traceback
            traceback.print_exc(file=sys.stderr)
            return self._send_error_line(HTTPStatus.INTERNAL_SERVER_ERROR,
                                         f"Something went wrong inside MASQUE ({type(exc).__name__}); the details "
                                         "are in the terminal running `masque serve`.")
        return self._send_json(result)

    def _read_body(self) -> bytes:
        limit = self.server.config.max_upload_bytes
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError as exc:
            raise UserError("The upload has no size (Content-Length); please use the page's Protect button.",
                            HTTPStatus.LENGTH_REQUIRED) from exc
        if length > limit:
            if length <= DRAIN_FACTOR * limit:  # read and drop it, so the browser is listening when we answer
                remaining = length
                while remaining > 0:
                    chunk = self.rfile.read(min(remaining, 1 << 20))
                    if not chunk:
                        break
                    remaining -= len(chunk)
            raise UserError(f"The upload is too large ({length / 2**20:.1f} MB; the limit is {limit / 2**20:g} MB). "
                            "Use a smaller photo.", HTTPStatus.REQUEST_ENTITY_TOO_LARGE)
        return self.rfile.read(length)


def is_loopback(host: str) -> bool:
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def make_server(host: str = "127.0.0.1", port: int = 7860, config: ServeConfig | None = None, *,
                allow_remote: bool = False) -> MasqueServer:
    """Bind (port 0: any free port) without serving yet; call ``serve_forever()`` and later ``shutdown()``."""
    config = (config or ServeConfig()).validate()
    if not allow_remote and not is_loopback(host):
        raise InputError(f"`--host` {host!r} is not a loopback address: the photos you upload would be reachable from "
                         "the network. Use 127.0.0.1, or pass `--allow-remote` if you really mean it.")
    try:
        return MasqueServer((host, port), config, allow_remote=allow_remote)
    except OSError as exc:
        raise InputError(f"`--port` {port}: cannot listen on {host}:{port} ({exc.strerror}); choose another port "
                         "with `--port`.") from exc
