"""Protect until it holds (issue 19): per face, step up the strength ladder until the judges stop matching it.

Every face is first protected at the starting strength and judged on the written photo, as without escalation. While
a face is not protected and a stronger level up to the cap exists, *that* face is protected again at the next level
(its job's plan re-resolved at that level by the same loaded engine, `with_strength`), pasted into the photo beside the
other faces' current results, and judged again. Other faces keep their result.

What is judged is what ships: each step's photo goes through ``look`` — the front end's write-and-read-back into a
scratch file (`masque.api`), so a JPEG's quantisation is in the pixels the judges read — and the photo is written to
its real name once more at the end, where every face is judged again (the final verdict of the sidecar).

A step *holds* when the face is ``protected`` under the one rule (`masque.pipeline.verdict`): no judge — surrogate,
held-out model or dlib-bin — still matches it. It also stops at ``unverified`` (no judge matches, but a reference never
matched the original): a stronger level cannot make that reference prove anything. For the check to be leave-one-out,
a model the makeup was not optimised against must be among the judges: `held_out_model` picks it (`DEFAULT_HELD_OUT`)
when the user names no surrogates.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from ..errors import InputError
from ..makeup.prompt import STRENGTHS
from .verdict import PROTECTED, UNVERIFIED, FaceVerdict

HOLDS = (PROTECTED, UNVERIFIED)  # statuses a stronger level cannot improve on
DEFAULT_CAP = STRENGTHS[-1]  # `--max-strength` default: the strongest level


def ladder(start: str, cap: str | None = None) -> tuple[str, ...]:
    """The levels from ``start`` to ``cap`` (default the strongest) in `STRENGTHS` order, both included."""
    cap = cap or DEFAULT_CAP
    for name, value in (("strength", start), ("max_strength", cap)):
        if value not in STRENGTHS:
            raise InputError(field=name, value=value, rule=lambda n, v=value: f"must be one of "
                             f"{', '.join(STRENGTHS)} with {n.until_protected}, got {v!r}")
    lo, hi = STRENGTHS.index(start), STRENGTHS.index(cap)
    if hi < lo:
        raise InputError(field="max_strength", value=cap, rule=lambda n: f"must be at least the starting "
                         f"{n.strength} {start!r}, got {cap!r}", hint={"cli": "raise the cap or start lower",
                                                                       "web": "choose a higher strength"})
    return STRENGTHS[lo:hi + 1]


# The default held-out judge of `--until-protected` when no surrogates are named, in order of preference: the two
# judges the makeup transfers to least (sface, then mobileface-v3: README, "How strong is it?"), so escalation stops
# only when a hard unseen model is fooled too. A named list, not "the last model in registry order": registering a
# new model changes nothing unless none of these is present.
DEFAULT_HELD_OUT = ("sface", "mobileface-v3")


@dataclass(frozen=True)
class HeldOut:
    """The model escalation holds out of the optimisation, and why (written into the sidecar)."""

    model: str
    reason: str

    def to_dict(self) -> dict:
        return {"model": self.model, "reason": self.reason}


def held_out_model(present: Sequence[str], preference: Sequence[str] = DEFAULT_HELD_OUT) -> HeldOut | None:
    """The model escalation holds out when the user names no surrogates: the first of ``preference`` that is present;
    when none is, the present model listed last (`masque.embedders.present_embedders`, registry order), said so in
    the reason. None with fewer than two models: the one model is needed as the surrogate, and only dlib-bin judges
    independently."""
    if len(present) < 2:
        return None
    for name in preference:
        if name in present:
            return HeldOut(name, f"the default held-out judge ({', '.join(preference)}: the first present; the models "
                                 "the makeup transfers to least)")
    return HeldOut(present[-1], f"fallback: none of the default held-out judges ({', '.join(preference)}) is present, "
                                "so the present model listed last in `masque models list` is held out")


@dataclass
class Escalation:
    """One face's way up the ladder: each level tried and the judges' status there."""

    cap: str
    steps: list[tuple[str, str]] = field(default_factory=list)  # (strength, status), in the order tried

    @property
    def strength_reached(self) -> str:
        return self.steps[-1][0]

    @property
    def holds(self) -> bool:
        return self.steps[-1][1] in HOLDS

    @property
    def cap_reached(self) -> bool:
        """The cap was tried and did not hold (a face that holds at the cap itself did not run out of levels)."""
        return self.strength_reached == self.cap and not self.holds

    def to_dict(self) -> dict:
        return {"escalation": [{"strength": s, "status": st} for s, st in self.steps],
                "strength_reached": self.strength_reached, "cap_reached": self.cap_reached}


Protect = Callable[[int, str], np.ndarray]  # (face position, level) -> that face's protected crop, uint8
Judge1 = Callable[[int, np.ndarray], FaceVerdict]  # (face position, photo as read back) -> its verdict


def escalate(levels: Sequence[str], first: Sequence[FaceVerdict], crops: list[np.ndarray], *, protect: Protect,
             compose: Callable[[Sequence[np.ndarray]], np.ndarray], look: Callable[[np.ndarray], np.ndarray],
             judge: Judge1) -> list[Escalation]:
    """Walk each face up ``levels`` (start first, cap last) from its verdict ``first[i]`` at the start.

    ``crops[i]`` is face ``i``'s current protected crop (replaced in place when a stronger level runs);
    ``compose(crops)`` pastes them all into the original photo; ``look(photo)`` is what a reader of the written file
    gets; ``judge(i, photo)`` is face ``i``'s verdict on it.
    """
    out = []
    for i, verdict in enumerate(first):
        esc = Escalation(levels[-1], [(levels[0], verdict.status)])
        for level in levels[1:]:
            if esc.holds:
                break
            crops[i] = protect(i, level)
            esc.steps.append((level, judge(i, look(compose(crops))).status))
        out.append(esc)
    return out
