"""`masque check ORIGINAL PROTECTED`: offline self-check of a protection on the FR models available here."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

OriginalArg = Annotated[Path, typer.Argument(help="The unprotected photo (or aligned crop with --aligned).")]
ProtectedArg = Annotated[Path, typer.Argument(help="The protected photo to check.")]


def check(
    original: OriginalArg,
    protected: ProtectedArg,
    reference: Annotated[list[Path] | None, typer.Option(
        "--reference", "-r", help="Another photo of the same person (repeatable): the protected face must not "
                                  "match it either.")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print machine-readable JSON instead of a table.")] = False,
    models: Annotated[str | None, typer.Option(
        help="Comma-separated FR models (default: every registered model whose weights are present; dlib always "
             "works offline).")] = None,
    aligned: Annotated[bool, typer.Option(
        "--aligned", help="Inputs are generation-framed face crops (as `masque evaluate` writes): skip detection.")]
    = False,
    threshold: Annotated[str | None, typer.Option(
        help="Threshold key, e.g. far0.001 (default: far0.01, or the model's own rule such as dlib's).")] = None,
    size: Annotated[int, typer.Option(help="Side of the aligned crop the models read (pixels).")] = 512,
) -> None:
    """Check whether PROTECTED still matches ORIGINAL (and --reference photos) on each face-recognition model.

    A model calls the photo protected when every similarity is below its threshold; the overall verdict is
    protected (all models), partially protected (some) or not protected (none). The largest face of each photo is
    used.
    """
    from ..evaluation.check import check_protection
    from ..evaluation.zoo import parse_models

    report = check_protection(original, protected, reference or [], models=parse_models(models), aligned=aligned,
                              size=size, threshold=threshold)
    if json_out:
        typer.echo(json.dumps(report.to_dict(), indent=1))
        return
    _print_table(report)


def _print_table(report) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"masque check: {report.protected}")
    table.add_column("model")
    table.add_column("threshold")
    table.add_column("vs original", justify="right")
    for ref in report.references:
        table.add_column(f"vs {Path(ref).name}", justify="right")
    table.add_column("verdict")
    for v in report.verdicts:
        colour = "green" if v.protected else "red"
        cells = [f"{v.original_similarity:.3f}", *(f"{v.reference_similarity[r]:.3f}" for r in report.references)]
        table.add_row(v.model, f"{v.threshold_key} ({v.threshold:.3f})", *cells,
                      f"[{colour}]{'protected' if v.protected else 'not protected'}[/{colour}]")
    console = Console()
    console.print(table)
    for rec in report.models:
        if not rec.available:
            console.print(f"[dim]{rec.name}: unavailable ({rec.reason})[/dim]")
    colour = {"protected": "green", "not protected": "red"}.get(report.overall, "yellow")
    console.print(f"Overall: [bold {colour}]{report.overall}[/bold {colour}] (cosine similarity: a model protects when "
                  "every similarity is below its threshold; dlib-bin row: dlib's own distance, protects at >= 0.6)")
