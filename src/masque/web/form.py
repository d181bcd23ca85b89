"""The upload form: ``multipart/form-data`` parsed with the stdlib, fields read with page-worded errors, uploaded
files given safe names inside the request's private folder."""

from __future__ import annotations

import os
import re
from email import policy
from email.parser import BytesParser
from http import HTTPStatus
from pathlib import Path


class UserError(Exception):
    """A request the user can fix: answered with ``status`` and one line."""

    def __init__(self, message: str, status: HTTPStatus = HTTPStatus.BAD_REQUEST):
        super().__init__(message)
        self.status = status


Form = dict[str, tuple[str | None, bytes]]


def parse_multipart(content_type: str, body: bytes) -> Form:
    """``multipart/form-data`` → {field: (filename or None, bytes)} with the stdlib `email` parser (no `cgi`)."""
    if not content_type.lower().startswith("multipart/form-data"):
        raise UserError("The form must be sent as multipart/form-data (use the page's Protect button).")
    header = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode("latin-1")
    msg = BytesParser(policy=policy.HTTP).parsebytes(header + body)
    if not msg.is_multipart():
        raise UserError("The upload could not be read as a form; please try again.")
    form: Form = {}
    for part in msg.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if name:
            form[str(name)] = (part.get_filename(), part.get_payload(decode=True) or b"")
    return form


def file_field(form: Form, name: str, *, required: bool) -> tuple[str, bytes]:
    filename, data = form.get(name, (None, b""))
    if not data:
        if required:
            raise UserError("Please choose a photo to protect.")
        return "", b""
    return safe_name(filename or name), data


def text_field(form: Form, name: str) -> str:
    _, data = form.get(name, (None, b""))
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UserError(f"The field {name!r} is not UTF-8 text.") from exc


def safe_name(filename: str) -> str:
    """A plain file name (no folders, no odd characters) for the download; the original name is only echoed."""
    base = Path(filename.replace("\\", "/")).name
    stem, suffix = os.path.splitext(base)
    stem = re.sub(r"[^A-Za-z0-9_-]+", "_", stem).strip("_")[:60] or "photo"
    suffix = suffix if re.fullmatch(r"\.[A-Za-z0-9]{1,5}", suffix) else ""
    return stem + suffix.lower()


def save(folder: Path, name: str, data: bytes) -> Path:
    folder.mkdir()
    path = folder / name
    path.write_bytes(data)
    return path


def scrub(message: str, root: Path) -> str:
    """One line, without the private temporary folder's path."""
    for sub in ("photo", "pair", "out"):
        message = message.replace(f"{root / sub}{os.sep}", "")
    return " ".join(message.replace(str(root), "").split())
