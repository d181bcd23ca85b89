"""Evaluation datasets: which photos to protect, which photos of the same person anchor them, and the gallery.

Three layouts are read, all into one `EvalDataset`:

* **folder per identity** — ``ROOT/<identity>/<photo>``; every photo is a source, the identity's other photos are
  its references (anchors of the pairwise objective and the same-person pairs of verification).
* **MASQUE ref map** (the official ``--ref_map_json``, docs/protocol.md) — a JSON object mapping each identity to its
  source and reference image names: ``{"id": {"source": "a.jpg" | [...], "reference": "b.jpg" | [...]}}``
  (``sources``/``references`` are accepted too). Sources live in ``images_dir``, references in ``ref_base_dir``
  (default: ``images_dir``); a name without a file extension gets ``img_ext`` (the official ``--img_ext``).
* **pairs list** — a text file, one pair per line: ``SOURCE REFERENCE [IDENTITY]`` (whitespace- or
  comma-separated, ``#`` comments). Relative paths are taken from the list's folder; the identity defaults to the
  name of the source's folder. Lines sharing a source are merged into one item with several references.

The identification gallery is every distinct photo in the dataset (sources and references).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InputError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")


@dataclass(frozen=True)
class EvalItem:
    """One photo to protect: its identity, path and the other photos of the same person (may be empty)."""

    identity: str
    source: Path
    references: tuple[Path, ...] = ()

    @property
    def key(self) -> str:
        """Stable, file-name-safe name of the item (output files and resume use it)."""
        return f"{_safe(self.identity)}__{_safe(self.source.stem)}"


@dataclass
class EvalDataset:
    """Items to protect plus the identification gallery (every photo, labelled with its identity)."""

    layout: str
    root: Path
    items: list[EvalItem]
    gallery: dict[Path, str] = field(default_factory=dict)  # photo -> identity

    def limited(self, limit: int | None) -> EvalDataset:
        """The first ``limit`` items (the gallery keeps every photo, so identification stays comparable)."""
        if limit is None:
            return self
        if limit < 1:
            raise InputError(field="limit", rule=f"must be at least 1, got {limit}.")
        return EvalDataset(self.layout, self.root, self.items[:limit], dict(self.gallery))

    def photos(self) -> list[Path]:
        return sorted(self.gallery)

    def to_dict(self) -> dict:
        return {"layout": self.layout, "root": str(self.root), "items": len(self.items),
                "identities": len(set(self.gallery.values())), "photos": len(self.gallery)}


def _safe(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in text)


def _is_image(p: Path) -> bool:
    return p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES


def _existing(path: Path, what: str) -> Path:
    if not path.is_file():
        raise InputError(f"{what}: file {str(path)!r} does not exist; fix the path or the dataset listing.")
    return path


def load_folder_dataset(root: str | Path) -> EvalDataset:
    """``ROOT/<identity>/<photo>``: each photo is protected, anchored on its identity's other photos."""
    root = Path(root)
    if not root.is_dir():
        raise InputError(field="dataset", rule=f"must be a folder with one sub-folder per identity, got {str(root)!r}.")
    items, gallery = [], {}
    for ident_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        photos = sorted(p for p in ident_dir.iterdir() if _is_image(p))
        for photo in photos:
            gallery[photo] = ident_dir.name
            items.append(EvalItem(ident_dir.name, photo, tuple(p for p in photos if p != photo)))
    if not items:
        raise InputError(field="dataset", rule=f"{str(root)!r} holds no images in identity sub-folders "
                         f"(expected ROOT/<identity>/<photo>{IMAGE_SUFFIXES[0]}).")
    return EvalDataset("folders", root, items, gallery)


def _names(entry: dict, keys: tuple[str, ...], ident: str, path: Path) -> list[str]:
    for k in keys:
        if k in entry:
            value = entry[k]
            names = [value] if isinstance(value, str) else value
            if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
                raise InputError(field="ref_map", value=value, rule=f"{str(path)!r}: identity {ident!r} key {k!r} must "
                                 f"be a file name or a list of file names, got {value!r}.")
            return names
    return []


def _with_ext(name: str, img_ext: str | None) -> str:
    if img_ext and not Path(name).suffix:
        return name + (img_ext if img_ext.startswith(".") else "." + img_ext)
    return name


def load_ref_map(path: str | Path, images_dir: str | Path | None = None,
                 ref_base_dir: str | Path | None = None, img_ext: str | None = None) -> EvalDataset:
    """MASQUE's ``--ref_map_json`` layout: identity -> source and reference image names."""
    path = Path(path)
    if not path.is_file():
        raise InputError(field="ref_map", rule=f"must be an existing JSON file, got {str(path)!r}.")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise InputError(field="ref_map", rule=f"{str(path)!r} is not valid JSON ({exc}).") from exc
    if not isinstance(data, dict) or not data:
        raise InputError(field="ref_map", value=path,
                         rule=f"{str(path)!r} must map identities to {{\"source\": ..., \"reference\": ...}}.")
    images = Path(images_dir) if images_dir is not None else path.parent
    refs_root = Path(ref_base_dir) if ref_base_dir is not None else images
    items, gallery = [], {}
    for ident, entry in data.items():
        if not isinstance(entry, dict):
            raise InputError(field="ref_map", rule=f"{str(path)!r}: identity {ident!r} must map to an object with "
                             f"\"source\" and \"reference\" names, got {entry!r}.")
        sources = [_existing(images / _with_ext(n, img_ext), f"`--ref-map` source of {ident!r}")
                   for n in _names(entry, ("source", "sources"), ident, path)]
        refs = [_existing(refs_root / _with_ext(n, img_ext), f"`--ref-map` reference of {ident!r}")
                for n in _names(entry, ("reference", "references"), ident, path)]
        if not sources:
            raise InputError(field="ref_map", rule=f"{str(path)!r}: identity {ident!r} has no \"source\" image.")
        for src in sources:
            items.append(EvalItem(str(ident), src, tuple(refs)))
        for p in [*sources, *refs]:
            gallery[p] = str(ident)
    return EvalDataset("ref_map", path, items, gallery)


def load_pairs(path: str | Path) -> EvalDataset:
    """A pairs list: ``SOURCE REFERENCE [IDENTITY]`` per line."""
    path = Path(path)
    if not path.is_file():
        raise InputError(field="pairs", rule=f"must be an existing text file, got {str(path)!r}.")
    order: list[Path] = []
    refs: dict[Path, list[Path]] = {}
    ident_of: dict[Path, str] = {}
    for lineno, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.split("#", 1)[0].replace(",", " ").strip()
        if not line:
            continue
        parts = line.split()
        if len(parts) not in (2, 3):
            raise InputError(field="pairs", value=raw, rule=f"{str(path)!r} line {lineno}: expected `SOURCE "
                             f"REFERENCE [IDENTITY]`, got {raw!r}.")
        src = _existing(path.parent / parts[0], f"`--pairs` line {lineno}")
        ref = _existing(path.parent / parts[1], f"`--pairs` line {lineno}")
        ident = parts[2] if len(parts) == 3 else src.parent.name
        for p in (src, ref):
            if ident_of.setdefault(p, ident) != ident:
                raise InputError(field="pairs", value=p, rule=f"{str(path)!r} line {lineno}: {str(p)!r} is listed "
                                 f"under identities {ident_of[p]!r} and {ident!r}; one photo shows one person.")
        if src not in refs:
            order.append(src)
            refs[src] = []
        if ref not in refs[src]:
            refs[src].append(ref)
    if not order:
        raise InputError(field="pairs", rule=f"{str(path)!r} lists no pairs.")
    items = [EvalItem(ident_of[s], s, tuple(refs[s])) for s in order]
    return EvalDataset("pairs", path, items, dict(ident_of))


def load_dataset(dataset: str | Path | None = None, *, ref_map: str | Path | None = None,
                 images_dir: str | Path | None = None, ref_base_dir: str | Path | None = None,
                 pairs: str | Path | None = None, img_ext: str | None = None) -> EvalDataset:
    """Pick the layout from which argument is given (exactly one of ``dataset``, ``ref_map``, ``pairs``)."""
    given = [n for n, v in (("dataset", dataset), ("ref_map", ref_map), ("pairs", pairs)) if v is not None]
    if len(given) != 1:
        raise InputError(value=given, rule=lambda n: f"give exactly one of {n.dataset}, {n.ref_map}, {n.pairs}; got "
                         f"{', '.join(n[g] for g in given) or 'none'}")
    if dataset is not None:
        return load_folder_dataset(dataset)
    if ref_map is not None:
        return load_ref_map(ref_map, images_dir, ref_base_dir, img_ext)
    return load_pairs(pairs)
