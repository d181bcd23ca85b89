"""A local web page over `masque.api.Protector` for people who never open a terminal: the HTTP side.

Stdlib only: `ThreadingHTTPServer` serves one page (``page.html``, package data, no external requests) and one JSON
endpoint. A request's photos live in a private temporary folder that is removed before the answer is sent, so
nothing of the user's stays on disk; the written photo is metadata-free exactly as with `masque protect`.

Routes: ``GET /`` the page, ``GET /api/status`` engine availability, strengths, suggestions and limits,
``GET /api/expected?prompt=&strength=&max_strength=`` the measured protection of the page's choice (shown before the
button is pressed), ``GET /api/progress?job=`` a running request's stage, ``POST /api/protect`` multipart form
(``photo``, optional ``pair``, ``prompt``, ``engine``, ``strength``, ``until_protected``, ``max_strength``,
``detector``) → JSON with the protected image (base64), the per-model
table and the sidecar (`masque.web.service`). User mistakes answer HTTP 400 (413 when too large) with one plain-text
line, never a traceback. Only loopback Host names are answered, and a POST must come from this server's page
(`masque.web.guard`).
"""

from __future__ import annotations

import ipaddress
import json
import re
import socket
import sys
import traceback
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from urllib.parse import parse_qs, urlsplit

from ..errors import InputError
from .form import UserError, parse_multipart
from .guard import TOKEN_PLACEHOLDER, new_token, same_origin, token_ok
from .progress import JOB_ID, ProgressBoard
from .service import ProtectService, ServeConfig

__all__ = ["MasqueServer", "ProtectService", "ServeConfig", "UserError", "host_ok", "is_loopback", "make_server",
           "page_html", "parse_multipart"]

LOOPBACK_NAMES = ("localhost",)
DRAIN_FACTOR = 8  # a too-large upload up to this many times the limit is read and discarded so the browser sees 413
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
                               "img-src 'self' blob: data:; connect-src 'self'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


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
        return host_ok(self.headers.get("Host") or "")

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
        if path == "/api/expected":  # ?prompt=&strength=&max_strength= (the last only with 'until it holds')
            from .choices import expected_for_page

            query = parse_qs(urlsplit(self.path).query)
            first = lambda key: (query.get(key) or [""])[0][:200]  # noqa: E731
            return self._send_json({"text": expected_for_page(first("prompt"), first("strength") or None,
                                                              first("max_strength") or None)})
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


def host_ok(header: str) -> bool:
    """A Host header (``name[:port]``, ``[v6][:port]``) whose whole name is a loopback name or address: not
    ``localhost.evil.example`` (a name an attacker's DNS can point at 127.0.0.1)."""
    host = header.strip()
    if host.startswith("["):
        end = host.find("]")
        rest = host[end + 1:]
        if end < 0 or (rest and not re.fullmatch(r":\d{1,5}", rest)):
            return False
        name = host[1:end]
    else:
        name, _, port = host.partition(":") if host.count(":") == 1 else (host, "", "")
        if port and not port.isdigit():
            return False
    return is_loopback(name)


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
        raise InputError(field="host", value=host, rule=f"{host!r} is not a loopback address: the photos you upload "
                         "would be reachable from the network",
                         hint=lambda n: f"use 127.0.0.1, or pass {n.allow_remote} if you really mean it")
    try:
        return MasqueServer((host, port), config, allow_remote=allow_remote)
    except OSError as exc:
        raise InputError(field="port", value=port, rule=f"{port}: cannot listen on {host}:{port} ({exc.strerror})",
                         hint=lambda n: f"choose another port with {n.port}") from exc
