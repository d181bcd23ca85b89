"""What a running request is doing, for the page to show while it waits (the page polls ``/api/progress``).

The page makes a random job id, sends it with the photo and asks for that id's state every half second; the server
records the stage (waiting, loading, finding faces, optimising face i of n step k of K, checking) as the engine's
progress callback reports it. States are forgotten when the request ends.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass

JOB_ID = re.compile(r"[A-Za-z0-9-]{8,64}")
# the pipeline's stage names: "parametric", "face 2/3: parametric", "face 2/3: parametric at bold" (an escalation step)
STAGE = re.compile(r"(?:face (\d+)/(\d+): )?(.*?)(?: at (\w+))?")


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

    def engine_callback(self, job: str | None, levels: Sequence[str] | None = None, strength: str | None = None):
        """An engine ``progress(stage, done, total)`` callback that words the stage for a person: the strength being
        tried (``levels``: the escalation's ladder, start first; None without escalation, when ``strength`` is the
        one level), the step, and an estimate of the time left from the steps' pace so far (`LevelClock`)."""
        clock = LevelClock(tuple(levels or ()))

        def report(stage: str, done: int, total: int) -> None:
            m = STAGE.fullmatch(stage)
            face = f"face {m.group(1)} of {m.group(2)}" if m and m.group(1) else ""
            level = (m.group(4) if m else None) or (levels[0] if levels else strength)
            where = ", ".join(x for x in (clock.position(level), face) if x)
            where = f" ({where})" if where else ""
            if done >= total:
                self.set(job, f"{clock.doing(level)}: pasting back, saving and checking the result{where}",
                         done, total)
                return
            left = clock.left(level, face, done, total)
            self.set(job, f"{clock.doing(level)}: step {done} of {total}{where}{left}", done, total)
        return report


class LevelClock:
    """Times one face's steps at one level and words what is left: this level from its own pace, the stronger levels
    still on the ladder from the measured frontier's seconds per face relative to this level's
    (`masque.makeup.expected`; an estimate, said as one)."""

    def __init__(self, levels: tuple[str, ...]):
        self.levels = levels
        self._key: tuple | None = None
        self._start = (0.0, 0)

    def doing(self, level: str | None) -> str:
        if not self.levels:
            return f"Optimising the makeup at {level}" if level else "Optimising the makeup"
        return f"Trying {level}"

    def position(self, level: str | None) -> str:
        if len(self.levels) < 2 or level not in self.levels:
            return ""
        return f"level {self.levels.index(level) + 1} of {len(self.levels)}"

    def left(self, level: str | None, face: str, done: int, total: int) -> str:
        now = time.monotonic()
        if self._key != (level, face):  # a new face or level: its own pace
            self._key, self._start = (level, face), (now, done)
        t0, d0 = self._start
        if done - d0 < 2:
            return ""
        per_step = (now - t0) / (done - d0)
        here = (total - done) * per_step
        text = f" · about {_seconds(here)} left at {level}" if level else f" · about {_seconds(here)} left"
        later = self.levels[self.levels.index(level) + 1:] if level in self.levels else ()
        more = _later_seconds(level, later, total * per_step)
        if later and more:
            verb = "is" if len(later) == 1 else "are"
            text += f"; up to ~{_seconds(more)} more if {' and '.join(later)} {verb} needed"
        return text


def _later_seconds(level: str | None, later: Sequence[str], this_level: float) -> float | None:
    """The stronger levels' time, scaled from this level's by their measured seconds per face."""
    from ..makeup.expected import measured_row

    here = measured_row(level) if level else None
    rows = [measured_row(x) for x in later]
    if here is None or any(r is None for r in rows) or here.seconds_per_face <= 0:
        return None
    return sum(this_level * r.seconds_per_face / here.seconds_per_face for r in rows)


def _seconds(s: float) -> str:
    return f"{s:.0f} s" if s < 90 else f"{s / 60:.0f} min"
