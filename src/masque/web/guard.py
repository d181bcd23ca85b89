"""Refuse requests that another web site makes a visitor's browser send to the local server (CSRF).

A page elsewhere can make the browser POST a form to ``http://127.0.0.1:7860`` without reading the answer, which
would still make the server work on its photo. Two independent checks stop that: an ``Origin`` (or, without one,
``Referer``) header naming another site is refused, and every POST must carry this server's page token in the
``X-Masque-Token`` header. The token is written into the page the server serves; another site cannot read that page
(the browser's same-origin rule) and a custom header cannot be sent cross-site without a CORS preflight, which this
server never approves.
"""

from __future__ import annotations

import hmac
import secrets
from urllib.parse import urlsplit

TOKEN_HEADER = "X-Masque-Token"
TOKEN_PLACEHOLDER = "__MASQUE_PAGE_TOKEN__"


def new_token() -> str:
    return secrets.token_urlsafe(32)


def same_origin(headers, host: str) -> bool:
    """The request's Origin (else Referer) names this server's ``host`` (``name:port``), or neither is sent."""
    source = headers.get("Origin") or headers.get("Referer")
    if not source or source == "null":
        return source != "null"  # "null": a sandboxed or file:// page, never ours
    return urlsplit(source).netloc.lower() == host.lower()


def token_ok(headers, token: str) -> bool:
    return hmac.compare_digest((headers.get(TOKEN_HEADER) or "").encode(), token.encode())
