"""Small file helpers shared by every writer: atomic replacement and gzip-aware opening."""

from __future__ import annotations

import contextlib
import gzip
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from .errors import FormatError


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success it replaces ``path`` in one rename.

    On any error the temporary file is removed, so a failed write never leaves a partial file, and an
    operating-system error (a read-only folder, a folder of that name, a full disk) becomes a
    :class:`FormatError` that names the file. The temporary name keeps the final suffixes, so writers
    that pick a format by extension work.
    """
    path = Path(path)
    tmp = None
    try:
        if path.is_dir():
            raise IsADirectoryError(21, "a folder has that name")
        path.parent.mkdir(parents=True, exist_ok=True)
        suffix = "".join(path.suffixes)
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f".tmp{suffix}", dir=path.parent)
        os.close(fd)
        tmp = Path(name)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes the file private; give it ordinary permissions
        yield tmp
        os.replace(tmp, path)
    except OSError as e:
        raise FormatError(f"{path}: cannot be written ({e.strerror or e}).") from None
    finally:
        if tmp is not None:
            tmp.unlink(missing_ok=True)


def open_text(path: str | os.PathLike, mode: str = "rt"):
    """Open a text file, transparently gzip-compressed when its name ends in .gz."""
    path = Path(path)
    if path.suffix == ".gz":
        return gzip.open(path, mode, encoding="utf-8")
    return open(path, mode, encoding="utf-8")
