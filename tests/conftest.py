"""Shared fixtures: the real test photos and a tiny Stable Diffusion written to disk once per session."""

from __future__ import annotations

import os
from pathlib import Path

# Idle OpenMP threads sleep instead of spinning: on a 2-core machine spinning threads of one process starve the
# others (seen here as 10x slower tests). Must be set before torch is imported.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import pytest

FACES = Path(__file__).parent / "data" / "faces"


@pytest.fixture(scope="session")
def faces_dir() -> Path:
    return FACES


@pytest.fixture(scope="session")
def tiny_sd_dir(tmp_path_factory) -> Path:
    """A tiny random SD in diffusers layout on disk, loaded by tests through the same path as real weights."""
    from masque.engines.diffusion.backbone import create_tiny_sd

    return create_tiny_sd(tmp_path_factory.mktemp("tiny-sd"), seed=0)
