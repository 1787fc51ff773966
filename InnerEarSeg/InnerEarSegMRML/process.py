"""Run ``innerear-seg segment`` in a separate process without blocking the caller (no Qt).

The Slicer logic talks to the process through two small protocols so that tests can substitute a
fake runner (`ProcessRunner.start` returns a `ProcessHandle`). The default implementation,
`SubprocessRunner`, uses :mod:`subprocess` with reader threads: `ProcessHandle.readOutputLines`
never blocks, so a GUI timer can poll it, and `ProcessHandle.kill` ends the whole process tree.
"""
from __future__ import annotations

import logging
import os
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence
from typing import Protocol

logger = logging.getLogger(__name__)


class ProcessHandle(Protocol):
    """A started process as the logic sees it."""

    def readOutputLines(self) -> list[str]:
        """Standard-output lines received since the last call (without newline); never blocks."""

    def returnCode(self) -> int | None:
        """Exit status once the process has ended and all its output was read, else ``None``."""

    def errorOutput(self) -> str:
        """Everything the process wrote to standard error so far."""

    def kill(self) -> None:
        """End the process and all its children now; safe to call more than once."""


class ProcessRunner(Protocol):
    """Starts a command; `env` replaces the environment when given."""

    def start(self, args: Sequence[str], *, env: Mapping[str, str] | None = None) -> ProcessHandle:
        """Start `args` (program first) and return at once."""


class _SubprocessHandle:
    """`ProcessHandle` over :class:`subprocess.Popen` with one reader thread per stream."""

    def __init__(self, popen: subprocess.Popen) -> None:
        self._popen = popen
        self._lines: queue.Queue[str] = queue.Queue()
        self._stderr: list[str] = []
        self._stderrLock = threading.Lock()
        self._stdoutThread = threading.Thread(target=self._readStdout, daemon=True)
        self._stderrThread = threading.Thread(target=self._readStderr, daemon=True)
        self._stdoutThread.start()
        self._stderrThread.start()

    def _readStdout(self) -> None:
        for line in self._popen.stdout:
            self._lines.put(line.rstrip("\r\n"))

    def _readStderr(self) -> None:
        for line in self._popen.stderr:
            with self._stderrLock:
                self._stderr.append(line)

    def readOutputLines(self) -> list[str]:
        lines = []
        while True:
            try:
                lines.append(self._lines.get_nowait())
            except queue.Empty:
                return lines

    def returnCode(self) -> int | None:
        code = self._popen.poll()
        if code is None or self._stdoutThread.is_alive():
            return None
        self._stderrThread.join(timeout=1.0)
        return code

    def errorOutput(self) -> str:
        with self._stderrLock:
            return "".join(self._stderr)

    def kill(self) -> None:
        if self._popen.poll() is not None:
            return
        try:
            if sys.platform == "win32":
                subprocess.run(["taskkill", "/F", "/T", "/PID", str(self._popen.pid)],
                               capture_output=True, check=False)
            else:
                os.killpg(self._popen.pid, signal.SIGKILL)  # the child leads its own process group
        except (ProcessLookupError, PermissionError, OSError) as exc:
            logger.debug("killing the process group failed (%s); killing the process only", exc)
            self._popen.kill()
        self._popen.wait(timeout=10)
        self._stdoutThread.join(timeout=2.0)


class SubprocessRunner:
    """Default `ProcessRunner`: a new process group (POSIX) / process tree (Windows) per run."""

    def start(self, args: Sequence[str], *, env: Mapping[str, str] | None = None) -> ProcessHandle:
        kwargs: dict = {}
        if sys.platform == "win32":
            kwargs["creationflags"] = subprocess.CREATE_NEW_PROCESS_GROUP | subprocess.CREATE_NO_WINDOW
        else:
            kwargs["start_new_session"] = True
        logger.info("starting: %s", " ".join(str(a) for a in args))
        popen = subprocess.Popen(
            [str(a) for a in args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
            text=True, encoding="utf-8", errors="replace", bufsize=1,
            env=dict(env) if env is not None else None, **kwargs)
        return _SubprocessHandle(popen)
