"""Small file helpers shared by every writer: atomic replacement and gzip-aware opening."""

from __future__ import annotations

import atexit
import contextlib
import gzip
import os
import tempfile
from collections.abc import Callable, Iterator
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


def check_writable(path: str | os.PathLike) -> None:
    """Refuse, before any work, an output that cannot be written: a folder of that name, a parent that
    is a file, a folder that does not take new files, an .mp4 without ffmpeg."""
    import shutil

    path = Path(path)
    if path.is_dir():
        raise FormatError(f"{path}: cannot be written (a folder has that name).")
    parent = next((p for p in [path.parent, *path.parent.parents] if p.exists()), Path("."))
    if not parent.is_dir():
        raise FormatError(f"{path}: cannot be written ({parent} is a file, not a folder).")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise FormatError(f"{path}: cannot be written ({parent} does not allow new files).")
    if path.name.lower().endswith(".mp4") and shutil.which("ffmpeg") is None:
        raise FormatError(f"{path}: writing .mp4 needs ffmpeg on the PATH; install it or use .gif.")


def file_state(path: str | os.PathLike) -> tuple[int, int] | None:
    """What a file looks like now (modification time and size), None when there is none."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size


def write_all(writers: dict[Path, Callable[[Path], object]], seen: dict[Path, tuple | None] | None = None) -> None:
    """Write several files all or none: each writer writes its file to a temporary path beside it, and
    only when every one has succeeded are they renamed into place (a failed rename, which only a
    vanishing folder causes, can still leave the ones renamed before it). ``seen`` maps paths to their
    :func:`file_state` when the work began: a file another process wrote since is not replaced."""
    for path, before in (seen or {}).items():
        if path in writers and file_state(path) != before:
            raise FormatError(f"{path}: another process wrote this file while this one worked; it was kept, "
                              "and nothing was written (choose another name).")  # fmt: skip
    with contextlib.ExitStack() as stack:
        for path, write in writers.items():
            write(stack.enter_context(atomic_path(path)))


LOCK = ".lock"  # the file a writer of a run folder holds a lock on (kept: the lock, not the file, counts)
_held: dict[Path, object] = {}


def lock_folder(folder: str | os.PathLike, what: str = "run folder") -> None:
    """Make this process the one writer of ``folder`` until it exits; a second process is refused with
    one sentence. The operating system drops the lock when the process ends, even when it is killed."""
    import fcntl

    folder = Path(folder).resolve()
    if folder in _held:
        return
    try:
        folder.mkdir(parents=True, exist_ok=True)
        handle = open(folder / LOCK, "a")  # noqa: SIM115 - held open for the life of the process
    except OSError as e:
        raise FormatError(f"{folder}: cannot be written ({e.strerror or e}).") from None
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise FormatError(f"{folder}: another omnimogen process is writing this {what}; wait for it to end or "
                          "choose another folder.") from None  # fmt: skip
    if not _held:
        atexit.register(lambda: [h.close() for h in _held.values()])
    _held[folder] = handle


def unlock_folder(folder: str | os.PathLike) -> None:
    """Give up :func:`lock_folder`'s lock (when the work is done) and remove the lock file."""
    handle = _held.pop(Path(folder).resolve(), None)
    if handle is not None:
        (Path(folder) / LOCK).unlink(missing_ok=True)
        handle.close()
