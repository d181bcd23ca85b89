"""Option definitions shared by several commands (written once, reused as `Annotated` aliases)."""

from __future__ import annotations

from typing import Annotated

import typer

from ..engines.catalog import KNOWN_ENGINES

ENGINE_HELP = "Engines: " + "; ".join(f"{e.name} ({e.summary})" for e in KNOWN_ENGINES.values()) + "."

Model = Annotated[str | None, typer.Option(
    "--model", help="(diffusion) Stable Diffusion hub id or local diffusers folder (default: $MASQUE_SD_MODEL, else "
                    "stable-diffusion-v1-5/stable-diffusion-v1-5).")]
Surrogates = Annotated[str | None, typer.Option(
    help="Comma-separated FR models to optimise against (see `masque models list`); default: every model whose "
         "weights are present (dlib always is).")]
Seed = Annotated[int, typer.Option(help="Random seed; the same seed and inputs give the same output.")]
Device = Annotated[str | None, typer.Option(help="Torch device, e.g. cpu, cuda, cuda:1 (default: cuda if "
                                                 "available, else cpu).")]
# `\\[ray]`: rich (typer's help renderer) would read an unescaped [ray] as markup and print nothing of it
Executor = Annotated[str, typer.Option(
    help="Where batch units run: local (this process) | ray (a Ray cluster: one actor per GPU for the diffusion "
         "engine, per CPU for the fast engine and PGD; needs `pip install 'masque-privacy\\[ray]'`).")]
Address = Annotated[str | None, typer.Option(
    help="(ray) Cluster to join: auto (the one `ray start --head` runs here) or HOST:PORT; default: start a local "
         "Ray instance for this run.")]
Workers = Annotated[int | None, typer.Option(
    help="(ray) Number of worker actors; default: as many as the cluster's GPUs (diffusion) or CPUs allow.", min=1)]


def parse_names(value: str | None) -> list[str] | None:
    """'a, b' -> ['a', 'b']; None stays None (meaning: the default set)."""
    if value is None:
        return None
    names = [v.strip() for v in value.split(",") if v.strip()]
    return names or None
