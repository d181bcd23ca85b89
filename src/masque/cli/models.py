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
