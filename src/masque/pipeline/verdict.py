"""The one verdict rule, used by `masque protect` (sidecar and summary), `masque check`, the web page and
`masque evaluate`.

For each face and each judge (a face-recognition model, or dlib-bin itself) the protected face is compared with the
unprotected one (``vs_original``) and with every reference photo of the same person (``vs_references``; the pair
photos in `protect`). ``references_before`` compares the *unprotected* face with each reference: the "before" state.

* `same_person` is the single threshold rule: cosine similarity >= threshold, or descriptor distance < threshold
  (dlib's documented rule). A judge that finds no face in the protected photo does not match it.
* A judge *recognises* the protected face when it matches any reference photo (another photo of the person, the
  paper's dodging protocol); with no reference (single mode) when it matches the unprotected original, which is
  stricter (a photo against its own copy). ``vs_original`` is reported either way.
* A reference that the judge did not match with the unprotected face to begin with proves nothing (it may show
  another person): it gets a warning, and the face cannot be called protected on its evidence.
* Outcomes (`OUTCOMES`, the one vocabulary of the summary, sidecar, `masque check`, the web page and the README): a
  face is ``protected`` (no judge recognises it and every reference matched before), ``not protected`` (at least one
  judge still recognises it; ``still_matched_by`` names which — one, some or all) or ``unverified`` (none does, but
  a reference never matched before). A photo is ``partially protected`` when some of its faces are protected and
  others are not (`overall`); a face never is. Only ``protected`` faces are counted as protected.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from ..hints import weak_protection_hint  # noqa: F401  (the one hint, re-exported beside the verdict)

PROTECTED, NOT_PROTECTED, UNVERIFIED = "protected", "not protected", "unverified"
PARTIAL = "partially protected"  # a photo's word only (`overall`): some faces protected, others not
OUTCOMES = {
    PROTECTED: "no judge (surrogate, held-out model or dlib-bin) still recognises the face, and every reference "
               "matched the unprotected face before",
    NOT_PROTECTED: "at least one judge still recognises the face (the judges that do are listed)",
    UNVERIFIED: "no judge recognises the face, but a reference never matched the unprotected face before (it may "
                "show someone else), so nothing is proven",
    PARTIAL: "a photo of several faces: some are protected, others are not",
}
# what "recognises" means (`ModelVerdict.recognised`), said wherever an outcome is
RECOGNISED_RULE = {True: "References decide: a judge recognises a face when it matches any reference photo",
                   False: "No reference photo: a judge recognises a face when it matches the original"}
# Each judge's role, and what it means (the CLI's tables and the web page's both show these words)
ROLE_MEANINGS = {"surrogate": "the makeup was optimised against this model",
                 "held-out": "present here but not optimised against: a stand-in for recognisers elsewhere",
                 "independent": "dlib's own program, run on the saved photo"}
ROLES = tuple(ROLE_MEANINGS)
EXIT_RECOGNISED, EXIT_UNVERIFIED = 3, 4  # `masque check` exit codes (2 is a usage error, 0 every face protected)


def same_person(metric: str, value: float | None, threshold: float) -> bool:
    """The rule: ``cosine`` values match at or above the threshold, ``l2`` distances below it; ``None`` (the judge
    finds no face) never matches."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return False
    if metric == "cosine":
        return value >= threshold
    if metric == "l2":
        return value < threshold
    raise ValueError(f"`metric` must be 'cosine' or 'l2', got {metric!r}")


def shows_the_person(matched_before: Sequence[bool]) -> bool:
    """Whether a reference photo shows the face's person: at least half of the judges match it with the unprotected
    face. One that does not is skipped as a pair (pushing away from someone else cannot protect)."""
    return bool(matched_before) and 2 * sum(matched_before) >= len(matched_before)


@dataclass
class ModelVerdict:
    """One judge's numbers for one face (similarities in the judge's own unit, given by ``metric``)."""

    model: str
    role: str
    metric: str  # "cosine" (same person at >= threshold) or "l2" (same person below threshold)
    threshold_key: str
    threshold: float
    vs_original: float | None
    vs_references: dict[str, float | None] = field(default_factory=dict)
    references_before: dict[str, float | None] = field(default_factory=dict)

    def matches(self, value: float | None) -> bool:
        return same_person(self.metric, value, self.threshold)

    @property
    def recognised(self) -> bool:
        """The judge still matches the protected face to the person: to any reference photo when there are
        references (what a recogniser holding other photos of the person does: the dodging protocol of the paper
        and of the anti-FR literature), else to the unprotected original (single mode's stricter stand-in).
        ``vs_original`` is always reported; with references it does not decide (nobody who holds the original needs
        to recognise the posted copy)."""
        if self.vs_references:
            return any(self.matches(v) for v in self.vs_references.values())
        return self.matches(self.vs_original)

    @property
    def unmatched_before(self) -> list[str]:
        """References this judge did not match with the unprotected face: they prove nothing about protection."""
        return [name for name, v in self.references_before.items() if not self.matches(v)]

    @property
    def verdict(self) -> str:
        if self.recognised:
            return NOT_PROTECTED
        return UNVERIFIED if self.unmatched_before else PROTECTED

    @property
    def rule(self) -> str:
        return (f"same person when cosine >= {self.threshold:.3f}" if self.metric == "cosine"
                else f"same person when distance < {self.threshold:.2f}")

    def to_dict(self) -> dict:
        return {"model": self.model, "role": self.role, "metric": self.metric, "threshold_key": self.threshold_key,
                "threshold": self.threshold, "rule": self.rule, "vs_original": self.vs_original,
                "vs_references": self.vs_references, "references_before": self.references_before,
                "recognised": self.recognised, "verdict": self.verdict}


@dataclass
class FaceVerdict:
    """Every judge's verdict on one face, and the face's status under the rule above."""

    index: int
    box: list[int] | None
    references: list[str]
    models: list[ModelVerdict]

    @property
    def status(self) -> str:
        if any(m.recognised for m in self.models):
            return NOT_PROTECTED
        return UNVERIFIED if any(m.unmatched_before for m in self.models) else PROTECTED

    @property
    def still_matched_by(self) -> list[str]:
        return [m.model for m in self.models if m.recognised]

    @property
    def warnings(self) -> list[str]:
        out = []
        for ref in self.references:
            models = [m.model for m in self.models if ref in m.unmatched_before]
            if models:
                out.append(f"reference {ref!r} did not match the unprotected face before protection on "
                           f"{', '.join(models)}: it may show another person, so it proves nothing about protection; "
                           "use another photo of the same person.")
        return out

    def to_dict(self) -> dict:
        return {"index": self.index, "box": self.box, "references": self.references, "status": self.status,
                "still_matched_by": self.still_matched_by, "warnings": self.warnings,
                "models": [m.to_dict() for m in self.models]}


def status_counts(statuses: Iterable[str | None]) -> dict[str, int]:
    """Faces ``protected``, ``not_protected`` (still matched by some judge) and ``unverified`` (also a face nothing
    judged, status None): the counts a batch reports per photo and in its summary."""
    statuses = list(statuses)
    # "partially protected" faces: manifests written before issue 29 gave a face that word for "some judges match"
    recognised = statuses.count(NOT_PROTECTED) + statuses.count(PARTIAL)
    protected = statuses.count(PROTECTED)
    return {"protected": protected, "not_protected": recognised, "unverified": len(statuses) - protected - recognised}


def summarise(faces_found: int, faces: Sequence[FaceVerdict]) -> dict:
    """Counts for a photo: ``protected`` counts only faces no judge still matches (and whose references matched)."""
    counts = status_counts(f.status for f in faces)
    return {"faces_found": faces_found, "faces_judged": len(faces), "protected": counts["protected"],
            "still_recognised": counts["not_protected"], "unverified": counts["unverified"],
            "still_matched_by": sorted({m for f in faces for m in f.still_matched_by}),
            "warnings": [w for f in faces for w in f.warnings]}


def overall(faces: Sequence[FaceVerdict]) -> str:
    """One word for a photo (`OUTCOMES`): protected only when every judged face is; not protected when no face is;
    partially protected when some faces are protected and others are not."""
    statuses = {f.status for f in faces}
    if not statuses:
        return UNVERIFIED
    if statuses == {PROTECTED}:
        return PROTECTED
    if NOT_PROTECTED in statuses:
        return PARTIAL if PROTECTED in statuses else NOT_PROTECTED
    return UNVERIFIED


def overall_sentence(faces: Sequence[FaceVerdict]) -> str:
    """Why the photo got its word, with the rule that decided (references decide when there are any): for
    `masque check`'s "Overall" line, never claiming what the table contradicts."""
    word = overall(faces)
    with_refs = any(f.references for f in faces)
    rule = RECOGNISED_RULE[with_refs]
    matched = sorted({name for f in faces for name in f.still_matched_by})
    on_original = sorted({m.model for f in faces for m in f.models if m.vs_references and m.matches(m.vs_original)})
    if word == PROTECTED:
        why = "no judge recognises any face"
    elif word == UNVERIFIED:
        why = "no judge recognises a face, but a reference never matched the unprotected face before"
    else:
        why = f"still recognised by {', '.join(matched)}"
    note = (f"; {', '.join(on_original)} still match{'es' if len(on_original) == 1 else ''} the original, which "
            "does not count with references" if with_refs and on_original else "")
    return f"{word}: {why}. {rule}{note}."


def exit_code(faces: Sequence[FaceVerdict]) -> int:
    """`masque check`'s exit status: 0 every face protected, 3 some face still recognised, 4 none recognised but a
    reference never matched the original (or nothing could be judged)."""
    return status_exit_code([f.status for f in faces])


def status_exit_code(statuses: Iterable[str | None]) -> int:
    """`exit_code` from the faces' statuses (also `masque protect --require-protected`'s, over a batch)."""
    statuses = set(statuses)
    if statuses & {NOT_PROTECTED, PARTIAL}:  # PARTIAL: faces of manifests written before issue 29
        return EXIT_RECOGNISED
    return 0 if statuses == {PROTECTED} else EXIT_UNVERIFIED

