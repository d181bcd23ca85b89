"""`masque vocabulary`: every makeup word `--prompt` understands, grouped, so messages about unknown words can point
here in one line instead of printing the list."""

from __future__ import annotations

import typer


def vocabulary() -> None:
    """List the words `--prompt` understands: products (with the face regions they paint), looks, colours and
    strengths. Other words are ignored (and named in one line when a prompt has them)."""
    from ..makeup.vocabulary import word_groups

    for name, words in word_groups().items():
        typer.echo(f"{name}: {', '.join(words)}")
    typer.echo("Combine them freely, e.g. 'full glam with berry lips', 'smoky eyeshadow, nude lipstick'.")
