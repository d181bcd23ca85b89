"""Shared fixture of the web tests: `masque serve`'s server on a free loopback port, in a thread."""

from __future__ import annotations

import contextlib
import http.client
import threading

import pytest

from masque.web.server import ServeConfig, make_server


@pytest.fixture(scope="session")
def serve():
    """``with serve(**ServeConfig fields) as srv:`` a running server, shut down (and its thread joined) on exit; each
    test module starts its own with the settings it tests."""

    @contextlib.contextmanager
    def start(**config):
        srv = make_server("127.0.0.1", 0, ServeConfig(**config))
        thread = threading.Thread(target=srv.serve_forever, daemon=True)
        thread.start()
        try:
            yield srv
        finally:
            srv.shutdown()
            srv.server_close()
            thread.join(timeout=10)
        assert not thread.is_alive(), "the server thread must stop on shutdown()"

    return start


def http_request(srv, method: str, path: str, body: bytes | None = None, headers: dict | None = None
                 ) -> tuple[int, str, bytes]:
    """One request to a `serve` server: (status, Content-Type, body)."""
    conn = http.client.HTTPConnection(*srv.server_address[:2], timeout=300)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        res = conn.getresponse()
        return res.status, res.getheader("Content-Type", ""), res.read()
    finally:
        conn.close()
