"""Write outputs so that they are complete or absent: never half-written files or folders.

Everything is written to a temporary name in the target's own folder (same file system) and then
moved into place with :func:`os.replace`, which is atomic. Used by :mod:`.imageio` and by the
pipeline for every output of a run.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from pathlib import Path
from typing import Iterator


def _full_suffix(path: Path) -> str:
    name = path.name.lower()
    for suffix in (".nii.gz", ".seg.nrrd"):
        if name.endswith(suffix):
            return path.name[-len(suffix):]
    return path.suffix


def _temp_sibling(path: Path, kind: str = "tmp") -> Path:
    return path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.{kind}{_full_suffix(path)}")


@contextlib.contextmanager
def atomic_output_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to `path` (same suffix); on success move it onto `path` atomically.

    On any exception (including Ctrl-C) the temporary file is removed and `path` is left untouched.

    Examples
    --------
    >>> with atomic_output_path("report.json") as tmp:   # doctest: +SKIP
    ...     tmp.write_text("{}")
    """
    target = Path(path)
    if not target.parent.is_dir():
        raise FileNotFoundError(f"cannot write '{target}': the folder '{target.parent}' does not exist")
    tmp = _temp_sibling(target)
    try:
        yield tmp
        if not tmp.exists():
            raise FileNotFoundError(f"nothing was written to the temporary file for '{target}'")
        _fsync_file(tmp)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def _fsync_file(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def atomic_directory(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary folder next to `path`; on success its contents become `path`, on failure nothing.

    Everything one run writes goes into the yielded folder. When the block ends normally:

    - if `path` does not exist (or is an empty folder), the temporary folder is renamed to `path`
      (a single atomic rename);
    - if `path` is a folder with files, each top-level entry written is moved into it with
      ``os.replace``, replacing an entry of the same name (a replaced sub-folder is swapped whole) and
      leaving every other file in `path` alone.

    When the block raises (including :class:`~InnerEarSegLib.progress.Cancelled` and Ctrl-C) the
    temporary folder is deleted and `path` is left exactly as it was.
    """
    target = Path(path)
    if target.exists() and not target.is_dir():
        raise FileExistsError(f"output path '{target}' exists and is not a folder")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex[:12]}.partial")
    tmp.mkdir()
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    try:
        _commit_directory(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _commit_directory(tmp: Path, target: Path) -> None:
    if target.is_dir() and not any(target.iterdir()):
        target.rmdir()
    if not target.exists():
        os.replace(tmp, target)
        return
    for entry in sorted(tmp.iterdir()):
        dest = target / entry.name
        if entry.is_dir() and dest.exists():
            old = _temp_sibling(dest, "old")
            os.replace(dest, old)
            os.replace(entry, dest)
            shutil.rmtree(old, ignore_errors=True) if old.is_dir() else old.unlink()
        else:
            os.replace(entry, dest)
