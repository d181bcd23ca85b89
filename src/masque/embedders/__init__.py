"""Face-recognition models behind one interface (`FaceEmbedder`) and one factory (`create_embedder`)."""

from . import dlib_resnet, packaged, tfjs_models, tiny, zoo  # noqa: F401  (register dlib, the registry-package models, tiny-random, the literature zoo)
from .base import EmbedderSpec, FaceEmbedder, PackageSource, load_state_dict_strict, primary_threshold
from .registry import create_embedder, default_weights, get_spec, list_embedders, register_embedder

__all__ = [
    "EmbedderSpec", "FaceEmbedder", "PackageSource", "create_embedder", "default_weights", "get_spec", "list_embedders",
    "load_state_dict_strict", "primary_threshold", "register_embedder",
]
