"""`FacePipeline`: prepare → engine.protect(job) → paste_back → write → judge, for one photo.

`masque protect` (through `masque.api.Protector`), the web page, `masque evaluate` and the benchmarks all call
`FacePipeline.run`, so what is evaluated is what ships. Each stage's seconds go into `StageTimes` (load, detect,
align_mask, anchors, engine, paste, write, judge).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..engines.base import Engine, FaceJob, ProgressCallback, ProtectResult
from ..errors import InputError
from ..faces.align import tensor_to_crop
from ..faces.detect import Detection, select_faces
from ..faces.paste import paste_back
from ..io import sidecar_path
from ..trace import CostTrace, StageTimes
from .escalate import Escalation, escalate
from .judge import Before, Judge
from .prepare import PairPhoto, Preparer
from .verdict import FaceVerdict, shows_the_person


@dataclass
class FaceOutcome:
    job: FaceJob
    result: ProtectResult
    verdict: FaceVerdict | None = None
    escalation: Escalation | None = None  # the levels tried, when the run escalated (`masque.pipeline.escalate`)


@dataclass
class PhotoResult:
    """The protected photo (as written when a writer was given) and what happened to each face."""

    faces_found: int
    rgb: np.ndarray
    faces: list[FaceOutcome]
    trace: CostTrace
    times: StageTimes = field(default_factory=StageTimes)
    possibly_missed: list = field(default_factory=list)  # (box, score): what the detector was unsure of
    skipped_pairs: list[str] = field(default_factory=list)  # pair photos of another person, not used (`force_pair`)

    @property
    def verdicts(self) -> list[FaceVerdict]:
        return [f.verdict for f in self.faces if f.verdict is not None]


def sidecar_surrogates(protected: Path) -> list[str]:
    """The models a protected photo was optimised against, read from its sidecar when there is one (so `masque
    check` marks judges as surrogate / held-out the way `masque protect` did); ``[]`` otherwise."""
    import json

    side = sidecar_path(protected)
    try:
        return list(json.loads(side.read_text())["settings"]["surrogates"])
    except (OSError, ValueError, KeyError, TypeError):
        return []


Writer = Callable[[np.ndarray], np.ndarray]  # protected photo -> the pixels as written (re-read from the file)


class FacePipeline:
    """One engine + masker + judge, reused across photos (and prompts, through `with_prompt`)."""

    def __init__(self, preparer: Preparer, judge: Judge | None = None, faces: str | int = "all", *,
                 force_pair: bool = False):
        self.preparer, self.judge, self.faces = preparer, judge, faces
        self._levels: dict[str, Preparer] = {}  # escalation: this preparer at other strengths, built on first use
        self.force_pair = force_pair  # keep pair photos the judges say show another person

    @property
    def engine(self) -> Engine:
        return self.preparer.engine

    def with_prompt(self, prompt: str, region=None, detector: str | None = None) -> FacePipeline:
        """The same loaded engine, masker and judge for another prompt (regions and plan resolved again) and,
        optionally, another face detector."""
        p = self.preparer
        other = Preparer(p.engine, prompt, region=region, masker=p.masker, detector=detector or p.detector,
                         face_scale=p.face_scale, whole_crop=p.whole_crop, occlusion=p.occlusion)
        return FacePipeline(other, self.judge, self.faces, force_pair=self.force_pair)

    def run(self, rgb: np.ndarray, pairs: Sequence[tuple[str, np.ndarray]] = (), *, seed: int = 0,
            aligned: bool = False, mask: np.ndarray | None = None, write: Writer | None = None,
            progress: ProgressCallback | None = None, times: StageTimes | None = None,
            detection: Detection | None = None, until: Sequence[str] | None = None,
            look: Writer | None = None) -> PhotoResult:
        """Protect every selected face of ``rgb`` (or, ``aligned``, the whole image as one face crop).

        ``pairs``: (name, pixels) of other photos of the same person, the anchors of the face they show best;
        ``write`` stores the result and returns what a reader gets back, which is what the judge reads;
        ``detection``: this photo's faces found beforehand by `Preparer.detection` (`masque.prefetch`);
        ``until``: escalate each face that is not protected up these strength levels (the engine's own level first,
        `escalate.ladder`), judging each step on ``look(photo)`` — what a reader of the written file would get,
        without writing it (default ``write`` itself).
        """
        times, trace = times or StageTimes(), CostTrace()
        if until is not None and self.judge is None:
            raise InputError("`until` (escalation) needs a judge: the verdict decides when a face is protected.")
        if aligned:
            return self._run_crop(rgb, pairs, seed, mask, write, progress, times, trace, until, look)
        # 1. faces of the photo and of the pair photos
        with times("detect"):
            detection = self.preparer.detection(rgb) if detection is None else detection
            found = detection.faces
            chosen = select_faces(found, self.faces)  # NoFaceError when there is none
            pair_photos = [PairPhoto(n, p, self.preparer.largest(p, n)) for n, p in pairs]
        # 2. the judges see the originals and the references once, before anything changes; they pick the pair's face
        before = self._before(rgb, chosen, pair_photos, times, trace)
        pair_photos, before, skipped = self._usable_pairs(before, pair_photos)
        owner = before.owner if before is not None else (0 if pair_photos else None)
        # 3. jobs
        same_crop = before is not None and self.judge.template.cuts_like(self.preparer.template)
        jobs = self.preparer.photo_jobs(rgb, chosen, pair_photos, owner, seed=seed, times=times, trace=trace,
                                        known=[o.embeddings for o in before.faces] if same_crop else None)
        # 4. protect each face; its crop is pasted into the original photo beside the others' (`compose`)
        outcomes = []
        for job in jobs:
            with times("engine"):
                res = protect_job(self.engine, job, _face_progress(progress, job.index, len(jobs)))
            trace.merge(res.trace)
            outcomes.append(FaceOutcome(job, res))
        crops = [tensor_to_crop(o.result.pasted) for o in outcomes]

        def compose(current: Sequence[np.ndarray]) -> np.ndarray:
            with times("paste"):
                result = rgb.copy()
                for out, crop in zip(outcomes, current, strict=True):
                    moved = out.result.reshaped
                    warp = () if moved is None else (moved.motion[0].numpy(), moved.region[0, 0].numpy())
                    result = paste_back(result, out.job.aligned, crop, out.job.mask[0, 0].cpu().numpy(), *warp)
                return result

        # 5. write, 6. judge what was written, 7. escalate the faces that are not protected, then write again
        result = self._write(compose(crops), write, times)
        if before is not None:
            self._judge_all(before, outcomes, result, times, trace)
            judge = self._judge_one(before, times, trace)
            if until is not None and self._escalate(outcomes, crops, until, compose, judge, look or write, times,
                                                    trace, progress):
                result = self._write(compose(crops), write, times)
                self._judge_all(before, outcomes, result, times, trace)
        return PhotoResult(len(found), result, outcomes, trace, times, detection.possibly_missed, skipped)

    def _usable_pairs(self, before: Before | None, pair_photos: list[PairPhoto]
                      ) -> tuple[list[PairPhoto], Before | None, list[str]]:
        """Drop the pair photos the judges do not match with their face before protection (`shows_the_person`):
        pushed away from another person the face is not protected, and as a reference such a photo proves nothing.
        None left: single mode. Kept with ``force_pair``. Each drop is one `UserNote`."""
        if self.force_pair or before is None or before.owner is None or not before.references:
            return pair_photos, before, []
        face = before.faces[before.owner]
        keep = [shows_the_person(self.judge.matched_before(face, r)) for r in before.references]
        skipped = [r.name for r, k in zip(before.references, keep, strict=True) if not k]
        if not skipped:
            return pair_photos, before, []
        left = [r for r, k in zip(before.references, keep, strict=True) if k]
        import warnings

        from ..errors import UserNote

        then = ("the other pair photos anchor it" if left else
                "no pair photo is left, so it is protected in single mode (pushed away from itself)")
        warnings.warn(UserNote(value=skipped, rule=f"pair photo {', '.join(skipped)}: most judges do not match it "
                               f"with face {before.owner} before protection (another person?), so it is skipped as a "
                               f"reference; {then}",
                               hint={"cli": "use `--force-pair` to keep it anyway",
                                     "api": "pass `force_pair=True` to keep it anyway"}), stacklevel=2)
        return ([p for p, k in zip(pair_photos, keep, strict=True) if k],
                Before(before.faces, left, before.owner if left else None), skipped)

    def _judge_all(self, before: Before, outcomes: list[FaceOutcome], photo: np.ndarray, times: StageTimes,
                   trace: CostTrace) -> None:
        with times("judge"):
            for out, verdict in zip(outcomes, self.judge.verdicts(before, photo, trace), strict=True):
                out.verdict = verdict

    def _judge_one(self, before: Before, times: StageTimes, trace: CostTrace):
        """``judge(i, photo)``: face ``i``'s verdict alone (the references go to their owner, as in `verdicts`)."""
        def judge(i: int, photo: np.ndarray) -> FaceVerdict:
            face = before.faces[i]
            with times("judge"):
                return self.judge.verdict(face, photo, before.references if before.owner == face.index else (),
                                          trace=trace)
        return judge

    def at_strength(self, level: str) -> Preparer:
        """This pipeline's preparer with the engine at another strength level (same loaded models), kept."""
        if level not in self._levels:  # an engine without levels refuses in one line (`Engine.with_strength`)
            self._levels[level] = self.preparer.with_engine(self.engine.with_strength(level))
        return self._levels[level]

    def _escalate(self, outcomes: list[FaceOutcome], crops: list[np.ndarray], until: Sequence[str], compose,
                  judge, look: Writer | None, times: StageTimes, trace: CostTrace,
                  progress: ProgressCallback | None) -> bool:
        """`escalate.escalate` over the outcomes; True when some face was protected again (the photo changed)."""
        level = self.engine.strength_level
        if not until or level != until[0]:
            raise InputError(f"`until` must start at the engine's strength {level!r}, got {list(until)}.")
        reran = []

        def protect(i: int, level: str) -> np.ndarray:
            out, pre = outcomes[i], self.at_strength(level)
            job = pre.rejob(out.job)
            steps = _face_progress(progress, out.job.index, len(outcomes))
            with times("engine"):
                res = protect_job(pre.engine, job, _level_progress(steps, level), start=out.result.state)
            trace.merge(res.trace)
            out.job, out.result = job, res
            reran.append(i)
            return tensor_to_crop(res.pasted)

        found = escalate(until, [o.verdict for o in outcomes], crops, protect=protect, compose=compose,
                         look=lambda photo: self._write(photo, look, times), judge=judge)
        for out, esc in zip(outcomes, found, strict=True):
            out.escalation = esc
        return bool(reran)

    def _before(self, rgb, chosen, pair_photos: list[PairPhoto], times: StageTimes, trace: CostTrace
                ) -> Before | None:
        if self.judge is None:
            return None
        with times("judge"):
            # without references, held-out models embed the original later, batched with the protected face
            defer = () if pair_photos else [m.name for m in self.judge.models if m.name not in self.judge.surrogates]
            return self.judge.before(rgb, chosen, [(p.name, p.rgb, p.face) for p in pair_photos], trace, defer=defer)

    @staticmethod
    def _write(result: np.ndarray, write: Writer | None, times: StageTimes) -> np.ndarray:
        if write is None:
            return result
        with times("write"):
            return write(result)

    def _run_crop(self, rgb, pairs, seed, mask, write, progress, times, trace, until, look) -> PhotoResult:
        """An input that already is an aligned face crop: one job, no detection, no paste-back, no dlib-bin."""
        with times("align_mask"):
            job = self.preparer.crop_job(rgb, mask, [p for _, p in pairs], seed=seed, names=[n for n, _ in pairs],
                                         trace=trace)
        with times("engine"):
            res = self.engine.protect(job, progress)
        trace.merge(res.trace)
        crops = [tensor_to_crop(res.image)]
        result = self._write(crops[0], write, times)
        outcome = FaceOutcome(job, res)
        if self.judge is not None:
            with times("judge"):
                before = self.judge.before_crop(rgb, pairs, trace)
            self._judge_all(before, [outcome], result, times, trace)
            if until is not None and self._escalate([outcome], crops, until, lambda c: c[0],
                                                    self._judge_one(before, times, trace), look or write, times,
                                                    trace, progress):
                result = self._write(crops[0], write, times)
                self._judge_all(before, [outcome], result, times, trace)
        return PhotoResult(1, result, [outcome], trace, times)


def _level_progress(progress: ProgressCallback | None, level: str) -> ProgressCallback | None:
    if progress is None:
        return None
    return lambda stage, done, total: progress(f"{stage} at {level}", done, total)


def protect_job(engine: Engine, job: FaceJob, progress: ProgressCallback | None = None,
                start: Any = None) -> ProtectResult:
    """``engine.protect(job)``, except for a face whose every region is covered (`FaceJob.bare_regions`): nothing
    may be painted, so the crop comes back unchanged and the judges say it is not protected. ``start``: the state
    of this face's result at a lower level (`ProtectResult.state`)."""
    if job.bare_regions and float(job.mask.max()) <= 0.0:
        reasons = "; ".join(f"{r}: {why}" for r, why in job.bare_reasons().items())
        return ProtectResult(image=job.crop.clone(), details={"engine": engine.name, "skipped": reasons})
    return engine.protect(job, progress) if start is None else engine.protect(job, progress, start=start)


def _face_progress(progress: ProgressCallback | None, i: int, n: int) -> ProgressCallback | None:
    if progress is None:
        return None
    return lambda stage, done, total: progress(f"face {i + 1}/{n}: {stage}" if n > 1 else stage, done, total)
