"""The one atomic file writer: every file MASQUE writes (photos, sidecars, manifests' outputs, imported or downloaded
weights, converted caches, the evaluator's crop cache) goes through `write_atomic`; a folder completed elsewhere (a
Stable Diffusion download) is put in place by `publish_folder`. ``os.replace`` is called here and nowhere else.

Why: a reader (a user, a re-run, another process) must see the whole file or none of it. The data goes to a
temporary file beside the target (same folder, so the same file system), is flushed to disk, given its permissions,
then renamed onto the target with ``os.replace`` (atomic on POSIX and Windows); any failure removes the temporary
file. It sits in the bottom layer (standard library only) so that `paths`, `manifest`, `io`, `api` and the model
catalogue can all import it.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

TEMP_SUFFIX = ".masque-partial"  # temporary files of atomic writes: ``.<name>.<random>.masque-partial``


def write_atomic(path: str | Path, data: bytes | str | Callable[[Path], object], *, mode: int | None = 0o644) -> Path:
    """Write ``data`` (bytes, text, or a function that writes a given temporary path: ``torch.save``, ``img.save``,
    ``shutil.copyfile``...) to ``path`` atomically. ``mode``: the file's permissions (None: keep the existing file's,
    else 0o644). Returns ``path``."""
    path = Path(path)
    if mode is None:
        mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TEMP_SUFFIX)
    tmp = Path(name)
    try:
        if callable(data):
            os.close(fd)
            data(tmp)
        else:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data.encode() if isinstance(data, str) else data)
        with open(tmp, "rb+") as fh:  # on disk before the rename: a crash never leaves a renamed empty file
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def publish_folder(complete: str | Path, path: str | Path) -> Path:
    """Rename the finished folder ``complete`` onto ``path`` (same file system; ``path`` must not exist): readers see
    no folder or the whole one, never a download in progress. Returns ``path``."""
    os.replace(complete, path)
    return Path(path)
