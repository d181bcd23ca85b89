"""Face detection of the command's photo in a forked process, while the command itself imports torch and loads models.

Why: dlib's 68-landmark model takes 0.47 s to load and the HOG pass ~0.15 s, and dlib holds the GIL throughout, so a
thread cannot overlap them with the ~1.5 s of importing torch, kornia and the engine; a second process can (2 cores).
The child reads the photo exactly as the command does (`masque.io.read_image`), runs the same `detect`, and sends the
`Detection` back with a digest of the pixels it saw. The command uses it only when its own pixels have the same
digest; any failure in the child (bad photo, no fork, a crash) means the command detects itself, so errors and
results are what they would have been without prefetching. Only a command that protects one photo uses it
(`masque protect PHOTO`); batches and the web server keep their models loaded instead.
"""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

import numpy as np

WAIT_SECONDS = 120.0  # a child slower than this (a swapped-out machine) is abandoned and the command detects itself


def pixel_digest(rgb: np.ndarray) -> str:
    return hashlib.blake2b(np.ascontiguousarray(rgb).data, digest_size=16).hexdigest() + str(rgb.shape)


def _child(conn, photo: str, detector: str, max_pixels: int) -> None:
    try:
        from .faces.detect import detect
        from .io import read_image

        rgb = read_image(photo, max_pixels=max_pixels).rgb
        conn.send((pixel_digest(rgb), detect(rgb, detector=detector)))
    except BaseException:  # noqa: BLE001 - the parent repeats the work and reports the error itself
        conn.send(None)
    finally:
        conn.close()


class DetectionPrefetch:
    """``start(photo, detector)`` forks the detection; ``result(rgb)`` is its `Detection` for exactly these pixels,
    or None (then detect as usual)."""

    def __init__(self, process, conn):
        self._process, self._conn = process, conn
        self._got: tuple | None = None
        self._received = False

    def _receive(self, timeout: float) -> tuple | None:
        """The child's message when it came within ``timeout`` seconds (kept: it is sent once)."""
        if not self._received:
            try:
                if self._conn.poll(timeout):
                    self._got, self._received = self._conn.recv(), True
            except (EOFError, OSError):
                self._got, self._received = None, True
        return self._got

    def found_no_face(self, timeout: float) -> bool:
        """True when the child has finished within ``timeout`` seconds and found no face and nothing it was unsure
        of: the command can say so before it loads any model (a faceless photo fails in about a second)."""
        got = self._receive(timeout)
        return got is not None and not got[1].faces and not got[1].possibly_missed

    @classmethod
    def start(cls, photo: str | Path, detector: str, max_pixels: int) -> DetectionPrefetch | None:
        """None where fork is unavailable or unsafe (not Linux, or torch already imported: its threads do not
        survive a fork)."""
        if not sys.platform.startswith("linux") or "torch" in sys.modules or os.environ.get("MASQUE_NO_PREFETCH"):
            return None
        import multiprocessing

        ctx = multiprocessing.get_context("fork")
        parent, child = ctx.Pipe(duplex=False)
        process = ctx.Process(target=_child, args=(child, str(photo), detector, max_pixels), daemon=True)
        try:
            process.start()
        except OSError:
            return None
        child.close()
        return cls(process, parent)

    def result(self, rgb: np.ndarray):
        """The child's `Detection` when it saw the same pixels, else None; reaps the child either way."""
        try:
            got = self._receive(WAIT_SECONDS)
        finally:
            self.close()
        if got is None or got[0] != pixel_digest(rgb):
            return None
        return got[1]

    def close(self) -> None:
        self._conn.close()
        if self._process.is_alive():
            self._process.terminate()
        self._process.join(timeout=5)
