"""Error lines for a person using the web page: what went wrong and what to do *on the page* (no command-line flags,
no argument names, no private folder paths)."""

from __future__ import annotations

import re
from pathlib import Path

from ..errors import MasqueError, NoFaceError, WeightsError
from ..io import ImageTooLargeError

_FLAG_ADVICE = re.compile(r"[;,(]?\s*[^;()]*`--?[a-z][a-z-]*[^`]*`[^;()]*\)?")  # a clause that names a flag
_IMAGE = re.compile(r"`image` (.+?): ")
_ARGUMENT = re.compile(r"`([a-z_]+)`\s*")
# flags the page has a control for: named as the page names them
PAGE_CONTROLS = {"`--strength`": "the strength", "`--max-strength`": "the 'up to' strength",
                 "`--until-protected`": "'protect until it holds'"}


def web_message(exc: MasqueError) -> str:
    """One line for the page; the terminal keeps the technical message."""
    if isinstance(exc, ImageTooLargeError):
        mp = exc.width * exc.height / 1e6
        return (f"The photo {exc.path.name!r} is too large ({exc.width}x{exc.height} pixels = {mp:.0f} MP; the limit "
                f"is {exc.limit / 1e6:.0f} MP). Make it smaller and try again.")
    if isinstance(exc, NoFaceError):
        return ("No face was found in the photo. Use a photo where the face is clearly visible and not too small, "
                "or choose the thorough face finder.")
    if isinstance(exc, WeightsError):
        return "A model this method needs is missing on this computer; choose the parametric method."
    text = str(exc)
    image = _IMAGE.match(text)
    if image and ("decode" in text or "not a recognised image" in text or "empty" in text):
        return (f"The file {Path(image.group(1)).name!r} could not be read as a photo (it is damaged or not an "
                "image). Choose a JPEG, PNG or WebP.")
    return web_text(text) or "The photo could not be protected."


def web_text(text: str) -> str:
    """A message or note worded for the page: flags the page has a control for named as the page names them,
    advice that only applies on the command line and argument names dropped; one sentence-cased line ('' if nothing
    is left)."""
    for flag, control in PAGE_CONTROLS.items():
        text = text.replace(flag, control)
    text = _FLAG_ADVICE.sub("", text)  # drop advice that only applies on the command line
    text = _ARGUMENT.sub("", " ".join(text.split())).strip(" ;,")
    return (text[:1].upper() + text[1:]).rstrip(".") + "." if text else ""
