"""What protection to expect from a plan, as measured (never promised): shown by the CLI summary and the web page.

The numbers are `benchmarks/protection_table.py` on the shared identities (issue 19's frontier; README "How strong is
it?"): "full glam" with the protective finish of each strength's preset, the first two photos of each of 5 people, the
next photo as the pair, the engine optimised on five of the six FR models and judged on the written photo by the
sixth (held out, rotating across faces) and by dlib-bin, with the one verdict rule. Looks that paint only lips, eyes
or cheeks moved no independent model in the feasibility study of issue 12 (0 %), so no protection is promised for
them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

# strength -> (leave-one-out PSR, dlib-bin PSR, finish amplitude /255) for "full glam", 10 faces each (`python
# benchmarks/protection_table.py --strengths subtle natural bold max --sources-per-person 2`, six FR models: dlib,
# facenet-casia, facenet-keras, faceres, mobileface-v3, sface)
MEASURED_FULL_GLAM: Mapping[str, tuple[float, float, float]] = {
    "subtle": (0.2, 0.4, 4.0), "natural": (0.3, 0.4, 4.0), "bold": (0.6, 1.0, 8.0), "max": (0.8, 1.0, 12.0)}
FACES_MEASURED = 10
SKIN_PRODUCTS = frozenset({"foundation", "contour", "highlight", "bronzer"})
SOURCE = "benchmarks/protection_table.py, shared identities"


@dataclass(frozen=True)
class MeasuredSetting:
    """One measured look and strength: the share of pairs it protected (0..1) against a model it was not optimised
    on (leave-one-out) and against dlib-bin on the written photo."""

    prompt: str
    strength: str
    leave_one_out: float
    dlib_bin: float


def measured_settings() -> list[MeasuredSetting]:
    """Every measured look and strength that protected at least one pair, most protective first (the web page's
    suggestions)."""
    found = [MeasuredSetting("full glam", strength, loo, dlib_bin)
             for strength, (loo, dlib_bin, _finish) in MEASURED_FULL_GLAM.items() if loo > 0 or dlib_bin > 0]
    return sorted(found, key=lambda m: (m.leave_one_out, m.dlib_bin), reverse=True)


def expected_protection(products: Sequence[str], strength: str, audience: Literal["cli", "web"] = "cli") -> str:
    """One sentence for the user about the protection their choice is measured to give (``audience="web"``: worded
    for the page, which has a strength control and shows its own verdict, no command-line flags)."""
    cli = audience == "cli"
    if not SKIN_PRODUCTS & set(products):
        return ("Expected protection: little. Lipstick, eyeshadow, liner, brows or blush alone moved no independent "
                "face-recognition model in our tests; " +
                ("add a full look (e.g. 'full glam', 'contoured') and a stronger --strength, and verify with "
                 "`masque check`." if cli else "choose one of the suggested looks and strengths."))
    measured = MEASURED_FULL_GLAM.get(strength)
    verify = "Not a guarantee: verify with `masque check`." if cli else "Not a guarantee."
    if measured is None:
        return f"Expected protection at strength {strength}: not measured. {verify}"
    loo, dlib_bin, finish = measured
    source = f", {SOURCE}" if cli else ""  # a benchmark's path means nothing on the page
    return (f"Expected protection of a full look at strength {strength} (protective finish up to {finish:g}/255; "
            f"measured on {FACES_MEASURED} test faces for 'full glam'{source}): {100 * loo:.0f} % against a model "
            f"it was not optimised on, {100 * dlib_bin:.0f} % against dlib-bin. {verify}")
