"""A manifest per batch output folder: what is finished, with which settings, and the checksum of what was written.

Batches (`masque protect DIR/* --out OUT`, `masque evaluate`) append one JSON line per finished unit to
``OUT/masque-manifest.jsonl``: the unit's key, the hash of the settings it was made with, its seed, the files it
wrote with their sha256, and its verdicts. A re-run with the same settings skips a unit only when its record exists
*and* its files still hash to the recorded checksums (a deleted or corrupted output is redone); a re-run with other
settings is refused rather than mixing old and new outputs in one folder.

Why JSON lines: each record is one ``write`` of one line, so a run killed at any point leaves every earlier record
intact; a torn last line (killed mid-write) is ignored when reading. Only the driver process writes the manifest, and
an advisory lock (`fcntl.flock`) keeps two batches from writing into one folder at once.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, is_dataclass
from pathlib import Path

from .atomic import TEMP_SUFFIX, write_atomic
from .errors import InputError

MANIFEST_NAME = "masque-manifest.jsonl"


def _canonical(obj):
    """JSON-able, order-independent form of settings (dataclasses, paths, tuples, numpy scalars)."""
    if is_dataclass(obj) and not isinstance(obj, type):
        return _canonical(asdict(obj))
    if isinstance(obj, Mapping):
        return {str(k): _canonical(v) for k, v in sorted(obj.items(), key=lambda kv: str(kv[0]))}
    if isinstance(obj, list | tuple):
        return [_canonical(v) for v in obj]
    if obj is None or isinstance(obj, bool | int | float | str):
        return obj
    if hasattr(obj, "item"):  # numpy / torch scalar
        return obj.item()
    return str(obj)


def settings_hash(settings) -> str:
    """A short, stable hash of what outputs depend on (same settings -> same hash, on any machine)."""
    text = json.dumps(_canonical(settings), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass
class Record:
    """One finished unit, as one manifest line."""

    key: str
    settings_hash: str
    seed: int | None
    files: dict[str, str]  # path relative to the folder -> sha256 of its bytes
    status: str = "done"  # "done" (outputs written) or "skipped" (e.g. no face: nothing to write, nothing to redo)
    verdicts: dict = field(default_factory=dict)
    reason: str | None = None
    inputs: str | None = None  # checksum of the unit's input files, when the unit has any
    counts: dict = field(default_factory=dict)  # protect batches: faces, protected, not_protected, unverified
    time: str = ""

    def to_line(self) -> str:
        return json.dumps(_canonical(asdict(self)), separators=(",", ":")) + "\n"


class Manifest:
    """The records of one output folder; ``open()`` takes the folder's lock for the life of the batch."""

    def __init__(self, folder: str | Path, name: str = MANIFEST_NAME):
        self.folder = Path(folder)
        self.path = self.folder / name
        self.records: dict[str, Record] = {}  # key -> latest record
        self._fh = None

    # -- life cycle ---------------------------------------------------------------------------------------------
    def open(self) -> Manifest:
        import fcntl

        self.folder.mkdir(parents=True, exist_ok=True)
        self._fh = open(self.path, "a+b")  # noqa: SIM115 - held open (and locked) until close()
        try:
            fcntl.flock(self._fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._fh.close()
            self._fh = None
            raise InputError(field="out", value=self.folder, rule=f"{str(self.folder)!r} is in use by another masque "
                             f"batch (lock on {self.path.name})", hint="wait for it to finish or choose another "
                             "folder") from None
        self._read()
        self._remove_stale_temporaries()
        return self

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()  # releases the lock
            self._fh = None

    def __enter__(self) -> Manifest:
        return self.open()

    def __exit__(self, *exc) -> None:
        self.close()

    def _read(self) -> None:
        self._fh.seek(0)
        for raw in self._fh.read().decode(errors="replace").splitlines():
            try:
                rec = Record(**json.loads(raw))
            except (ValueError, TypeError):
                continue  # a line torn by a kill mid-write: that unit simply counts as not finished
            self.records[rec.key] = rec

    def _remove_stale_temporaries(self) -> None:
        """Temporary files left by a killed run (never visible under an output's name); safe: we hold the lock."""
        for tmp in self.folder.rglob(f".*{TEMP_SUFFIX}"):
            tmp.unlink(missing_ok=True)

    # -- queries ------------------------------------------------------------------------------------------------
    def other_settings(self, current: set[str], prefix: str = "") -> list[Record]:
        """Records (of keys starting with ``prefix``) made with settings other than ``current`` (hashes): outputs a
        re-run must not mix with."""
        return [r for r in self.records.values() if r.key.startswith(prefix) and r.settings_hash not in current]

    def finished(self, key: str, digest: str, inputs: str | None = None) -> Record | None:
        """The record of ``key`` if it was made with ``digest`` (from ``inputs``) and every file it lists still has
        its recorded checksum."""
        rec = self.records.get(key)
        if rec is None or rec.settings_hash != digest or rec.inputs != inputs:
            return None
        for rel, sha in rec.files.items():
            path = self.folder / rel
            if not path.is_file() or sha256_bytes(path.read_bytes()) != sha:
                return None
        return rec

    # -- writes -------------------------------------------------------------------------------------------------
    def append(self, record: Record) -> None:
        """Append one line in a single write and fsync it (a torn earlier line gets its own line back first)."""
        if self._fh is None:
            raise RuntimeError("Manifest.append() needs open() first")
        record.time = record.time or time.strftime("%Y-%m-%dT%H:%M:%S%z")
        line = record.to_line().encode()
        self._fh.seek(0, os.SEEK_END)
        if self._fh.tell() > 0:
            self._fh.seek(-1, os.SEEK_END)
            if self._fh.read(1) != b"\n":
                line = b"\n" + line
        os.write(self._fh.fileno(), line)  # O_APPEND: lands at the end in one write
        os.fsync(self._fh.fileno())
        self.records[record.key] = record

    def write_files(self, files: Mapping[str, bytes]) -> dict[str, str]:
        """Write each ``relative path -> bytes`` atomically, in the given order; returns their checksums."""
        sums = {}
        for rel, data in files.items():
            path = self.folder / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(path, data)
            sums[rel] = sha256_bytes(data)
        return sums


def refuse_mixed_settings(manifest: Manifest, current: set[str], remedy: str, prefix: str = "") -> None:
    """One-line refusal when the folder already holds outputs made with other settings."""
    other = manifest.other_settings(current, prefix)
    if other:
        hashes = sorted({r.settings_hash for r in other})
        what = f"{prefix.rstrip('/')} " if prefix else ""
        raise InputError(field="out", value=manifest.folder, rule=f"{str(manifest.folder)!r} holds {len(other)} "
                         f"{what}output(s) made with other settings (settings hash {', '.join(hashes)} != "
                         f"{', '.join(sorted(current))}, see {manifest.path.name})", hint={"cli": remedy})
