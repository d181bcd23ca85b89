"""The batch side of `masque protect`: which photos (arguments, MASQUE's ``--ref_map_json`` layout or a folder),
where they go, progress per finished photo, and the closing summary. The work itself is `masque.batch`.

Exit codes of a batch: 0 every photo done or skipped (already finished, or no face), 1 some photo failed (listed in
the summary; a re-run retries only those), 2 a bad argument before any work, 3 (``--require-protected``) some face is
still recognised, 4 (``--require-protected``) none is but some face is unverified, 130 interrupted (Ctrl-C; a re-run
finishes the rest). The summary counts faces protected / not protected / unverified and photos with no face, over the
photos done now and those finished earlier, and names every face that is not protected.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Sequence
from pathlib import Path

from ..errors import InputError


def batch_inputs(photos: Sequence[Path], *, ref_map: Path | None, images_dir: Path | None,
                 ref_base_dir: Path | None, img_ext: str | None,
                 ) -> tuple[list[Path], dict[Path, tuple[Path, ...]] | None]:
    """Photos to protect and, for a ref map, each photo's pair photos (its identity's references).

    ``--ref-map`` reads the layout through the evaluation's one parser (`evaluation.datasets.load_ref_map`);
    ``--images-dir`` alone takes every ``*IMG_EXT`` image of the folder.
    """
    if ref_map is not None:
        if photos:
            raise InputError("`PHOTO` arguments and `--ref-map` exclude each other: the map lists the photos.")
        from ..evaluation.datasets import load_ref_map

        data = load_ref_map(ref_map, images_dir, ref_base_dir, img_ext)
        return [it.source for it in data.items], {it.source: it.references for it in data.items}
    if ref_base_dir is not None:
        raise InputError("`--ref-base-dir` needs `--ref-map` (it is where the map's reference images live).")
    if images_dir is not None:
        if photos:
            raise InputError("`PHOTO` arguments and `--images-dir` exclude each other; give one of them.")
        if not images_dir.is_dir():
            raise InputError(f"`--images-dir` {str(images_dir)!r} is not a folder.")
        from ..evaluation.datasets import IMAGE_SUFFIXES

        exts = {_dotted(img_ext)} if img_ext else set(IMAGE_SUFFIXES)
        found = sorted(p for p in images_dir.iterdir() if p.is_file() and p.suffix.lower() in exts
                       and ".protected." not in p.name)
        if not found:
            raise InputError(f"`--images-dir` {str(images_dir)!r} holds no {' / '.join(sorted(exts))} images.")
        return found, None
    if img_ext is not None:
        raise InputError("`--img-ext` applies to `--images-dir` or `--ref-map` batches only.")
    return list(photos), None


def _dotted(ext: str) -> str:
    return (ext if ext.startswith(".") else "." + ext).lower()


def output_folder(photos: Sequence[Path], out: Path | None) -> Path:
    """``--out`` (created if missing), else the photos' common folder (the manifest lives there)."""
    if out is not None:
        if out.exists() and not out.is_dir():
            raise InputError(f"`--out` must be a folder when protecting several photos; {str(out)!r} is a file.")
        out.mkdir(parents=True, exist_ok=True)
        return out
    parents = {p.resolve().parent for p in photos}
    if len(parents) != 1:
        raise InputError(f"the photos come from {len(parents)} folders; pass `--out DIR` for the batch's outputs.")
    return parents.pop()


def run_batch(spec, photos: list[Path], pairs: Sequence[Path], pairs_of, out: Path | None, *, executor: str,
              address: str | None, workers: int | None, skip_existing: bool, overwrite: bool, quiet: bool,
              require_protected: bool = False) -> int:
    """Run the batch and print its summary; returns the exit code (see the module docstring)."""
    from rich.console import Console

    from ..batch import plan_units, run_protect_batch
    from ..executors import create_executor

    err = Console(stderr=True)
    folder = output_folder(photos, out)
    units = plan_units(photos, pairs, pairs_of)
    runner = create_executor(executor, address=address, workers=workers)
    progress = _Progress(len(units), quiet)
    summary = None
    try:
        with progress, _CtrlC() as ctrl_c:
            def advance(key: str, status: str, why: str | None) -> None:
                progress.advance(key, status, why)
                ctrl_c.check()

            summary = run_protect_batch(spec, units, folder, executor=runner, skip_existing=skip_existing,
                                        overwrite=overwrite, on_outcome=advance)
    except KeyboardInterrupt:
        err.print(f"Interrupted after {progress.count} of {len(units)} photo(s); run the same command again to "
                  "finish the rest.")
        return 130
    finally:
        runner.close()
    for line in summary.lines(finished=not quiet):
        err.print(line, markup=False, highlight=False, soft_wrap=True)
    return summary.exit_status(require_protected)


class _CtrlC:
    """Ctrl-C stops the batch even when its KeyboardInterrupt is lost inside a photo: Python delivers it wherever
    the interpreter happens to be, and one raised inside a finaliser (``__del__``, a weakref or GC callback) is
    printed and dropped. The press is remembered, and ``check()`` (after each photo is recorded) raises it again."""

    def __enter__(self):
        self.pressed, self._previous = False, None
        if threading.current_thread() is threading.main_thread():  # signal handlers live in the main thread only
            self._previous = signal.signal(signal.SIGINT, self._press)
        return self

    def _press(self, signum, frame):
        self.pressed = True
        raise KeyboardInterrupt

    def check(self) -> None:
        if self.pressed:
            raise KeyboardInterrupt

    def __exit__(self, *exc):
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)


class _Progress:
    """Photos finished / total, advanced as units complete (in any order, from any worker)."""

    def __init__(self, total: int, quiet: bool):
        self.total, self.quiet, self.count = total, quiet, 0

    def __enter__(self):
        if not self.quiet:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self._bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), transient=True, console=Console(stderr=True))
            self._bar.__enter__()
            self._task = self._bar.add_task("photos", total=self.total)
        return self

    def advance(self, key: str, status: str, why: str | None) -> None:
        """One line per photo (kept above the bar): ``a.protected.jpg: done, 1 face: 1 not protected``; photos
        finished by an earlier run only move the bar."""
        self.count += 1
        if not self.quiet:
            self._bar.update(self._task, advance=1, description=f"photos ({key}: {status})")
            from ..batch import FINISHED

            if not (why or "").startswith(FINISHED):
                self._bar.console.print(f"{key}: {status}" + (f", {why}" if why else ""), markup=False,
                                        highlight=False, soft_wrap=True)

    def __exit__(self, *exc):
        if not self.quiet:
            self._bar.__exit__(*exc)
        return False
