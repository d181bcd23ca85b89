"""One way to print verdicts (`masque protect`'s summary and `masque check`): one table per unit, so a column never
mixes cosine similarities with descriptor distances."""

from __future__ import annotations

from collections.abc import Sequence

STATUS_COLOURS = {"protected": "green", "not protected": "red", "partially protected": "yellow",
                  "unverified": "yellow"}


def _cell(row, value: float | None) -> str:
    if value is None:
        return "no face"
    colour = "red" if row.matches(value) else "green"
    return f"[{colour}]{value:.3f}[/{colour}]"


def print_verdicts(console, faces: Sequence, title: str) -> None:
    """Per face and judge: protected vs the original, vs each reference, and the reference's "before"."""
    from rich.table import Table

    references = list(dict.fromkeys(r for f in faces for r in f.references))
    for metric, unit in (("cosine", "cosine similarity, same person when >= threshold"),
                         ("l2", "dlib-bin descriptor distance, same person when < threshold")):
        rows = [(f, m) for f in faces for m in f.models if m.metric == metric]
        if not rows:
            continue
        console.print(f"{title}: {unit}", markup=False, highlight=False)  # a table title would wrap at its width
        table = Table()
        for name, justify in (("face", "left"), ("judge", "left"), ("role", "left"), ("threshold", "right"),
                              ("vs original", "right")):  # the protected face against ...
            table.add_column(name, justify=justify)
        for ref in references:
            table.add_column(f"vs {ref}", justify="right")
            table.add_column(f"{ref} before", justify="right")
        table.add_column("verdict")
        for f, m in rows:
            cells = []
            for ref in references:
                cells += ([_cell(m, m.vs_references[ref]), _cell(m, m.references_before[ref])]
                          if ref in m.vs_references else ["–", "–"])
            colour = STATUS_COLOURS[m.verdict]
            table.add_row(str(f.index), m.model, m.role, f"{m.threshold:.3f}", _cell(m, m.vs_original), *cells,
                          f"[{colour}]{m.verdict}[/{colour}]")
        console.print(table)
    for f in faces:
        for w in f.warnings:
            console.print(f"[yellow]Warning (face {f.index}): {w}[/]")
