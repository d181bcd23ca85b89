"""MASQUE: localized adversarial makeup that protects face photos from face recognition.

Heavy modules (torch, diffusers, dlib) load on first use so ``import masque`` and ``masque --help`` stay fast.
"""

from __future__ import annotations

__version__ = "0.1.0"

_LAZY = {
    "protect": ("masque.api", "protect"),
    "Protector": ("masque.api", "Protector"),
    "MasquePipeline": ("masque.engines.diffusion.pipeline", "MasquePipeline"),
    "create_embedder": ("masque.embedders", "create_embedder"),
    "list_embedders": ("masque.embedders", "list_embedders"),
    "MasqueError": ("masque.errors", "MasqueError"),
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'masque' has no attribute {name!r}")


__all__ = ["__version__", *_LAZY]
