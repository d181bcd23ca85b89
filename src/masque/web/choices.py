"""What the page offers: engines, face finders, strengths, and suggestions of looks and strengths that protect,
each with its measured expected protection (`masque.makeup.expected`, never numbers written into the page)."""

from __future__ import annotations

from ..engines.catalog import engine_names
from ..makeup.expected import measured_settings
from ..makeup.prompt import STRENGTHS

ENGINES = ("auto", *engine_names())  # auto: diffusion when its weights are here, else parametric
DETECTORS = {"auto": "fast", "hog+cnn": "thorough"}  # the page's face finders (masque.faces.detect.DETECTORS)
DEFAULT_PROMPT = "full glam"  # a full look: lips, eyes or cheeks alone protect little (makeup.expected)
# "protect until it holds" (issue 19) is the page's default: from the strength control up to its own "up to" control,
# whose default is the strongest level (issue 29: a cap at the default strength could never escalate)
UNTIL_PROTECTED_DEFAULT = True


def default_strength() -> str:
    """The fast engine's own default level (its config), so the page and the CLI start from the same strength."""
    from ..engines import engine_kwargs

    return engine_kwargs("parametric")["config"].strength


def suggestions() -> list[dict]:
    """Chips for the page: measured look + strength, most protective first, with a one-line label of what was
    measured (share of pairs protected against a model the makeup was not optimised on, and against dlib-bin)."""
    return [{"prompt": m.prompt, "strength": m.strength, "leave_one_out": m.leave_one_out, "dlib_bin": m.dlib_bin,
             "label": f"{m.prompt}, {m.strength}: {100 * m.leave_one_out:.0f} % vs unseen models, "
                      f"{100 * m.dlib_bin:.0f} % vs dlib-bin"} for m in measured_settings()]


def page_choices() -> dict:
    from ..makeup.expected import measured_row
    from ..pipeline.escalate import DEFAULT_CAP

    seconds = {s: row.seconds_per_face for s in STRENGTHS if (row := measured_row(s)) is not None}
    return {"strengths": list(STRENGTHS), "default_strength": default_strength(), "default_prompt": DEFAULT_PROMPT,
            "suggestions": suggestions(), "detectors": DETECTORS,
            "until_protected": UNTIL_PROTECTED_DEFAULT, "default_cap": DEFAULT_CAP, "seconds_per_face": seconds}


def expected_for_page(prompt: str, strength: str | None, cap: str | None) -> str:
    """What the page shows under the controls before the button is pressed: the words it will ignore and the
    measured protection of this look from ``strength`` (up to ``cap`` with 'protect until it holds')."""
    from ..errors import InputError, worded
    from ..makeup.expected import expected_protection
    from ..makeup.prompt import mostly_unknown, resolve_plan
    from .messages import sentence

    if not prompt.strip():
        return "Describe the makeup, for example 'full glam'."
    try:
        plan = resolve_plan(prompt, None)
    except InputError as exc:
        return sentence(worded(exc, "web"))
    strength = strength if strength in STRENGTHS else default_strength()
    cap = cap if cap in STRENGTHS and STRENGTHS.index(cap) >= STRENGTHS.index(strength) else None
    ignored = ""
    if plan.ignored:
        most = "Most of these words are" if mostly_unknown(plan) else "Some words are"
        ignored = f"{most} not makeup words MASQUE knows and will be ignored: {', '.join(plan.ignored)}. "
    return ignored + expected_protection(list(plan.products), strength, audience="web", cap=cap)
