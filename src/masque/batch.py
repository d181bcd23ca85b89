"""`masque protect` on many photos: resumable (manifest), on any executor (local or Ray), outputs written by the driver.

Steps of `run_protect_batch`: 1. lock the output folder's manifest and refuse other settings  2. plan: skip what
the manifest (or an unrecorded but complete output of these settings) says is finished, refuse to replace files this
batch did not make  3. stream the rest through the executor's workers  4. as each unit returns: write its sidecar,
then its photo (both atomic), then its manifest line — so a kill at any moment leaves either a finished unit or
nothing under an output's name, and a re-run redoes exactly the missing units.

A worker (`ProtectWorker`) holds one loaded `api.Protector`; it receives the photo's and pair photos' *bytes*, so
it can run on any node of a cluster, and returns the written file's bytes plus its sidecar for the driver to store.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .devices import default_device
from .engines.catalog import needs_gpu
from .errors import InputError, MasqueError
from .executors import Executor, LocalExecutor, Outcome, Resources
from .manifest import Manifest, Record, refuse_mixed_settings, settings_hash, sha256_bytes
from .pipeline.verdict import PROTECTED, status_counts, status_exit_code

if TYPE_CHECKING:
    from .api import ProtectReport
    from .run_config import ProtectConfig

FINISHED = "finished earlier"


@dataclass(frozen=True)
class ProtectSpec:
    """Everything a worker needs to build its `api.Protector`; hashed (without ``device``) into the manifest."""

    protector: dict  # keyword arguments of `api.Protector` except ``device``
    device: str | None = None  # None: each worker picks cuda when it has one, else cpu
    mask: np.ndarray | None = None  # region mask for every photo (``--mask``), values in [0, 1]
    aligned: bool = False
    # the same run as a `ProtectConfig` (the CLI's): workers build from it, so each sidecar stores it; not hashed
    # (``protector`` says the same, and the manifests of earlier batches keep their settings hash)
    config: ProtectConfig | None = None

    def digest(self) -> str:
        mask = None if self.mask is None else sha256_bytes(np.ascontiguousarray(self.mask, np.float32).tobytes())
        return settings_hash({"protector": self.protector, "mask": mask, "aligned": self.aligned})

    def resources(self) -> Resources:
        """An engine whose catalog entry asks a GPU gets one (unless told to run on the CPU); others one CPU."""
        gpu = needs_gpu(self.protector.get("engine", ""), self.device)
        return Resources(num_cpus=1.0, num_gpus=1.0 if gpu else 0.0)


@dataclass(frozen=True)
class PhotoUnit:
    """One photo of the batch: where it comes from, its pair photos and the output name (its manifest key)."""

    photo: Path
    out_name: str
    pairs: tuple[Path, ...] = ()

    @property
    def key(self) -> str:
        return self.out_name

    def inputs_digest(self) -> str:
        """Checksum of the photo and its pairs: a replaced input under the same name is protected again."""
        return settings_hash([sha256_bytes(p.read_bytes()) for p in (self.photo, *self.pairs)])


@dataclass(frozen=True)
class PhotoJob:
    """What travels to a worker: the unit plus the bytes of its files."""

    unit: PhotoUnit
    photo: bytes
    pairs: tuple[bytes, ...]


@dataclass
class WrittenUnit:
    """A worker's answer for one unit: the protected photo's bytes as written and its report (the driver stores
    both under the user's names)."""

    image: bytes  # the protected photo as written by `api.Protector.protect_photo`
    report: ProtectReport
    verdicts: list[dict]  # per face: status and the judges that still match it


class ProtectWorker:
    """One loaded `api.Protector`, called once per photo (built once per process or Ray actor)."""

    def __init__(self, spec: ProtectSpec):
        from .api import Protector

        device = default_device(spec.device)
        self.spec = spec
        if spec.config is not None:
            self.protector = Protector.from_config(spec.config, device=device)
            return
        options = dict(spec.protector.get("engine_options") or {})
        if "device" in options:
            options["device"] = device
        self.protector = Protector(**{**spec.protector, "engine_options": options}, device=device)

    def __call__(self, job: PhotoJob) -> WrittenUnit:
        # the worker's own scratch folder: the same file names as the driver's, so the sidecar reads the same
        with tempfile.TemporaryDirectory(prefix="masque-unit-") as tmp:
            tmp = Path(tmp)
            photo = tmp / job.unit.photo.name
            photo.write_bytes(job.photo)
            pairs = []
            for i, (path, data) in enumerate(zip(job.unit.pairs, job.pairs, strict=True)):
                pairs.append(tmp / "pairs" / str(i) / path.name)  # one folder each: equal names may not collide
                pairs[-1].parent.mkdir(parents=True)
                pairs[-1].write_bytes(data)
            out = tmp / "out" / job.unit.out_name
            out.parent.mkdir()
            try:
                report = self.protector.protect_photo(photo, out=out, pair=pairs, mask=self.spec.mask,
                                                      aligned=self.spec.aligned)
            except MasqueError as exc:  # name the user's files, not the scratch copies
                text = str(exc)
                for scratch, real in ((photo, job.unit.photo), *zip(pairs, job.unit.pairs, strict=True)):
                    text = text.replace(str(scratch), str(real))
                raise type(exc)(text) from exc
            return WrittenUnit(out.read_bytes(), report, [_verdict(f) for f in report.faces])


def _verdict(face) -> dict:
    """The face's status under the judges' rule, who still matches it and, when the run escalated, the strength it
    reached (the manifest's verdict)."""
    verdict, esc = face.verdict, face.escalation
    out = {"status": face.status, "still_matched_by": list(verdict.still_matched_by) if verdict else []}
    if esc is not None:
        out.update(strength_reached=esc.strength_reached, cap_reached=esc.cap_reached)
    return out


def face_counts(verdicts: Sequence[dict]) -> dict[str, int]:
    """A photo's faces and how many are protected / not protected / unverified (manifest line, progress line)."""
    return {"faces": len(verdicts), **status_counts(v.get("status") for v in verdicts)}


def counts_text(counts: dict[str, int]) -> str:
    """``2 faces: 1 protected, 1 not protected`` (zero counts left out; ``no face`` for none)."""
    n = counts.get("faces", 0)
    if not n:
        return "no face"
    parts = [f"{counts[k]} {k.replace('_', ' ')}" for k in ("protected", "not_protected", "unverified") if counts[k]]
    return f"{n} face{'s' if n > 1 else ''}: {', '.join(parts)}"


@dataclass
class BatchSummary:
    """What a batch did, for the closing summary and the exit code (`exit_status`)."""

    total: int = 0
    done: list[str] = field(default_factory=list)  # output names written
    skipped: list[tuple[Path, str]] = field(default_factory=list)  # (input photo, why)
    failed: list[tuple[Path, str]] = field(default_factory=list)  # (input photo, why)
    manifest: Path | None = None
    faces: dict[str, list[dict]] = field(default_factory=dict)  # output name -> each face's verdict (`_verdict`)
    no_face: list[Path] = field(default_factory=list)  # photos without a face (this run or recorded earlier)

    @property
    def exit_code(self) -> int:
        return self.exit_status()

    def exit_status(self, require_protected: bool = False) -> int:
        """1 some unit failed; else with ``require_protected`` `status_exit_code` over every face of the batch
        (3 some face still recognised, 4 none recognised but some unverified); else 0."""
        if self.failed:
            return 1
        statuses = [v.get("status") for faces in self.faces.values() for v in faces]
        return status_exit_code(statuses) if require_protected and statuses else 0

    def counts(self) -> dict[str, int]:
        every = [v for faces in self.faces.values() for v in faces]
        return {**face_counts(every), "no_face": len(self.no_face)}

    def lines(self, finished: bool = True) -> list[str]:
        """The summary; ``finished=False`` leaves out the photos skipped because they were finished earlier."""
        head = (f"Batch: {len(self.done)} done, {len(self.skipped)} skipped, {len(self.failed)} failed"
                f" of {self.total}" + (f" (manifest: {self.manifest})" if self.manifest else ""))
        c = self.counts()
        faces = (f"Faces: {c['protected']} protected, {c['not_protected']} not protected, {c['unverified']} "
                 f"unverified; {c['no_face']} photo{'' if c['no_face'] == 1 else 's'} with no face")
        weak = []
        for key, verdicts in self.faces.items():
            for i, v in enumerate(verdicts):
                if v.get("status") == PROTECTED:
                    continue
                who = v.get("still_matched_by") or []
                level = (f"; strength {v['strength_reached']}" + (", the cap" if v.get("cap_reached") else "")
                         if v.get("strength_reached") else "")
                weak.append(f"  {'Unverified' if not who else 'Not protected'} {key} face {i}"
                            + (f": still matched by {', '.join(who)}" if who else "") + level)
        return [head, faces, *weak, *(f"  Skipped {k}: {why}" for k, why in self.skipped
                                      if finished or not why.startswith(FINISHED)),
                *(f"  Failed {k}: {why}" for k, why in self.failed)]


def plan_units(photos: Sequence[Path], pairs: Sequence[Path] = (), pairs_of: dict[Path, Sequence[Path]] | None = None,
               ) -> list[PhotoUnit]:
    """One unit per photo, output named like a single run's (``NAME.protected.EXT``); names must not collide."""
    from .api import default_output_path

    units, seen = [], {}
    for photo in photos:
        name = default_output_path(photo).name
        if name in seen:
            raise InputError(f"`PHOTO`: {str(seen[name])!r} and {str(photo)!r} would both be written as {name!r} in "
                             "the output folder; rename one or protect them in separate batches.")
        seen[name] = photo
        mine = tuple((pairs_of or {}).get(photo, pairs))
        units.append(PhotoUnit(Path(photo), name, mine))
    return units


def _sidecar_name(out_name: str) -> str:
    from .api import sidecar_path

    return sidecar_path(Path(out_name)).name


def _adoptable(man: Manifest, unit: PhotoUnit, digest: str, inputs: str) -> Record | None:
    """A complete output of these settings whose manifest line was lost (killed between write and record)."""
    photo, side = man.folder / unit.out_name, man.folder / _sidecar_name(unit.out_name)
    rec = man.records.get(unit.key)
    if rec is not None and rec.settings_hash == digest and rec.inputs == inputs:
        return None  # recorded with other checksums: the files changed since (corrupt), redo
    if not (photo.is_file() and side.is_file()):
        return None
    try:
        batch = json.loads(side.read_text()).get("batch") or {}
    except (ValueError, OSError):
        return None
    if batch.get("settings_hash") != digest or batch.get("inputs") != inputs:
        return None
    files = {p.name: sha256_bytes(p.read_bytes()) for p in (side, photo)}
    verdicts = batch.get("verdicts", {})
    return Record(unit.key, digest, batch.get("seed"), files, inputs=inputs, verdicts=verdicts,
                  counts=face_counts(list(verdicts.values())))


def _ours(man: Manifest, unit: PhotoUnit, digest: str) -> bool:
    """Are the files under this unit's names (if any) leftovers of this batch (so they may be replaced)?"""
    photo, side = man.folder / unit.out_name, man.folder / _sidecar_name(unit.out_name)
    if not photo.exists() and not side.exists():
        return True
    rec = man.records.get(unit.key)
    if rec is not None and rec.settings_hash == digest:
        return True  # recorded by this batch, now missing or corrupt
    if photo.exists() and not side.exists():
        return False
    try:
        return (json.loads(side.read_text()).get("batch") or {}).get("settings_hash") == digest
    except (ValueError, OSError):
        return False


def _jobs(units: Sequence[PhotoUnit]) -> Iterator[PhotoJob]:
    """Read each unit's files only when it is submitted (memory stays bounded on large batches)."""
    for unit in units:
        yield PhotoJob(unit, unit.photo.read_bytes(), tuple(p.read_bytes() for p in unit.pairs))


def run_protect_batch(spec: ProtectSpec, units: Sequence[PhotoUnit], out_dir: str | Path, *,
                      executor: Executor | None = None, skip_existing: bool = True, overwrite: bool = False,
                      on_outcome: Callable[[str, str, str | None], None] | None = None) -> BatchSummary:
    """Protect every unit into ``out_dir``; see the module docstring for the order of writes."""
    executor = executor or LocalExecutor()
    digest = spec.digest()
    seed = spec.protector.get("seed")
    summary = BatchSummary(total=len(units))

    def note(unit: PhotoUnit, status: str, why: str | None = None, record: Record | None = None) -> None:
        """Count the unit; ``record``: its manifest line (this run's or an earlier one) with the faces' verdicts."""
        {"done": lambda: summary.done.append(unit.key), "skipped": lambda: summary.skipped.append((unit.photo, why)),
         "failed": lambda: summary.failed.append((unit.photo, why))}[status]()
        if record is not None and record.status == "skipped":
            summary.no_face.append(unit.photo)
        elif record is not None:
            summary.faces[unit.key] = [record.verdicts[k] for k in sorted(record.verdicts, key=int)]
            if status == "done":
                why = counts_text(face_counts(summary.faces[unit.key]))
        if on_outcome is not None:
            on_outcome(unit.key, status, why)

    with Manifest(out_dir) as man:
        summary.manifest = man.path
        # 1. never mix settings in one folder
        if not overwrite:
            refuse_mixed_settings(man, {digest}, "choose a new `--out` folder, or pass `--overwrite` to redo every "
                                                 "photo with the new settings.")
        # 2. plan
        todo, inputs = [], {}
        for unit in units:
            inputs[unit.key] = unit.inputs_digest()
            rec = man.records.get(unit.key)
            if skip_existing and not overwrite and man.finished(unit.key, digest, inputs[unit.key]):
                note(unit, "skipped", FINISHED + (f" ({rec.reason})" if rec.reason else ""), rec)
                continue
            adopted = _adoptable(man, unit, digest, inputs[unit.key]) if skip_existing and not overwrite else None
            if adopted is not None:
                man.append(adopted)
                note(unit, "skipped", f"{FINISHED} (record restored)", adopted)
                continue
            if not overwrite and not _ours(man, unit, digest):
                note(unit, "failed", f"{unit.out_name!r} already exists and was not made by this batch; pass "
                                         "`--overwrite` or choose another `--out` folder.")
                continue
            todo.append(unit)
        # 3-4. run, and store each result as it arrives
        if not todo:
            return summary
        pool = executor.pool(partial(ProtectWorker, spec), spec.resources())
        try:
            for job, outcome in pool.map(_jobs(todo)):
                record = _store(man, job.unit, outcome, digest, seed, inputs[job.unit.key])
                note(job.unit, outcome.status, outcome.reason, record)
        finally:
            close = getattr(pool, "close", None)
            if close is not None:
                close()
    return summary


def _store(man: Manifest, unit: PhotoUnit, outcome: Outcome, digest: str, seed: int | None, inputs: str
           ) -> Record | None:
    """Write a finished unit's files and its manifest line (returned; None for a failed unit)."""
    if outcome.status == "failed":
        return None  # not recorded: a re-run tries it again
    if outcome.status == "skipped":  # no face: nothing to write, and nothing to redo with the same inputs
        record = Record(unit.key, digest, seed, {}, status="skipped", reason=outcome.reason, inputs=inputs,
                        counts=face_counts([]))
        man.append(record)
        return record
    res: WrittenUnit = outcome.value
    verdicts = {str(i): v for i, v in enumerate(res.verdicts)}
    out = man.folder / unit.out_name
    report = replace(res.report, input=unit.photo, output=out, sidecar=man.folder / _sidecar_name(unit.out_name),
                     pairs=list(unit.pairs),
                     batch={"settings_hash": digest, "inputs": inputs, "seed": seed, "verdicts": verdicts})
    sidecar = report.to_json().encode()
    # sidecar first: a photo under its name is then always complete *and* described
    files = man.write_files({_sidecar_name(unit.out_name): sidecar, unit.out_name: res.image})
    record = Record(unit.key, digest, seed, files, inputs=inputs, verdicts=verdicts, counts=face_counts(res.verdicts))
    man.append(record)
    return record
