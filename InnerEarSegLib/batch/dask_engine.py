"""Run a study's cases on a ``dask.distributed`` cluster: a LocalCluster (``--workers N``) or a running
scheduler (``--scheduler ADDRESS``: ``dask scheduler`` + ``dask worker``, or dask-jobqueue on SLURM/PBS).

Each worker loads the model once (:class:`SegmenterPlugin`); tasks carry paths, not arrays; each worker
writes its cases into the shared study folder through :func:`InnerEarSegLib.outputs.write_outputs` (atomic);
only the client journals the manifest. Threads: one Dask task per worker at a time, and torch's
intra-op threads per worker = the host's cores / the workers on that host, so workers x threads <= cores.
"""
from __future__ import annotations

import logging
import os
from collections import Counter
from typing import Iterator
from urllib.parse import urlparse

from distributed import Client, LocalCluster, WorkerPlugin, as_completed, get_worker

from ..model.device import torch_threads
from .inputs import CaseInput
from .run import StudyConfig, process_case

log = logging.getLogger(__name__)
PLUGIN_NAME = "innerear-seg-segmenter"


def available_cores() -> int:
    """Cores this process may run on (the CPU affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1




class SegmenterPlugin(WorkerPlugin):
    """Loads one :class:`~InnerEarSegLib.segmenter.Segmenter` per worker when the worker starts (or joins).

    ``workers_per_host`` (host -> number of workers seen there) sets the torch threads of a worker to
    ``cores // (workers on its host x its Dask threads)``; a host not listed counts one worker.
    """

    name = PLUGIN_NAME

    def __init__(self, options, workers_per_host: dict[str, int] | None = None) -> None:
        self.options = options
        self.workers_per_host = dict(workers_per_host or {})
        self.segmenter = None
        self.error: Exception | None = None
        self.torch_threads = 1

    async def setup(self, worker) -> None:
        import asyncio

        host = urlparse(worker.address).hostname or ""
        n_here = max(1, self.workers_per_host.get(host, 1))
        try:  # workers that joined after registration (e.g. later dask-jobqueue jobs) count too
            info = await worker.scheduler.identity()
            n_here = max(n_here, sum(1 for w in info.get("workers", {}).values() if w.get("host") == host))
        except (OSError, KeyError, TypeError) as exc:
            log.warning("worker %s could not ask the scheduler for its neighbours (%s)", worker.address, exc)
        self.torch_threads = max(1, available_cores() // (n_here * max(1, worker.state.nthreads)))
        await asyncio.get_running_loop().run_in_executor(None, self._load)

    def _load(self) -> None:
        from ..segmenter import Segmenter

        try:
            with torch_threads(self.torch_threads):
                self.segmenter = Segmenter(self.options)
        except Exception as exc:  # reported with each task, so the client names the worker and the reason
            self.error = exc
            log.exception("worker could not load the model")


def _run_on_worker(case: CaseInput, config: StudyConfig) -> dict:
    worker = get_worker()
    plugin = worker.plugins[PLUGIN_NAME]
    if plugin.segmenter is None:
        raise RuntimeError(f"worker {worker.address} could not load the model: {plugin.error}")
    with torch_threads(plugin.torch_threads):
        return process_case(plugin.segmenter, case, config, worker=str(worker.name))


class DaskEngine:
    """Cases as Dask tasks on `client`'s cluster; records yielded as they complete."""

    def __init__(self, client: Client) -> None:
        self.client = client

    def map(self, cases: list[CaseInput], config: StudyConfig) -> Iterator[dict]:
        if not cases:
            return
        hosts = Counter(urlparse(addr).hostname for addr in self.client.scheduler_info()["workers"])
        self.client.register_plugin(SegmenterPlugin(config.options, dict(hosts)), name=PLUGIN_NAME)
        futures = {self.client.submit(_run_on_worker, case, config, key=f"innerear-seg-{case.case_id}",
                                      pure=False, retries=0): case for case in cases}
        try:
            for future in as_completed(futures):
                case = futures[future]
                if future.status == "error":
                    yield self._lost(case, config, future.exception())
                else:
                    yield future.result()
        finally:
            self.client.cancel(list(futures))

    @staticmethod
    def _lost(case: CaseInput, config: StudyConfig, exc: BaseException) -> dict:
        """A task that raised outside process_case (worker died, model not loaded): a failed record."""
        from .run import _empty_record

        record = _empty_record(case, config, worker="dask")
        record.update(status="failed", reason=f"{type(exc).__name__}: {exc}")
        return record


def start_local_cluster(n_workers: int) -> tuple[LocalCluster, Client]:
    """A LocalCluster of `n_workers` processes on 127.0.0.1, one Dask thread each, dashboard on a free port."""
    if n_workers < 1:
        raise ValueError(f"n_workers must be at least 1, got {n_workers}")
    cluster = LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                           dashboard_address="127.0.0.1:0", silence_logs=logging.WARNING)
    return cluster, Client(cluster)


def connect(address: str) -> Client:
    """A client of the running scheduler at `address` (e.g. ``tcp://10.0.0.5:8786``)."""
    return Client(address, timeout="30s")


def dashboard_link(client: Client) -> str | None:
    try:
        return client.dashboard_link
    except (AttributeError, KeyError):  # the scheduler runs without a dashboard
        return None
