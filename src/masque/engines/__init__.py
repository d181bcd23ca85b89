"""Protection engines: `diffusion` (MASQUE) and `parametric` (fast CPU makeup)."""

from .base import Engine, ProtectResult, create_engine, list_engines, register_engine

__all__ = ["Engine", "ProtectResult", "create_engine", "list_engines", "register_engine"]
