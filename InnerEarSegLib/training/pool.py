"""The in-memory pool of training samples and the background processes that keep refreshing it."""
from __future__ import annotations

import multiprocessing as mp
import queue
import time
from typing import Iterator

import numpy as np
import torch

from .sources import SampleSource


def _worker_loop(source: SampleSource, seeds: list[int], out: "mp.Queue", stop: "mp.Event", duty: float) -> None:
    """Background process: generate samples for `seeds` (in order) until told to stop.

    Sleeps between samples so that it uses about `duty` of one core, leaving the rest to training.
    """
    import SimpleITK as sitk

    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(1)
    torch.set_num_threads(1)
    i = 0
    while not stop.is_set():
        seed = seeds[i % len(seeds)]
        i += 1
        t0 = time.monotonic()
        hu, labels = source(seed)
        stop.wait((time.monotonic() - t0) * (1.0 / duty - 1.0))
        while not stop.is_set():
            try:
                out.put((seed, hu.astype(np.int16), labels), timeout=1.0)
                break
            except queue.Full:
                continue


class SamplePool:
    """Samples kept in memory (HU as int16); a background process replaces random entries with new phantoms."""

    def __init__(self, source: SampleSource, seeds: Iterator[int], *, size: int, workers: int, refresh: bool,
                 duty: float = 1.0) -> None:
        self.source = source
        self._seeds = seeds
        self.items: list[tuple[int, np.ndarray, np.ndarray]] = []
        self.generated = 0
        self._procs: list = []
        self._queue = None
        self._stop = None
        self._size = size
        self._workers = workers if refresh else 0
        self._duty = duty

    def fill(self, *, deadline: float) -> None:
        """Generate the initial pool in-process (stops early at `deadline`, keeping at least one batch)."""
        while len(self.items) < self._size and (time.monotonic() < deadline or len(self.items) < 2):
            seed = next(self._seeds)
            hu, labels = self.source(seed)
            self.items.append((seed, hu.astype(np.int16), labels))
            self.generated += 1

    def start_workers(self) -> None:
        if self._workers <= 0:
            return
        ctx = mp.get_context("spawn")
        self._queue = ctx.Queue(maxsize=4)
        self._stop = ctx.Event()
        for _ in range(self._workers):
            seeds = [next(self._seeds) for _ in range(20_000)]
            proc = ctx.Process(target=_worker_loop, args=(self.source, seeds, self._queue, self._stop, self._duty),
                               daemon=True)
            proc.start()
            self._procs.append(proc)

    def refresh(self, rng: np.random.Generator) -> None:
        """Swap in whatever the workers produced since the last call."""
        if self._queue is None:
            return
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return
            if len(self.items) < self._size:
                self.items.append(item)
            else:
                self.items[int(rng.integers(len(self.items)))] = item
            self.generated += 1

    def stop(self) -> None:
        if self._stop is not None:
            self._stop.set()
        for proc in self._procs:
            proc.join(timeout=10)
            if proc.is_alive():
                proc.terminate()
        self._procs = []
