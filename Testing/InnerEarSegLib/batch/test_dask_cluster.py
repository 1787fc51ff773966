"""A study through --scheduler on a real cluster: one `dask scheduler` and two `dask worker` processes,
all on 127.0.0.1; each worker loads the model once and writes its cases into the shared study folder."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from InnerEarSegLib.batch.manifest import read_manifest_table
from InnerEarSegLib.cli.main import main

pytestmark = pytest.mark.slow


def _dask(*args) -> list[str]:
    exe = Path(sys.executable).with_name("dask")
    return [str(exe), *args] if exe.exists() else [sys.executable, "-m", "dask", *args]


@pytest.fixture()
def cluster(tmp_path):
    scheduler_file = tmp_path / "scheduler.json"
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE"}
    procs = [subprocess.Popen(_dask("scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                                    "--scheduler-file", str(scheduler_file)),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)]
    try:
        deadline = time.monotonic() + 60
        while not scheduler_file.exists():
            assert time.monotonic() < deadline, "dask scheduler did not start"
            time.sleep(0.2)
        for name in ("w1", "w2"):
            procs.append(subprocess.Popen(_dask("worker", "--scheduler-file", str(scheduler_file), "--host",
                                                "127.0.0.1", "--nthreads", "1", "--nworkers", "1", "--name", name,
                                                "--no-dashboard", "--memory-limit", "2GiB"),
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env))
        address = json.loads(scheduler_file.read_text())["address"]
        from distributed import Client

        with Client(address, timeout="30s") as client:
            client.wait_for_workers(2, timeout=120)
        yield address
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()


def test_a_study_runs_on_a_scheduler_with_two_workers(cluster, study_inputs, tiny_model, tmp_path, capsys):
    assert cluster.startswith("tcp://127.0.0.1:")
    study = tmp_path / "study"
    code = main(["batch", str(study_inputs), "-o", str(study), "--model", str(tiny_model), "--no-meshes",
                 "--scheduler", cluster, "--progress", "json"])
    assert code == 0
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert events[0]["event"] == "cluster" and events[0]["workers"] == 2
    rows = {r["case_id"]: r for r in read_manifest_table(study)}
    assert {k: r["status"] for k, r in rows.items()} == {"broken": "refused", "case21": "done", "case22": "done"}
    assert {rows[c]["worker"] for c in rows} <= {"w1", "w2"}
    from InnerEarSegLib.batch.dask_engine import available_cores

    # two workers with one Dask thread each on this host: torch threads x 2 <= cores
    assert all(2 * int(rows[c]["threads"]) <= max(2, available_cores()) for c in ("case21", "case22"))
    for case in ("case21", "case22"):
        assert (study / case / "report.json").is_file() and (study / case / "labels.nii.gz").is_file()
