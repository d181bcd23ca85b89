"""The one atomic writer (`masque.atomic`): whole file or nothing, under every name MASQUE writes."""

from __future__ import annotations

import pytest

from masque.atomic import TEMP_SUFFIX, write_atomic


def test_bytes_text_and_writer_functions_land_whole(tmp_path):
    assert write_atomic(tmp_path / "a.bin", b"\x00\x01").read_bytes() == b"\x00\x01"
    assert write_atomic(tmp_path / "a.json", '{"x": 1}').read_text() == '{"x": 1}'
    write_atomic(tmp_path / "c.txt", lambda tmp: tmp.write_text("via a path"))
    assert (tmp_path / "c.txt").read_text() == "via a path"
    assert not list(tmp_path.glob(f".*{TEMP_SUFFIX}"))


def test_a_failing_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "photo.png"
    target.write_bytes(b"old")

    def half_then_fail(tmp):
        tmp.write_bytes(b"half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_atomic(target, half_then_fail)
    assert target.read_bytes() == b"old"
    assert list(tmp_path.iterdir()) == [target]


def test_permissions_are_kept_or_set(tmp_path):
    target = tmp_path / "kept"
    target.write_bytes(b"x")
    target.chmod(0o600)
    write_atomic(target, b"y", mode=None)
    assert target.stat().st_mode & 0o777 == 0o600
    assert write_atomic(tmp_path / "new", b"z").stat().st_mode & 0o777 == 0o644
