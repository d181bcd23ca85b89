"""User-facing errors.

Every mistake a user can make (bad path, missing weights, wrong mask size) raises `MasqueError` with one line that
names the argument, states the rule, shows what was received and says what to do. The CLI prints that line and exits
non-zero; tracebacks appear only with `MASQUE_DEBUG=1`.

An error about a setting is *structured*: it carries the setting (``field``), the value received, the rule, and the
advice per front end (``hint``), so each front end words it itself — the CLI names `--max-strength`, the web page
"the strength", the Python API `max_strength` — instead of re-parsing the CLI's line (`worded`). ``str(exc)`` is the
CLI's wording, and ``InputError("one line")`` keeps working for errors that name no setting.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

FRONT_ENDS = ("cli", "web", "api")
# Settings the web page has a control for, named as the page names them (any other setting it cannot change).
PAGE_NAMES: Mapping[str, str] = {
    "strength": "the strength", "max_strength": "the 'up to' strength", "until_protected": "'protect until it holds'",
    "prompt": "the makeup description", "engine": "the method", "detector": "the face finder", "photo": "the photo",
    "pair": "the second photo",
}
# CLI names that are not `--<setting>` (positional arguments, a flag named otherwise).
CLI_NAMES: Mapping[str, str] = {"photo": "`PHOTO`", "image": "`image`", "names": "`NAMES`", "file": "`FILE`",
                                 "prompt": "`prompt`"}


class Names:
    """How one front end names settings: ``names.max_strength`` is "`--max-strength`" for the CLI, "the strength" on
    the web page, "`max_strength`" in Python."""

    def __init__(self, front_end: str):
        if front_end not in FRONT_ENDS:
            raise ValueError(f"front end must be one of {FRONT_ENDS}, got {front_end!r}")
        self.front_end = front_end

    def __getattr__(self, name: str) -> str:
        if name.startswith("_"):
            raise AttributeError(name)
        return self[name]

    def __getitem__(self, name: str) -> str:
        if self.front_end == "web":
            return PAGE_NAMES.get(name, "the " + name.replace("_", " "))
        if self.front_end == "api":
            return f"`{name}`"
        return CLI_NAMES.get(name, f"`--{name.replace('_', '-')}`")


Phrase = str | Callable[[Names], str]  # text, or text that names other settings through a front end's `Names`
Hint = Phrase | Mapping[str, Phrase | None]  # one advice for every front end, or one per front end (missing: none)
_NOTHING = object()


def _text(phrase: Phrase | None, names: Names) -> str | None:
    return phrase(names) if callable(phrase) else phrase


class Worded:
    """A message in parts, worded per front end: ``{field} {rule}; {hint}.`` (`MasqueError` and `UserNote`). The
    lines are rendered once, when it is made, so it pickles (a batch worker's error reaches the driver whole)."""

    field: str | None = None
    value: Any = None
    lines: Mapping[str, str] | None = None  # front end -> its line; None: a plain message

    def _set_parts(self, field: str | None, value: Any, rule: Phrase | None, hint: Hint | None) -> None:
        self.field = field
        self.value = None if value is _NOTHING else value
        self.lines = None if rule is None else {fe: _line(field, rule, hint, Names(fe)) for fe in FRONT_ENDS}

    def worded(self, front_end: str = "cli") -> str:
        """The line for ``front_end`` ("cli", "web" or "api"); a plain message reads the same everywhere."""
        if self.lines is None:
            return str(self.args[0]) if self.args else ""
        return self.lines[front_end]

    def __reduce__(self):
        return _rebuild, (type(self), self.args, dict(self.__dict__))


def _rebuild(cls: type, args: tuple, state: dict):
    obj = cls.__new__(cls)
    obj.args = args
    obj.__dict__.update(state)
    return obj


def _line(field: str | None, rule: Phrase, hint: Hint | None, names: Names) -> str:
    head = _text(rule, names)
    if field is not None:
        head = f"{names[field]} {head}"
    hint = _text(hint.get(names.front_end) if isinstance(hint, Mapping) else hint, names)
    return f"{head.rstrip('.')}; {hint.rstrip('.')}." if hint else f"{head.rstrip('.')}."


class MasqueError(Worded, Exception):
    """A problem the user can fix; its message is a single actionable line.

    ``MasqueError("one line")``, or in parts: ``field`` (the setting that was wrong), ``value`` (what was received),
    ``rule`` (what the setting must be, with the value when it helps: "must be one of a, b, got 'c'") and ``hint``
    (what to do, per front end). A `Phrase` may be a function of the front end's `Names` to name other settings.
    ``audience``: whose wording ``str(exc)`` is — the CLI's, or "api" for an error about a Python argument (the CLI
    itself prints ``exc.worded("cli")``, the web page ``exc.worded("web")``).
    """

    def __init__(self, message: str | None = None, *, field: str | None = None, value: Any = _NOTHING,
                 rule: Phrase | None = None, hint: Hint | None = None, audience: str = "cli"):
        self._set_parts(field, value, rule, hint)
        super().__init__(message if rule is None else self.worded(audience))


class InputError(MasqueError, ValueError):
    """A bad argument or input file."""


class WeightsError(MasqueError, FileNotFoundError):
    """Model weights are missing, unreadable or do not fit the architecture."""


class NoFaceError(MasqueError):
    """No face was found where one was required."""


class UserNote(Worded, UserWarning):
    """Something the user should know that is no error (a skipped pair photo, what the output format cannot keep):
    front ends print it as one ``Note:`` line, the web page beside its result (``note.worded("web")``). Built like
    `MasqueError`: one line, or in parts."""

    def __init__(self, message: str | None = None, *, field: str | None = None, value: Any = _NOTHING,
                 rule: Phrase | None = None, hint: Hint | None = None):
        self._set_parts(field, value, rule, hint)
        super().__init__(message if rule is None else self.worded("cli"))


def worded(exc: BaseException, front_end: str) -> str:
    """``exc``'s line for ``front_end``: its own wording when it is `Worded`, else its text."""
    return exc.worded(front_end) if isinstance(exc, Worded) else str(exc)
