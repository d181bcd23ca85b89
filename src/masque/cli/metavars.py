"""Plain value names in `--help` (``TEXT``, ``PATH``, ``N``) instead of Python type tags (``<str>``, ``<bool>``).

Typer 0.29 prints each parameter's Python annotation unless the parameter has a ``metavar``; a user reading
``--help`` needs to know what to type, not how the function is annotated. Flags take no value, so they show none.
"""

from __future__ import annotations

_NAMES = {"str": "TEXT", "int": "N", "float": "X", "Path": "PATH", "list[Path]": "PATH", "list[str]": "TEXT",
          "text": "TEXT", "integer": "N", "path": "PATH", "integer range": "N", "float range": "X"}  # + click's names


def _no_type(ctx=None) -> None:
    return None


def plain_metavars(command):
    """Give every parameter of a typer/click ``command`` (and its subcommands) without a metavar a plain one."""
    help_option = command.get_help_option(command.context_class(command))  # made lazily, then cached on the command
    for param in [*command.params, *([help_option] if help_option is not None else [])]:
        if param.metavar is not None:
            continue
        if getattr(param, "is_flag", False):
            param.metavar = ""
        elif param.param_type_name == "argument":
            param.metavar = param.name.upper().rstrip("S") if param.nargs != 1 else param.name.upper()
            # typer shows an argument's annotation whatever its metavar; the name already says what to give
            param.display_type_rich = _no_type
        else:
            # typer >= 0.29 knows the annotation; older typer runs on click, whose types have names
            bare = param.bare_type() if hasattr(param, "bare_type") else getattr(param.type, "name", "text")
            param.metavar = _NAMES.get(bare, bare.upper())
    for sub in getattr(command, "commands", {}).values():
        plain_metavars(sub)
    return command
