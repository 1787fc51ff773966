"""One run's outputs in a folder: checked before the work, staged, committed whole, never touching others' files.

A run into ``OUT``

1. is checked before any work (:meth:`OutputFolder.open`): ``OUT`` is not an existing file, not the
   input, on a writable file system with enough free space, and none of the names the run may write
   clashes with a file that an earlier run did not make (unless ``overwrite``);
2. holds a lock on ``OUT`` (``OUT/.innerear-seg.lock``) from the check to the end, so that a second run
   into the same folder is refused at once instead of mixing two cases;
3. writes everything into a staging folder *inside* ``OUT`` (``OUT/.innerear-seg-<id>.partial/``, so
   only ``OUT`` needs to be writable and the final renames stay on one file system);
4. commits (:meth:`OutputFolder.commit`) with signals deferred: the files of the previous run (listed in
   ``OUT/innerear-seg-run.json``, the run manifest) that the new run does not write are removed, each
   new file is moved in with ``os.replace``, ``report.json`` last, then the manifest is rewritten;
5. always removes its staging folder; staging folders of killed runs are removed by the next run.

Files in ``OUT`` that no run made (``OUT/meshes/manual_cochlea.stl``, ``notes.txt``) are never touched.
"""
from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import shutil
import signal
import threading
import time
import uuid
from pathlib import Path
from typing import Iterable, Iterator

from .atomic_write import fsync_path, write_text_atomic
from .errors import OutputError

__all__ = ["OutputFolder", "RUN_MANIFEST_FILE", "LOCK_FILE", "deferred_signals", "describe_write_error",
           "DEFAULT_MIN_FREE_BYTES"]

RUN_MANIFEST_FILE = "innerear-seg-run.json"
LOCK_FILE = ".innerear-seg.lock"
_PARTIAL_RE = re.compile(r"^\.innerear-seg-[0-9a-f]{12}\.partial$")
_OLD_PARTIAL_RE = r"^\.{name}\.[0-9a-f]{{12}}\.partial$"  # staging folders of versions that staged beside OUT
#: Free space a run needs in OUT's file system (a case's outputs are a few MB; meshes at most tens).
DEFAULT_MIN_FREE_BYTES = 64 * 1024**2


def describe_write_error(exc: BaseException, where: Path) -> str:
    """A message for a failed write that says whether the disk is full or the folder not writable."""
    code = getattr(exc, "errno", None)
    free = _free_bytes(where)
    if code in (errno.ENOSPC, errno.EDQUOT) or (free is not None and free < 1024**2):
        return (f"the disk holding '{where}' is full ({_mb(free)} free); free some space or choose another "
                f"output folder with -o. Nothing was written.")
    if code in (errno.EACCES, errno.EPERM, errno.EROFS) or not os.access(_existing(where), os.W_OK):
        return (f"no permission to write in '{where}' (read-only file system or folder); choose a writable "
                f"output folder with -o. Nothing was written.")
    detail = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
    return f"could not write the outputs in '{where}': {detail}. Nothing was written."


def _mb(n: int | None) -> str:
    return "unknown" if n is None else f"{n / 1024**2:.1f} MB"


def _existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _free_bytes(path: Path) -> int | None:
    try:
        return shutil.disk_usage(_existing(path)).free
    except OSError:
        return None


@contextlib.contextmanager
def deferred_signals(signums=(signal.SIGINT, signal.SIGTERM, getattr(signal, "SIGHUP", None))) -> Iterator[None]:
    """Hold SIGINT/SIGTERM/SIGHUP until the block ends, then deliver them (the block runs whole)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []
    previous = {}
    for s in (s for s in signums if s is not None):
        previous[s] = signal.signal(s, lambda signum, frame: received.append(signum))
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        for s in dict.fromkeys(received):
            signal.raise_signal(s)


class OutputFolder:
    """The output folder of one run (see the module docstring). Use :meth:`open` as a context manager.

    Examples
    --------
    >>> with OutputFolder.open("out", planned=["report.json"]) as folder:   # doctest: +SKIP
    ...     (folder.staging / "report.json").write_text("{}")
    ...     folder.commit(case_id="case01")
    """

    def __init__(self, out_dir: Path, *, overwrite: bool, planned: tuple[str, ...]) -> None:
        self.out_dir = out_dir
        self.overwrite = overwrite
        self.planned = planned
        self.staging: Path | None = None
        self.committed: list[str] = []
        self._created = False
        self._lock = None

    @classmethod
    @contextlib.contextmanager
    def open(cls, out_dir: str | os.PathLike, *, planned: Iterable[str] = (), overwrite: bool = False,
             input_path: str | os.PathLike | None = None,
             min_free_bytes: int = DEFAULT_MIN_FREE_BYTES) -> Iterator["OutputFolder"]:
        """Check `out_dir`, lock it and make a staging folder; always clean up on leaving.

        Parameters
        ----------
        planned : relative paths (``"report.json"``, ``"meshes/Left_cochlea.stl"``) the run may write;
            checked for clashes before any work.
        overwrite : replace files of those names that an earlier run did not make.
        input_path : the run's input, which must not be the output folder or inside it as a file we write.

        Raises
        ------
        OutputError
            The folder cannot be used; the message names why and what to do.
        """
        folder = cls(Path(os.path.abspath(out_dir)), overwrite=overwrite, planned=tuple(planned))
        folder._check_before(input_path, min_free_bytes)
        try:
            folder._enter()
            yield folder
        finally:
            folder._leave()

    # ------------------------------------------------------------------------------------------ checks
    def _check_before(self, input_path, min_free_bytes: int) -> None:
        out = self.out_dir
        if out.exists() and not out.is_dir():
            raise OutputError(f"the output folder '{out}' is an existing file; give a folder with -o "
                              f"(a new name, or an existing folder).")
        if input_path is not None:
            inp = Path(os.path.abspath(input_path))
            if inp == out or (inp.is_dir() and out.is_relative_to(inp)):
                raise OutputError(f"the output folder '{out}' is the input or inside it ('{inp}'); write the "
                                  f"outputs elsewhere with -o so that the input is never changed.")
            if inp.parent == out and inp.name in self.planned:
                raise OutputError(f"the input '{inp}' has the name of an output written into '{out}'; choose "
                                  f"another output folder with -o.")
        base = _existing(out)
        if not base.is_dir() or not os.access(base, os.W_OK | os.X_OK):
            raise OutputError(f"no permission to write in '{base}' (needed for the output folder '{out}'); "
                              f"choose a writable output folder with -o.")
        free = _free_bytes(out)
        if free is not None and free < min_free_bytes:
            raise OutputError(f"the disk holding '{out}' has {_mb(free)} free; a run needs about "
                              f"{_mb(min_free_bytes)}. Free some space or choose another output folder with -o.")
        self._check_clashes(self.planned, self._previous_files())

    def _previous_files(self) -> set[str]:
        """Files the earlier runs' manifest says they made (empty without a manifest)."""
        path = self.out_dir / RUN_MANIFEST_FILE
        if not path.is_file():
            return set()
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return {str(f) for f in data.get("files", []) + data.get("previous_files", [])}
        except (OSError, ValueError, TypeError, AttributeError):
            raise OutputError(f"the run manifest '{path}' is unreadable, so it is unknown which files in "
                              f"'{self.out_dir}' an earlier run made; move it aside, or choose another output "
                              f"folder with -o.") from None

    def _check_clashes(self, names: Iterable[str], previous: set[str]) -> None:
        for name in names:
            parts = Path(name).parts
            for i in range(1, len(parts)):  # a folder we write into must not be a file
                parent = self.out_dir.joinpath(*parts[:i])
                if parent.exists() and not parent.is_dir():
                    raise OutputError(f"'{parent}' is a file, but the outputs need a folder of that name; move "
                                      f"it aside or choose another output folder with -o.")
            dest = self.out_dir / name
            if dest.is_dir():
                raise OutputError(f"'{dest}' is a folder, but an output file of that name is to be written; move "
                                  f"it aside or choose another output folder with -o.")
            if dest.exists() and name not in previous and not self.overwrite:
                raise OutputError(f"'{dest}' exists and was not made by an earlier innerear-seg run into this "
                                  f"folder; it is left alone. Choose another output folder with -o, or pass "
                                  f"--overwrite to replace it.")

    # ------------------------------------------------------------------------------------- lifecycle
    def _enter(self) -> None:
        from filelock import FileLock, Timeout

        try:
            if not self.out_dir.exists():
                self.out_dir.mkdir(parents=True)
                self._created = True
            lock = FileLock(self.out_dir / LOCK_FILE, timeout=0)
            try:
                lock.acquire()
            except Timeout:
                raise OutputError(f"another innerear-seg run is writing into '{self.out_dir}' now; wait for it "
                                  f"to finish or choose another output folder with -o.") from None
            self._lock = lock
            self._remove_stale_partials()
            self.staging = self.out_dir / f".innerear-seg-{uuid.uuid4().hex[:12]}.partial"
            self.staging.mkdir()
        except OSError as exc:
            raise OutputError(describe_write_error(exc, self.out_dir)) from None

    def _remove_stale_partials(self) -> None:
        """Staging folders of killed runs: inside OUT (this version) and beside it (earlier versions)."""
        for entry in self.out_dir.iterdir():
            if _PARTIAL_RE.match(entry.name) and entry.is_dir():
                shutil.rmtree(entry, ignore_errors=True)
        old = re.compile(_OLD_PARTIAL_RE.format(name=re.escape(self.out_dir.name)))
        with contextlib.suppress(OSError):
            for entry in self.out_dir.parent.iterdir():
                if old.match(entry.name) and entry.is_dir():
                    shutil.rmtree(entry, ignore_errors=True)

    def _leave(self) -> None:
        if self.staging is not None:
            shutil.rmtree(self.staging, ignore_errors=True)
        if self._lock is not None:
            self._lock.release()
        if self._created and not self.committed:
            with contextlib.suppress(OSError):
                (self.out_dir / LOCK_FILE).unlink()
                self.out_dir.rmdir()

    # ----------------------------------------------------------------------------------------- commit
    def commit(self, *, case_id: str, last: str = "report.json") -> list[str]:
        """Move everything in the staging folder into OUT, replacing exactly the previous run's files.

        Runs with SIGINT/SIGTERM/SIGHUP deferred. `last` is moved in last and the previous run's copy of
        it is removed first, so a ``report.json`` never describes files of another case.

        Returns
        -------
        list of str
            The committed files, relative to OUT.
        """
        assert self.staging is not None, "commit() outside OutputFolder.open()"
        new = sorted(p.relative_to(self.staging).as_posix() for p in self.staging.rglob("*") if p.is_file())
        new.sort(key=lambda name: name == last)
        with deferred_signals():
            previous = self._previous_files()
            self._check_clashes(new, previous)
            try:
                self._write_manifest(case_id, new, state="committing", previous=sorted(previous))
                for name in sorted(previous - set(new)) + ([last] if last in previous else []):
                    with contextlib.suppress(FileNotFoundError):
                        (self.out_dir / name).unlink()
                for name in new:
                    dest = self.out_dir / name
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    os.replace(self.staging / name, dest)
                self._remove_empty_folders(previous - set(new))
                fsync_path(self.out_dir)
                self._write_manifest(case_id, new, state="complete")
            except OSError as exc:
                raise OutputError(describe_write_error(exc, self.out_dir)) from None
        self.committed = new
        return new

    def _write_manifest(self, case_id: str, files: list[str], *, state: str, previous=()) -> None:
        data = {"format": "innerear-seg run manifest", "version": 1, "state": state, "case_id": case_id,
                "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "files": files}
        if previous:
            data["previous_files"] = list(previous)
        write_text_atomic(self.out_dir / RUN_MANIFEST_FILE, json.dumps(data, indent=2) + "\n")

    def _remove_empty_folders(self, removed: set[str]) -> None:
        for folder in sorted({Path(n).parent for n in removed if Path(n).parent != Path(".")}, reverse=True):
            with contextlib.suppress(OSError):
                (self.out_dir / folder).rmdir()  # only if empty: a user's files in it keep it
