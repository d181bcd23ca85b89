"""Face-recognition models behind one interface (`FaceEmbedder`) and one factory (`create_embedder`)."""

from . import tiny  # noqa: F401  (registers tiny-random)
from .base import EmbedderSpec, FaceEmbedder, load_state_dict_strict
from .registry import create_embedder, get_spec, list_embedders, register_embedder

__all__ = [
    "EmbedderSpec", "FaceEmbedder", "create_embedder", "get_spec", "list_embedders", "load_state_dict_strict",
    "register_embedder",
]
