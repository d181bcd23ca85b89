"""The three dataset layouts read into one `EvalDataset`; bad listings give one-line `InputError`s."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from masque.errors import InputError
from masque.evaluation.datasets import load_dataset, load_folder_dataset, load_pairs, load_ref_map


def _touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x")  # layouts are read by name; content is irrelevant here
    return path


def test_folder_layout_anchors_each_photo_on_its_identity_siblings(tmp_path):
    for name in ("a.jpg", "b.jpg", "c.png"):
        _touch(tmp_path / "obama" / name)
    _touch(tmp_path / "biden" / "x.jpg")
    _touch(tmp_path / "obama" / "notes.txt")  # not an image: ignored
    ds = load_folder_dataset(tmp_path)
    assert len(ds.items) == 4 and len(ds.gallery) == 4
    by_src = {it.source.name: it for it in ds.items}
    assert {r.name for r in by_src["a.jpg"].references} == {"b.jpg", "c.png"}
    assert by_src["x.jpg"].references == () and by_src["x.jpg"].identity == "biden"
    assert ds.to_dict()["identities"] == 2
    assert [it.key for it in ds.limited(2).items] == [it.key for it in ds.items[:2]]
    assert len(ds.limited(2).gallery) == 4  # the gallery keeps every photo


def test_ref_map_layout_reads_sources_and_references_from_their_folders(tmp_path):
    _touch(tmp_path / "src" / "o1.jpg")
    _touch(tmp_path / "src" / "b1.jpg")
    _touch(tmp_path / "refs" / "o2.jpg")
    _touch(tmp_path / "refs" / "o3.jpg")
    ref_map = tmp_path / "identity.json"
    ref_map.write_text(json.dumps({"obama": {"source": "o1.jpg", "reference": ["o2.jpg", "o3.jpg"]},
                                   "biden": {"sources": ["b1.jpg"]}}))
    ds = load_dataset(ref_map=ref_map, images_dir=tmp_path / "src", ref_base_dir=tmp_path / "refs")
    assert ds.layout == "ref_map"
    obama = next(it for it in ds.items if it.identity == "obama")
    assert obama.source == tmp_path / "src" / "o1.jpg"
    assert [r.name for r in obama.references] == ["o2.jpg", "o3.jpg"]
    assert ds.gallery[tmp_path / "refs" / "o3.jpg"] == "obama"
    assert len(ds.gallery) == 4


def test_pairs_list_merges_lines_of_one_source(tmp_path):
    for name in ("p/o1.jpg", "p/o2.jpg", "p/o3.jpg", "q/b1.jpg", "q/b2.jpg"):
        _touch(tmp_path / name)
    listing = tmp_path / "pairs.txt"
    listing.write_text("# source reference [identity]\np/o1.jpg p/o2.jpg\np/o1.jpg, p/o3.jpg\n"
                       "q/b1.jpg q/b2.jpg biden\n")
    ds = load_pairs(listing)
    assert [it.identity for it in ds.items] == ["p", "biden"]
    assert [r.name for r in ds.items[0].references] == ["o2.jpg", "o3.jpg"]


@pytest.mark.parametrize("content, match", [
    ("a.jpg\n", "SOURCE REFERENCE"),
    ("a.jpg missing.jpg\n", "does not exist"),
    ("a.jpg b.jpg x\nb.jpg a.jpg y\n", "one photo shows one person"),
])
def test_bad_pairs_lists_are_one_line_errors(tmp_path, content, match):
    _touch(tmp_path / "a.jpg")
    _touch(tmp_path / "b.jpg")
    listing = tmp_path / "pairs.txt"
    listing.write_text(content)
    with pytest.raises(InputError, match=match) as err:
        load_pairs(listing)
    assert "\n" not in str(err.value)


def test_layout_arguments_are_exclusive_and_checked(tmp_path, faces_dir):
    with pytest.raises(InputError, match="exactly one"):
        load_dataset(tmp_path, pairs=tmp_path / "p.txt")
    with pytest.raises(InputError, match="no images"):
        load_folder_dataset(tmp_path)
    bad = tmp_path / "bad.json"
    bad.write_text('{"obama": {"reference": "x.jpg"}}')
    shutil.copy(faces_dir / "obama.jpg", tmp_path / "x.jpg")
    with pytest.raises(InputError, match="no \"source\""):
        load_ref_map(bad)
    with pytest.raises(InputError, match="--limit"):
        load_folder_dataset(faces_dir.parent).limited(0)
