"""Error lines for a person using the web page: what went wrong and what to do *on the page* (no command-line flags,
no argument names, no private folder paths).

Errors and notes carry their own wording per front end (`masque.errors.Worded`): the page reads the web one; nothing
here re-parses the CLI's line.
"""

from __future__ import annotations

from ..errors import MasqueError, NoFaceError, UserNote, WeightsError, worded
from ..io import ImageTooLargeError, UnreadableImageError


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
    if isinstance(exc, UnreadableImageError) and exc.damaged:
        return (f"The file {exc.path.name!r} could not be read as a photo (it is damaged or not an image). Choose a "
                "JPEG, PNG or WebP.")
    return sentence(worded(exc, "web")) or "The photo could not be protected."


def web_note(note: UserNote | Warning) -> str:
    """A run's note (a skipped pair photo, what the output format cannot keep) in the page's words."""
    return sentence(worded(note, "web"))


def sentence(text: str) -> str:
    """One sentence-cased line ending in a full stop ('' if there is nothing)."""
    text = " ".join(text.split()).strip(" ;,")
    return (text[:1].upper() + text[1:]).rstrip(".") + "." if text else ""
