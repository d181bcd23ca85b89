"""One loading path for every FR backbone: a PyTorch state dict as it is, a foreign file converted once and cached.

A backbone whose published weights come in another format (dlib ``.dat``, GraphDef ``.pb``, ONNX, Keras ``.h5``,
TFJS ``model.json``) is a `ConvertsWeights`: it names the format (`WeightsFormat`: the file suffix and the reader
modules under `embedders.formats`) and fills itself from such a file (`read_weights`). `load_weights` is the rest,
written once: a state dict loads strictly; a foreign file is parsed once and its converted state dict cached under
``$MASQUE_HOME/converted``, keyed by the file and by the source of the code that converted it (the backbone's own
module and its bases', and the modules its format names): an edit to another model's converter keeps this model's cache.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import torch
from torch import nn

from ..checkpoints import load_state_dict_strict
from ..errors import WeightsError
from ..paths import converted_path, source_fingerprint, write_cache

STATE_SUFFIXES = (".pt", ".pth")  # PyTorch state dicts: loaded as they are, never converted nor cached


@dataclass(frozen=True)
class WeightsFormat:
    """A foreign weights format: its file suffix and the modules (readers under `embedders.formats`, shared
    mappings) its conversion runs."""

    suffix: str
    code: tuple[str, ...] = ()  # modules besides the backbone's own (and its bases') that convert


class ConvertsWeights:
    """Mixin of a backbone that reads a foreign format (`weights_format`) besides its own state dicts."""

    weights_format: ClassVar[WeightsFormat]

    def read_weights(self, path: Path) -> None:
        """Fill this module from ``path`` (a file of `weights_format`), strictly: every parameter, checked."""
        raise NotImplementedError


def converter_modules(cls: type) -> tuple[str, ...]:
    """The modules whose code converts ``cls``'s foreign weights: the ones defining it and its bases (inside this
    package) and the modules its format names."""
    own = {c.__module__ for c in cls.__mro__ if c.__module__.startswith("masque.") and c is not ConvertsWeights}
    readers = set(cls.weights_format.code) if issubclass(cls, ConvertsWeights) else set()
    return tuple(sorted(own | readers))


def converted_copy(path: Path, name: str, cls: type) -> Path:
    """Where model ``name``'s converted copy of ``path`` is cached, keyed by the file and the converting code."""
    files = [Path(importlib.util.find_spec(m).origin) for m in converter_modules(cls)]
    return converted_path(path, name, converter=source_fingerprint(tuple(files)), suffix=".pt")


def load_weights(backbone: nn.Module, path: str | Path, name: str) -> None:
    """``path`` into ``backbone``: a state dict strictly; a foreign file of the backbone's format through its
    converter, parsed once and then read (memory-mapped) from the cached copy. A cache that cannot be written or
    read is ignored, never an error."""
    path = Path(path)
    foreign = isinstance(backbone, ConvertsWeights) and path.suffix.lower() == backbone.weights_format.suffix
    if not foreign or path.suffix.lower() in STATE_SUFFIXES or not path.is_file():
        load_state_dict_strict(backbone, path, name=name)
        return
    cache = converted_copy(path, name, type(backbone))
    if cache.is_file():
        try:
            load_state_dict_strict(backbone, cache, name=name, mmap=True)
            return
        except WeightsError:
            cache.unlink(missing_ok=True)  # a torn or foreign file: parse the original again
    backbone.read_weights(path)
    write_cache(cache, lambda tmp: torch.save(backbone.state_dict(), tmp))
