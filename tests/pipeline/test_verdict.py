"""The one verdict rule (`masque.pipeline.verdict`): thresholds, the "before" state, face status and exit codes."""

from __future__ import annotations

import numpy as np
import pytest

from masque.pipeline.verdict import (
    EXIT_RECOGNISED,
    EXIT_UNVERIFIED,
    NOT_PROTECTED,
    PARTIAL,
    PROTECTED,
    UNVERIFIED,
    FaceVerdict,
    ModelVerdict,
    exit_code,
    overall,
    same_person,
    summarise,
)


def _cos(after: float, refs: dict | None = None, before: dict | None = None, model: str = "m") -> ModelVerdict:
    return ModelVerdict(model, "surrogate", "cosine", "far0.01", 0.5, after, refs or {}, before or {})


def _l2(after: float | None, refs: dict | None = None, before: dict | None = None) -> ModelVerdict:
    return ModelVerdict("dlib-bin", "independent", "l2", "l2<0.6", 0.6, after, refs or {}, before or {})


def test_threshold_itself_is_the_same_person_for_cosine_and_not_for_distance():
    """Mutant 6 of issue 10 (`<` vs `<=` on both metrics): cos >= t is the same person (FR convention, EmbedderSpec);
    dlib's rule is distance < 0.6, so a distance of exactly 0.6 is not."""
    assert same_person("cosine", 0.5, 0.5) and not same_person("cosine", float(np.nextafter(0.5, 0)), 0.5)
    assert not same_person("l2", 0.6, 0.6) and same_person("l2", float(np.nextafter(0.6, 0)), 0.6)
    assert _cos(0.5).recognised and _cos(0.5).verdict == NOT_PROTECTED
    assert not _l2(0.6).recognised and _l2(0.6).verdict == PROTECTED
    assert not same_person("l2", None, 0.6)  # dlib finds no face in the protected photo: no match


def test_references_decide_and_the_original_decides_only_in_single_mode():
    assert _cos(0.2, {"pair.jpg": 0.7}, {"pair.jpg": 0.9}).recognised  # the pair still matches
    assert _cos(0.2, {"a.jpg": 0.1, "b.jpg": 0.6}, {"a.jpg": 0.9, "b.jpg": 0.9}).recognised  # any reference
    assert not _cos(0.2, {"pair.jpg": 0.1}, {"pair.jpg": 0.9}).recognised
    # with a reference, the protected copy still resembling its own original is reported, not decisive
    row = _cos(0.7, {"pair.jpg": 0.1}, {"pair.jpg": 0.9})
    assert not row.recognised and row.to_dict()["vs_original"] == 0.7
    # single mode: the original is the only evidence
    assert _cos(0.7).recognised and not _cos(0.2).recognised


def test_a_reference_that_never_matched_is_a_warning_never_protected():
    row = _cos(0.2, {"stranger.jpg": 0.1}, {"stranger.jpg": 0.3})  # did not match the original before
    face = FaceVerdict(0, None, ["stranger.jpg"], [row, _l2(0.9, {"stranger.jpg": 1.0}, {"stranger.jpg": 0.8})])
    assert row.verdict == UNVERIFIED and face.status == UNVERIFIED
    assert len(face.warnings) == 1 and "stranger.jpg" in face.warnings[0] and "m, dlib-bin" in face.warnings[0]
    s = summarise(1, [face])
    assert s["protected"] == 0 and s["unverified"] == 1 and s["warnings"] == face.warnings
    assert exit_code([face]) == EXIT_UNVERIFIED == 4


def test_face_status_counts_only_faces_no_judge_matches():
    clean = FaceVerdict(0, None, [], [_cos(0.2), _l2(0.9)])
    partial = FaceVerdict(1, None, [], [_cos(0.2), _l2(0.3)])
    caught = FaceVerdict(2, None, [], [_cos(0.8), _l2(0.3)])
    # one vocabulary (issue 29): a face some judges still match is "not protected", as one all judges match
    assert [f.status for f in (clean, partial, caught)] == [PROTECTED, NOT_PROTECTED, NOT_PROTECTED]
    assert partial.still_matched_by == ["dlib-bin"] and caught.still_matched_by == ["m", "dlib-bin"]
    s = summarise(4, [clean, partial, caught])
    assert (s["faces_found"], s["protected"], s["still_recognised"]) == (4, 1, 2)
    assert s["still_matched_by"] == ["dlib-bin", "m"]
    assert overall([clean]) == PROTECTED and overall([clean, caught]) == PARTIAL and overall([caught]) == NOT_PROTECTED
    assert exit_code([clean]) == 0 and exit_code([clean, partial]) == EXIT_RECOGNISED == 3


@pytest.mark.parametrize("metric", ["cosine", "l2"])
def test_unknown_metric_is_refused(metric):
    assert same_person(metric, 0.0, 0.5) in (True, False)
    with pytest.raises(ValueError, match="metric"):
        same_person("hamming", 0.0, 0.5)


@pytest.mark.parametrize(("matched", "shows"), [([True, True], True), ([True, False], True), ([False, False], False),
                                                ([True, False, False], False), ([], False)])
def test_a_pair_photo_shows_the_person_when_at_least_half_the_judges_match_it(matched, shows):
    """Issue 21 item 9: a pair photo most judges do not match with the face before protection is skipped."""
    from masque.pipeline.verdict import shows_the_person

    assert shows_the_person(matched) is shows


def test_the_overall_sentence_states_the_rule_and_never_contradicts_the_table():
    """Issue 29: with references, judges that still match the *original* are named, and the sentence says that
    references decide; without references the original decides."""
    from masque.pipeline.verdict import OUTCOMES, overall_sentence

    with_refs = FaceVerdict(0, None, ["pair.jpg"], [_cos(0.7, {"pair.jpg": 0.1}, {"pair.jpg": 0.9}),
                                                    _l2(0.3, {"pair.jpg": 0.9}, {"pair.jpg": 0.3})])
    text = overall_sentence([with_refs])
    assert text.startswith("protected: no judge recognises any face"), text
    assert "References decide" in text and "dlib-bin, m still match the original" in text, text
    assert "no judge still matches it, against the original" not in text
    single = FaceVerdict(0, None, [], [_cos(0.8), _l2(0.9)])
    text = overall_sentence([single])
    assert text.startswith("not protected: still recognised by m") and "matches the original" in text, text
    assert set(OUTCOMES) == {PROTECTED, NOT_PROTECTED, UNVERIFIED, PARTIAL}
    assert overall([with_refs, single]) == PARTIAL  # a photo's word: some faces protected, others not
