"""What protection to expect from a plan, as measured (never promised): said by the CLI before the wait, by the web page
before the button is pressed, and in the summary.

The numbers are data, not code: `benchmarks/protection_table.py --write-measured` writes its rows into
``measured/frontier.json`` (shipped with the package) and this module reads that file, so what the product says is
what the benchmark last measured (`tests/makeup/test_expected.py` ties the file to the strength presets it was
measured with). A row is one look ("full glam") at one strength on the shared identities: the engine optimised on
five of six FR models and judged on the written photo by the sixth (held out, rotating across faces) and by dlib-bin,
with the one verdict rule; each outcome is a count of faces with its 95 % Wilson interval. Looks that paint only lips,
eyes or cheeks moved no independent model in the feasibility study of issue 12 (0 %), so no protection is promised
for them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Literal

SKIN_PRODUCTS = frozenset({"foundation", "contour", "highlight", "bronzer"})
SOURCE = "benchmarks/protection_table.py, shared identities"
# the outcomes a row counts, in the order they are said, with the words the user reads
OUTCOMES: Mapping[str, str] = {"leave_one_out": "leave-one-out", "dlib_bin": "dlib-bin",
                               "white_box": "white-box", "protected": "protected (no judge matches)"}
# the page's words for the same outcomes (its suggestion chips say "unseen models" too)
WEB_OUTCOMES: Mapping[str, str] = {**OUTCOMES, "leave_one_out": "protected against unseen models",
                                   "dlib_bin": "against dlib-bin", "protected": "against every model checked"}


def measured_path() -> Path:
    """The shipped results file (package data of `masque.makeup`)."""
    return Path(str(resources.files(__package__).joinpath("measured", "frontier.json")))


@dataclass(frozen=True)
class Outcome:
    """``count`` of ``n`` faces had the outcome; ``low``..``high`` its 95 % Wilson interval (0..1)."""

    count: int
    n: int
    low: float
    high: float

    @property
    def rate(self) -> float:
        return self.count / self.n if self.n else 0.0

    @classmethod
    def of(cls, count: int, n: int) -> Outcome:
        """The interval from the counts (scipy's Wilson score interval; called by the benchmark that writes rows)."""
        from scipy.stats import binomtest

        ci = binomtest(count, n).proportion_ci(confidence_level=0.95, method="wilson")
        return cls(count, n, round(float(ci.low), 4), round(float(ci.high), 4))

    def to_dict(self) -> dict:
        return {"count": self.count, "n": self.n, "rate": round(self.rate, 4), "ci95": [self.low, self.high]}

    @classmethod
    def from_dict(cls, d: Mapping) -> Outcome:
        return cls(int(d["count"]), int(d["n"]), float(d["ci95"][0]), float(d["ci95"][1]))

    def say(self) -> str:
        return f"{100 * self.rate:.0f} % (95 % CI {100 * self.low:.0f}–{100 * self.high:.0f} %)"


@dataclass(frozen=True)
class MeasuredRow:
    """One measured look and strength: the engine settings it ran with (the resolved config, flattened with dots),
    the number of faces and each outcome (`OUTCOMES`)."""

    prompt: str
    strength: str
    settings: Mapping[str, object]
    faces: int
    outcomes: Mapping[str, Outcome]
    face_ssim: float
    seconds_per_face: float
    # face SSIM after undoing the reshape's known motion (the texture's look alone; = face_ssim without a reshape)
    texture_ssim: float | None = None
    reshape_iod_pct: float = 0.0  # the largest landmark motion over the faces, % of the eye distance
    command: str = ""  # the benchmark command that measured this row

    def to_dict(self) -> dict:
        return {"prompt": self.prompt, "strength": self.strength, "settings": dict(self.settings),
                "faces": self.faces, "outcomes": {k: o.to_dict() for k, o in self.outcomes.items()},
                "face_ssim": self.face_ssim, "seconds_per_face": self.seconds_per_face,
                "texture_ssim": self.texture_ssim, "reshape_iod_pct": self.reshape_iod_pct, "command": self.command}

    @classmethod
    def from_dict(cls, d: Mapping) -> MeasuredRow:
        return cls(d["prompt"], d["strength"], dict(d["settings"]), int(d["faces"]),
                   {k: Outcome.from_dict(o) for k, o in d["outcomes"].items()}, float(d["face_ssim"]),
                   float(d["seconds_per_face"]), d.get("texture_ssim"), float(d.get("reshape_iod_pct", 0.0)),
                   d.get("command", ""))


def settings_of(config) -> dict[str, object]:
    """A frozen config dataclass as the flat, JSON-plain dict a row stores (nested fields dotted: ``pairwise.eot.
    samples``), so a test can compare what a preset resolves to today with what the row was measured with."""
    from dataclasses import asdict

    def flat(d: Mapping, prefix: str = "") -> dict[str, object]:
        out: dict[str, object] = {}
        for key, value in d.items():
            out |= flat(value, f"{prefix}{key}.") if isinstance(value, Mapping) else {f"{prefix}{key}": value}
        return out

    return json.loads(json.dumps(flat(asdict(config))))


def measured_document(rows: Sequence[MeasuredRow], *, command: str, judges: Sequence[str]) -> str:
    """The results file's text (what `benchmarks/protection_table.py --write-measured` writes)."""
    return json.dumps({"source": SOURCE, "command": command, "judges": list(judges),
                       "rows": [r.to_dict() for r in rows]}, indent=1, ensure_ascii=False) + "\n"


@lru_cache(maxsize=4)
def measured_rows(path: Path | None = None) -> tuple[MeasuredRow, ...]:
    """Every row of the results file (the shipped one by default)."""
    data = json.loads((path or measured_path()).read_text(encoding="utf-8"))
    return tuple(MeasuredRow.from_dict(r) for r in data["rows"])


def measured_row(strength: str, prompt: str = "full glam") -> MeasuredRow | None:
    return next((r for r in measured_rows() if r.strength == strength and r.prompt == prompt), None)


@dataclass(frozen=True)
class MeasuredSetting:
    """One measured look and strength: the share of pairs it protected (0..1) against a model it was not optimised
    on (leave-one-out) and against dlib-bin on the written photo (the web page's suggestion chips)."""

    prompt: str
    strength: str
    leave_one_out: float
    dlib_bin: float


def measured_settings() -> list[MeasuredSetting]:
    """Every measured look and strength that protected at least one pair, most protective first."""
    found = [MeasuredSetting(r.prompt, r.strength, r.outcomes["leave_one_out"].rate, r.outcomes["dlib_bin"].rate)
             for r in measured_rows()]
    return sorted((m for m in found if m.leave_one_out > 0 or m.dlib_bin > 0),
                  key=lambda m: (m.leave_one_out, m.dlib_bin), reverse=True)


def _level(row: MeasuredRow, words: Mapping[str, str]) -> str:
    said = ", ".join(f"{words[k]} {row.outcomes[k].say()}" for k in ("leave_one_out", "dlib_bin", "protected")
                     if k in row.outcomes)
    reshape = row.settings.get("reshape") or 0
    moved = f", reshape up to {row.reshape_iod_pct:.0f} % of the eye distance" if reshape else ""
    return f"{said}; finish {row.settings.get('finish', 0):g}/255{moved}, ~{row.seconds_per_face:.0f} s a face"


def expected_protection(products: Sequence[str], strength: str, audience: Literal["cli", "web"] = "cli",
                        cap: str | None = None) -> str:
    """One sentence for the user about the protection their choice is measured to give, said before the wait;
    ``cap``: protect until it holds, from ``strength`` up to ``cap``. ``audience="web"`` words it for the page (a
    strength control, no command-line flags)."""
    from .vocabulary import STRENGTHS

    cli = audience == "cli"
    if not SKIN_PRODUCTS & set(products):
        return ("Expected protection: little. Lipstick, eyeshadow, liner, brows or blush alone moved no independent "
                "face-recognition model in our tests; " +
                ("add a full look (e.g. 'full glam', 'contoured') and a stronger --strength, and verify with "
                 "`masque check`." if cli else "choose one of the suggested looks and strengths."))
    verify = "Not a guarantee: verify with `masque check`." if cli else "Not a guarantee."
    row = measured_row(strength)
    if row is None:
        return f"Expected protection at strength {strength}: not measured. {verify}"
    source = f"; {SOURCE}" if cli else ""  # a benchmark's path means nothing on the page
    words = OUTCOMES if cli else WEB_OUTCOMES
    head = f"Expected at {strength} (measured on {row.faces} faces for '{row.prompt}'{source}): {_level(row, words)}."
    levels = list(STRENGTHS)
    top = levels.index(cap) if cap in levels else -1
    stronger = [r for r in (measured_row(s) for s in levels[levels.index(strength) + 1:top + 1 if cap else None])
                if r is not None]
    if cap and stronger:  # until it holds: each face tries the stronger levels in turn
        tail = " Then, for a face still recognised: " + "; ".join(
            f"{r.strength} {words['leave_one_out']} {r.outcomes['leave_one_out'].say()}" for r in stronger) + "."
    elif stronger:
        flag = "--strength " if cli else ""
        tail = " Stronger: " + "; ".join(
            f"{flag}{r.strength} {words['leave_one_out']} {r.outcomes['leave_one_out'].say()}, dlib-bin "
            f"{100 * r.outcomes['dlib_bin'].rate:.0f} %" for r in stronger) + "."
    else:
        tail = ""
    return f"{head}{tail} {verify}"
