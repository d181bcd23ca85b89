"""What a running request is doing, for the page to show while it waits (the page polls ``/api/progress``).

The page makes a random job id, sends it with the photo and asks for that id's state every half second; the server
records the stage (waiting, loading, finding faces, optimising face i of n step k of K, checking) as the engine's
progress callback reports it. States are forgotten when the request ends.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import asdict, dataclass

JOB_ID = re.compile(r"[A-Za-z0-9-]{8,64}")
FACE_STAGE = re.compile(r"face (\d+)/(\d+): (.*)")


@dataclass
class JobState:
    message: str
    done: int = 0
    total: int = 0
    since: float = 0.0

    def to_dict(self) -> dict:
        return {**asdict(self), "seconds": round(time.monotonic() - self.since, 1)}


class ProgressBoard:
    """Job id → its latest state; thread-safe (requests run in their own threads)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jobs: dict[str, JobState] = {}

    def set(self, job: str | None, message: str, done: int = 0, total: int = 0) -> None:
        if not job:
            return
        with self._lock:
            since = self._jobs[job].since if job in self._jobs else time.monotonic()
            self._jobs[job] = JobState(message, done, total, since)

    def get(self, job: str) -> dict | None:
        with self._lock:
            state = self._jobs.get(job)
            return state.to_dict() if state is not None else None

    def forget(self, job: str | None) -> None:
        with self._lock:
            self._jobs.pop(job or "", None)

    def engine_callback(self, job: str | None):
        """An engine ``progress(stage, done, total)`` callback that words the stage for a person."""
        def report(stage: str, done: int, total: int) -> None:
            m = FACE_STAGE.fullmatch(stage)
            face = f"face {m.group(1)} of {m.group(2)}" if m else "the face"
            what = "Optimising the makeup" if done < total else "Pasting back, saving and checking the result"
            self.set(job, f"{what} ({face}: step {done} of {total})" if done < total else what, done, total)
        return report
