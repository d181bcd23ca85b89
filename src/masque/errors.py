"""User-facing errors.

Every mistake a user can make (bad path, missing weights, wrong mask size) raises `MasqueError` with one line that
names the argument, states the rule, shows what was received and says what to do. The CLI prints that line and exits
non-zero; tracebacks appear only with `MASQUE_DEBUG=1`.
"""

from __future__ import annotations


class MasqueError(Exception):
    """A problem the user can fix; its message is a single actionable line."""


class InputError(MasqueError, ValueError):
    """A bad argument or input file."""


class WeightsError(MasqueError, FileNotFoundError):
    """Model weights are missing, unreadable or do not fit the architecture."""


class NoFaceError(MasqueError):
    """No face was found where one was required."""


class UserNote(UserWarning):
    """Something the user should know that is no error (a skipped pair photo, what the output format cannot keep):
    front ends print it as one ``Note:`` line, the web page beside its result."""
