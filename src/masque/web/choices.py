"""What the page offers: engines, face finders, strengths, and suggestions of looks and strengths that protect,
each with its measured expected protection (`masque.makeup.expected`, never numbers written into the page)."""

from __future__ import annotations

from ..engines.catalog import engine_names
from ..makeup.expected import measured_settings
from ..makeup.prompt import STRENGTHS

ENGINES = ("auto", *engine_names())  # auto: diffusion when its weights are here, else parametric
DETECTORS = {"hog": "fast", "hog+cnn": "thorough"}  # the page's face finders (masque.faces.detect.DETECTORS)
DEFAULT_PROMPT = "full glam"  # a full look: lips, eyes or cheeks alone protect little (makeup.expected)
UNTIL_PROTECTED_DEFAULT = True  # "protect until it holds" (issue 19) is the page's default; the strength is its cap


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
    return {"strengths": list(STRENGTHS), "default_strength": default_strength(), "default_prompt": DEFAULT_PROMPT,
            "suggestions": suggestions(), "detectors": DETECTORS,
            "until_protected": UNTIL_PROTECTED_DEFAULT}
