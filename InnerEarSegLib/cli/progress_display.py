"""Turn library progress callbacks into a progress bar (person) or JSON lines (programs)."""
from __future__ import annotations

import json
import sys
import time
from typing import TextIO


class ProgressPrinter:
    """Callable progress sink. ``mode`` is ``"bar"``, ``"json"`` or ``"none"``.

    JSON mode writes one object per line to stdout: ``{"stage", "fraction", "message", "elapsed_s"}``,
    which the Slicer module reads.
    """

    def __init__(self, mode: str = "bar", stream: TextIO | None = None) -> None:
        if mode not in ("bar", "json", "none"):
            raise ValueError(f"progress mode must be 'bar', 'json' or 'none', got {mode!r}")
        self.mode = mode
        self.stream = stream or (sys.stdout if mode == "json" else sys.stderr)
        self._t0 = time.perf_counter()

    def __call__(self, stage: str, fraction: float, message: str) -> None:
        elapsed = time.perf_counter() - self._t0
        if self.mode == "json":
            self.stream.write(json.dumps({"stage": stage, "fraction": round(float(fraction), 4),
                                          "message": message, "elapsed_s": round(elapsed, 3)}) + "\n")
            self.stream.flush()
        elif self.mode == "bar":
            width = 30
            filled = int(round(width * max(0.0, min(1.0, fraction))))
            bar = "#" * filled + "-" * (width - filled)
            end = "\n" if fraction >= 1.0 else ""
            self.stream.write(f"\r[{bar}] {100 * fraction:5.1f}% {stage:<11} {message[:60]:<60}{end}")
            self.stream.flush()

    def close(self) -> None:
        if self.mode == "bar":
            self.stream.write("\n")
            self.stream.flush()


def add_progress_argument(parser) -> None:
    parser.add_argument("--progress", choices=("bar", "json", "none"), default="bar",
                        help="progress display: a bar for a person, JSON lines for programs, or none")
