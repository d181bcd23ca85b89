"""The layer contract (pyproject.toml, checked by `lint-imports`) names every top-level module of the package, so a
new module cannot sit outside the layers unnoticed."""

from __future__ import annotations

import pkgutil
from pathlib import Path

import masque

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: import-linter reads pyproject.toml with tomli
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]


def test_every_top_level_module_is_in_the_layer_contract():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    layers = next(c for c in config if c["type"] == "layers")["layers"]
    named = {m.strip() for layer in layers for m in layer.split("|")}
    modules = {f"masque.{m.name}" for m in pkgutil.iter_modules(masque.__path__)}
    assert modules - named == set(), "add these modules to a layer of [tool.importlinter] in pyproject.toml"
    assert named - modules == set(), "the contract names modules that no longer exist"
