"""The batch manifest: records survive a torn last line, a finished unit needs intact files, settings never mix."""

from __future__ import annotations

import json

import pytest

from masque.errors import InputError, NoFaceError
from masque.executors import LocalExecutor, Resources, create_executor, run_unit
from masque.manifest import MANIFEST_NAME, TEMP_SUFFIX, Manifest, Record, refuse_mixed_settings, settings_hash


def _record(man: Manifest, key: str, data: bytes, digest: str = "h1") -> None:
    files = man.write_files({f"{key}.bin": data})
    man.append(Record(key, digest, 0, files))


def test_settings_hash_is_order_independent_and_sensitive():
    assert settings_hash({"a": 1, "b": (2, 3)}) == settings_hash({"b": [2, 3], "a": 1})
    assert settings_hash({"a": 1, "b": (2, 3)}) != settings_hash({"a": 1, "b": (2, 4)})


def test_finished_needs_same_settings_and_intact_files(tmp_path):
    with Manifest(tmp_path) as man:
        _record(man, "x", b"hello")
        _record(man, "y", b"world")
    (tmp_path / "y.bin").write_bytes(b"w0rld")  # corrupt
    with Manifest(tmp_path) as man:
        assert man.finished("x", "h1") is not None
        assert man.finished("x", "h2") is None  # other settings
        assert man.finished("y", "h1") is None  # checksum no longer matches
        (tmp_path / "x.bin").unlink()
        assert man.finished("x", "h1") is None  # missing


def test_torn_last_line_is_ignored_and_the_next_record_starts_a_new_line(tmp_path):
    with Manifest(tmp_path) as man:
        _record(man, "x", b"1")
    with open(tmp_path / MANIFEST_NAME, "ab") as fh:
        fh.write(b'{"key": "y", "settings_ha')  # a kill -9 in the middle of a write
    (tmp_path / f".x.bin.abc{TEMP_SUFFIX}").write_bytes(b"partial")  # temp file of an interrupted atomic write
    (tmp_path / ".editor.tmp").write_bytes(b"someone else's")
    with Manifest(tmp_path) as man:
        assert set(man.records) == {"x"}
        assert [p.name for p in tmp_path.glob(".*")] == [".editor.tmp"]  # ours cleaned up (under the lock)
        _record(man, "z", b"3")
    lines = (tmp_path / MANIFEST_NAME).read_text().splitlines()
    assert json.loads(lines[-1])["key"] == "z"
    with Manifest(tmp_path) as man:
        assert set(man.records) == {"x", "z"}


def test_other_settings_are_refused_in_one_line(tmp_path):
    with Manifest(tmp_path) as man:
        _record(man, "pgd/a", b"1", "h1")
        refuse_mixed_settings(man, {"h1"}, "fix it.")
        refuse_mixed_settings(man, {"h2"}, "fix it.", prefix="parametric/")  # other methods are not concerned
        with pytest.raises(InputError, match=r"holds 1 pgd output\(s\) made with other settings.*h1 != h2.*fix it"):
            refuse_mixed_settings(man, {"h2"}, "fix it.", prefix="pgd/")


def test_one_batch_per_folder(tmp_path):
    with Manifest(tmp_path), pytest.raises(InputError, match="in use by another masque batch"):
        Manifest(tmp_path).open()


def test_local_executor_reports_unit_problems_without_stopping():
    def worker(unit):
        if unit == "noface":
            raise NoFaceError("no face found")
        if unit == "bad":
            raise InputError("`image` bad: not an image")
        return unit * 2

    pool = LocalExecutor().pool(lambda: worker, Resources())
    got = {u: (o.status, o.value, o.reason) for u, o in pool.map(["a", "noface", "bad", "b"])}
    assert got == {"a": ("done", "aa", None), "noface": ("skipped", None, "no face found"),
                   "bad": ("failed", None, "`image` bad: not an image"), "b": ("done", "bb", None)}
    with pytest.raises(ZeroDivisionError):  # a bug is not a unit failure: it surfaces
        run_unit(lambda u: 1 / 0, "x")


def test_executor_factory_checks_its_arguments():
    with pytest.raises(InputError, match="`--executor` must be one of"):
        create_executor("dask")
    with pytest.raises(InputError, match="apply to `--executor ray` only"):
        create_executor("local", address="auto")
