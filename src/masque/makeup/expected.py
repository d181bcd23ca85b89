"""What protection to expect from a plan, as measured (never promised): shown by the CLI summary and the web page.

The numbers are `benchmarks/protection_table.py` on the shared identities (5 people, one protected photo each,
judged against every other photo of the same person): leave-one-out PSR (optimised on all FR models but one, judged
by the held-out one, mean over held-out models) and dlib-bin PSR on the written photo, for "full glam". Looks that
paint only lips, eyes or cheeks moved no independent model in the feasibility study of issue 12 (0 %), so no
protection is promised for them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

# strength -> (leave-one-out PSR, dlib-bin PSR) for "full glam" (README table: 3 people, 5 pairs, 20 steps, five FR
# models: dlib, facenet-casia, faceres, mobileface-v3, sface; `--people 3 --sources-per-person 1 --steps 20`)
MEASURED_FULL_GLAM: Mapping[str, tuple[float, float]] = {
    "subtle": (0.0, 0.0), "natural": (0.04, 0.0), "bold": (0.08, 0.0), "max": (0.16, 0.0)}
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
             for strength, (loo, dlib_bin) in MEASURED_FULL_GLAM.items() if loo > 0 or dlib_bin > 0]
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
    loo, dlib_bin = measured
    source = f", {SOURCE}" if cli else ""  # a benchmark's path means nothing on the page
    return (f"Expected protection of a full look at strength {strength} (measured on our test faces for 'full glam'"
            f"{source}): {100 * loo:.0f} % against a model it was not optimised on, {100 * dlib_bin:.0f} % against "
            f"dlib-bin. {verify}")
