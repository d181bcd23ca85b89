"""Face-recognition models behind one interface (`FaceEmbedder`) and one factory (`create_embedder`)."""

# register dlib, the registry-package models (ONNX/GraphDef and TFJS), tiny-random and the literature zoo
from . import dlib_resnet, packaged, tfjs_models, tiny, zoo  # noqa: F401
from .base import EmbedderSpec, FaceEmbedder, PackageSource, load_state_dict_strict, primary_threshold
from .registry import (
    TEST_ONLY,
    create_embedder,
    default_weights,
    get_spec,
    list_embedders,
    present_embedders,
    register_embedder,
)

__all__ = [
    "EmbedderSpec", "FaceEmbedder", "PackageSource", "create_embedder", "default_weights", "get_spec", "list_embedders",
    "TEST_ONLY", "load_state_dict_strict", "present_embedders", "primary_threshold", "register_embedder",
]
