"""Protection engines: `diffusion` (MASQUE) and `parametric` (fast CPU makeup), behind the `Engine` seam.

Exports load lazily so that reading the engine table (`masque.engines.catalog`) never imports torch.
"""

from __future__ import annotations

_LAZY = {name: "masque.engines.base" for name in (
    "Engine", "EngineOptions", "FaceJob", "ProtectResult", "check_prompt", "create_engine", "engine_kwargs",
    "list_engines", "register_engine")}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'masque.engines' has no attribute {name!r}")


__all__ = list(_LAZY)
