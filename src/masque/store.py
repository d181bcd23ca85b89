"""Where model files live: ``$MASQUE_HOME`` (default ``~/.cache/masque``). Nothing here downloads."""

from __future__ import annotations

import os
from pathlib import Path

from .errors import WeightsError


def masque_home() -> Path:
    return Path(os.environ.get("MASQUE_HOME", Path.home() / ".cache" / "masque")).expanduser()


def fr_dir() -> Path:
    return masque_home() / "fr"


def default_weight_path(spec) -> Path:
    """Expected location of ``spec``'s checkpoint; raises a `WeightsError` saying how to get it when absent."""
    if spec.weights_file is None:
        raise WeightsError(f"embedder {spec.name!r} has no standard weights; pass `weights=PATH`.")
    path = fr_dir() / spec.weights_file
    if not path.is_file():
        hint = f"download it from {spec.url} and " if spec.url else "obtain it (see README) and "
        raise WeightsError(f"weights for {spec.name!r} not found at {str(path)!r}: {hint}run "
                           f"`masque models import {spec.name} FILE`.")
    return path
