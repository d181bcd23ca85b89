"""Consoles and progress for terminals *and* pipes, logs and CI (issue 21, item 7).

Rich sizes a console that is not a terminal at 80 columns, so a verdict table in a log loses its cells ("surroga…",
"not protect…"), and its live progress bar prints nothing, so a piped run is silent for the 20-40 s the engine works.
Off a terminal `console` is wide enough for any table (rich never pads lines to the width), and `FaceProgress`
prints a plain line at each quarter of a stage instead of a bar.
"""

from __future__ import annotations

from collections.abc import Callable

WIDE = 1000  # columns of a console that is not a terminal: no table here is wider, and lines are not padded to it


def console(stderr: bool = False):
    """A rich console; off a terminal it is `WIDE` so that nothing is cut or wrapped mid-cell."""
    from rich.console import Console

    out = Console(stderr=stderr)
    return out if out.is_terminal else Console(stderr=stderr, width=WIDE)


class FaceProgress:
    """The engine's ``progress(stage, done, total)`` as a rich bar on a terminal, else plain lines such as
    ``face 1/2: parametric step 10/20`` at each quarter of a stage; nothing when ``quiet``."""

    def __init__(self, out, quiet: bool):
        self.out, self.quiet = out, quiet
        self._bar = None

    def __enter__(self) -> Callable[[str, int, int], None] | None:
        if self.quiet:
            return None
        if not self.out.is_terminal:
            return self._plain
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self._bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                             TimeElapsedColumn(), transient=True, console=self.out)
        self._bar.__enter__()
        tasks: dict[str, int] = {}

        def update(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = self._bar.add_task(stage, total=total)
            self._bar.update(tasks[stage], completed=done, total=total)

        return update

    def _plain(self, stage: str, done: int, total: int) -> None:
        quarter = max(total // 4, 1)
        if done == total or done % quarter == 0:
            self.out.print(f"{stage} step {done}/{total}", markup=False, highlight=False)

    def __exit__(self, *exc):
        if self._bar is not None:
            self._bar.__exit__(*exc)
        return False
