"""Structured errors (issue 27): an error about a setting carries the setting, the value and advice per front end, so
the CLI, the web page and Python each word it themselves; nothing re-parses the CLI's line."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from masque.engines.base import EngineOptions, engine_kwargs
from masque.errors import FRONT_ENDS, InputError, UserNote, worded
from masque.pipeline.escalate import ladder


def _refused(call) -> InputError:
    with pytest.raises(InputError) as exc:
        call()
    return exc.value


@pytest.mark.parametrize("call, field, value", [
    (lambda: ladder("bold", "subtle"), "max_strength", "subtle"),
    (lambda: engine_kwargs("parametric", EngineOptions(strength="huge")), "strength", "huge"),
    (lambda: engine_kwargs("parametric", EngineOptions(model="sd")), "model", "sd"),
])
def test_an_error_about_a_setting_names_it_per_front_end(call, field, value):
    exc = _refused(call)
    assert (exc.field, exc.value) == (field, value)
    cli, web, api = (exc.worded(fe) for fe in FRONT_ENDS)
    assert str(exc) == cli and f"`--{field.replace('_', '-')}`" in cli  # the CLI's line is the exception's text
    assert "`" not in web and "--" not in web  # the page's words: no flag, no argument name
    assert f"`{field}`" in api and "--" not in api
    assert all("\n" not in line for line in (cli, web, api))


def test_advice_differs_per_front_end_and_a_plain_message_reads_the_same_everywhere():
    exc = _refused(lambda: ladder("bold", "subtle"))
    assert exc.worded("cli").endswith("raise the cap or start lower.")
    assert exc.worded("web").endswith("choose a higher strength.")
    plain = InputError("`mask` 'm.png' is empty (all black).")
    assert {plain.worded(fe) for fe in FRONT_ENDS} == {str(plain)} and plain.field is None


def test_a_structured_error_pickles_whole():
    """A batch worker's error travels to the driver: every wording survives (rules may be functions)."""
    exc = pickle.loads(pickle.dumps(_refused(lambda: ladder("bold", "subtle"))))
    assert isinstance(exc, InputError) and exc.field == "max_strength"
    assert exc.worded("web").endswith("choose a higher strength.")
    from masque.io import UnreadableImageError

    bad = pickle.loads(pickle.dumps(UnreadableImageError(Path("x.jpg"), "file is empty (0 bytes)")))
    assert bad.damaged and bad.path == Path("x.jpg") and "x.jpg" in str(bad)


def test_notes_are_worded_the_same_way():
    note = UserNote(rule="pair photo b.jpg: skipped", hint={"cli": "use `--force-pair` to keep it anyway"})
    assert str(note) == "pair photo b.jpg: skipped; use `--force-pair` to keep it anyway."
    assert worded(note, "web") == "pair photo b.jpg: skipped."


def test_the_web_page_reads_the_structure_not_the_cli_line():
    import masque.web.messages as messages
    from masque.web.messages import web_message

    source = Path(messages.__file__).read_text()
    assert "import re" not in source and "re.compile" not in source
    exc = _refused(lambda: engine_kwargs("parametric", EngineOptions(strength="huge")))
    assert web_message(exc).startswith("The strength must be one of subtle, natural, bold, max")
