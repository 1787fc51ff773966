"""Progress reporting and cancellation shared by the library, the CLI and the Slicer module.

The library never prints: it calls ``progress(stage, fraction, message)`` and checks a
:class:`CancelToken` between stages.
"""
from __future__ import annotations

import threading
from typing import Protocol


class ProgressCallback(Protocol):
    def __call__(self, stage: str, fraction: float, message: str) -> None:
        """`stage` is one of the pipeline stage names, `fraction` in [0, 1] of the whole job."""


def no_progress(stage: str, fraction: float, message: str) -> None:
    """A progress callback that does nothing."""


class Cancelled(Exception):
    """Raised inside the library when the cancel token was set; nothing has been written."""


class CancelToken:
    """Thread-safe cancel flag checked between stages (and inside long loops)."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def raise_if_cancelled(self) -> None:
        if self._event.is_set():
            raise Cancelled("cancelled by the user")
