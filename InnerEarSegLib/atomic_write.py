"""The one atomic writer: a file is either the complete new version or the old one, never half-written.

Everything is written to a temporary name in the target's own folder (same file system), flushed to
disk, and moved into place with :func:`os.replace`, which is atomic. A writer that needs a path (
SimpleITK, VTK, matplotlib) uses :func:`atomic_output_path`; bytes and text use
:func:`write_bytes_atomic` / :func:`write_text_atomic`. Temporary names start with a dot and end in
``.tmp<suffix>`` so that :func:`remove_stale_temporaries` can find the ones a killed process left.

A whole run's folder of outputs is committed by :mod:`.output_folder`, built on these.
"""
from __future__ import annotations

import contextlib
import os
import re
import uuid
from pathlib import Path
from typing import Iterator

__all__ = ["atomic_output_path", "write_bytes_atomic", "write_text_atomic", "default_file_mode",
           "remove_stale_temporaries", "fsync_path"]

_MULTI_SUFFIXES = (".nii.gz", ".seg.nrrd")


def _full_suffix(path: Path) -> str:
    name = path.name.lower()
    for suffix in _MULTI_SUFFIXES:
        if name.endswith(suffix):
            return path.name[-len(suffix):]
    return path.suffix


def temporary_sibling(path: Path, kind: str = "tmp") -> Path:
    """A fresh hidden name next to `path` that keeps its suffix: ``.<name>.<12 hex>.<kind><suffix>``."""
    return path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.{kind}{_full_suffix(path)}")


def default_file_mode() -> int:
    """0o666 less the process umask: the mode ``open()`` would give a new file."""
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


def fsync_path(path: Path) -> None:
    """Flush a file's data, or a folder's renames, to disk where the platform allows it (errors ignored)."""
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def atomic_output_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to `path` (same suffix); on success move it onto `path` atomically.

    On any exception (including Ctrl-C) the temporary file is removed and `path` is left untouched.

    Raises
    ------
    FileNotFoundError
        The folder of `path` does not exist, or nothing was written to the temporary path.

    Examples
    --------
    >>> with atomic_output_path("report.json") as tmp:   # doctest: +SKIP
    ...     tmp.write_text("{}")
    """
    target = Path(path)
    if not target.parent.is_dir():
        raise FileNotFoundError(f"cannot write '{target}': the folder '{target.parent}' does not exist")
    tmp = temporary_sibling(target)
    try:
        yield tmp
        if not tmp.exists():
            raise FileNotFoundError(f"nothing was written to the temporary file for '{target}'")
        fsync_path(tmp)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    fsync_path(target.parent)


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> Path:
    """Write `data` to `path` atomically; the file gets the usual mode (0o666 less the umask)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output_path(target) as tmp:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
    return target


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """Write `text` (UTF-8, newlines as given) to `path` atomically."""
    return write_bytes_atomic(path, text.encode("utf-8"))


def remove_stale_temporaries(folder: str | os.PathLike, name: str) -> list[Path]:
    """Delete temporary files that :func:`atomic_output_path` made for ``folder/name`` and a killed process left.

    Call it only while holding the lock that serialises writers of that file; otherwise a live writer's
    temporary file could be removed. Returns the removed paths.
    """
    pattern = re.compile(rf"^\.{re.escape(name)}\.[0-9a-f]{{12}}\.tmp")
    removed = []
    for entry in Path(folder).iterdir() if Path(folder).is_dir() else ():
        if pattern.match(entry.name) and entry.is_file():
            with contextlib.suppress(FileNotFoundError):
                entry.unlink()
                removed.append(entry)
    return removed
