"""A study as a user runs it: bad CTs reported and the rest done, a rerun skips what is done, a kill -9
followed by a resume leaves the same manifest as an uninterrupted run, and changed options rerun."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest
import SimpleITK as sitk

from InnerEarSegLib.batch.manifest import read_manifest_table
from InnerEarSegLib.cli.main import main

pytestmark = pytest.mark.slow
STABLE = ("case_id", "status", "reason", "path", "out_dir", "model_sha256", "model_version", "options_key",
          "right_likert", "left_likert")


def _batch(inputs, out, model, *extra):
    return ["batch", str(inputs), "-o", str(out), "--model", str(model), "--no-meshes", *extra]


def _stable(study):
    return [{k: row[k] for k in STABLE} for row in read_manifest_table(study)]


def test_a_broken_ct_is_refused_with_its_reason_and_the_others_are_done(study_inputs, tiny_model, tmp_path, capsys,
                                                                      small_phantoms):
    study = tmp_path / "study"
    assert main(_batch(study_inputs, study, tiny_model, "--progress", "none")) == 0
    rows = {r["case_id"]: r for r in read_manifest_table(study)}
    assert {k: r["status"] for k, r in rows.items()} == {"broken": "refused", "case21": "done", "case22": "done"}
    assert "unknown or corrupt image format" in rows["broken"]["reason"]
    assert not (study / "broken").exists()
    for case in ("case21", "case22"):
        report = json.loads((study / case / "report.json").read_text())
        assert report["case_id"] == case and report["model"]["sha256"] == rows[case]["model_sha256"]
        assert rows[case]["right_likert"] in {"1", "2", "3", "4"}
        assert rows[case]["right_trust"] == report["ears"][0]["trust"]["flag"]  # the manifest carries the flag
    assert "2 done" in capsys.readouterr().out

    # innerear-seg evaluate takes the study manifest: the done cases against their references
    ref = tmp_path / "ref"
    ref.mkdir()
    for case, (_, labels) in small_phantoms.items():
        sitk.WriteImage(labels, str(ref / f"{case}_labels.nii.gz"))
    assert main(["evaluate", "--pred", str(study / "manifest.csv"), "--ref", str(ref), "-o", str(tmp_path / "ev"),
                 "--progress", "none"]) == 0
    assert "2 cases" in capsys.readouterr().err

    # a rerun segments nothing that is done: the done records (and their finish times) are untouched
    before = {k: r["finished"] for k, r in rows.items()}
    assert main(_batch(study_inputs, study, tiny_model, "--progress", "json")) == 0
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert events[0] == {"event": "start", "total": 3, "skipped": 2, "pending": 1}
    after = {r["case_id"]: r["finished"] for r in read_manifest_table(study)}
    assert after["case21"] == before["case21"] and after["case22"] == before["case22"]

    # other options are another result: every case runs again
    assert main(_batch(study_inputs, study, tiny_model, "--progress", "json", "--sigma", "1.0")) == 0
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert events[0]["skipped"] == 0


def test_kill_9_mid_study_then_resume_gives_the_manifest_of_an_uninterrupted_run(study_inputs, tiny_model, tmp_path):
    reference, killed = tmp_path / "reference", tmp_path / "killed"
    assert main(_batch(study_inputs, reference, tiny_model, "--progress", "none")) == 0

    cmd = [sys.executable, "-m", "InnerEarSegLib.cli.main",
           *_batch(study_inputs, killed, tiny_model, "--progress", "json")]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            env={**os.environ, "OMP_WAIT_POLICY": "PASSIVE"})
    for line in proc.stdout:  # kill as soon as the first CT is done, while the next one is being segmented
        event = json.loads(line)
        if event.get("event") == "case" and event["status"] == "done":
            os.kill(proc.pid, signal.SIGKILL)
            break
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    interrupted = {r["case_id"]: r["status"] for r in read_manifest_table(killed)}
    assert list(interrupted.values()).count("done") == 1  # the kill came before the second CT was finished

    assert main(_batch(study_inputs, killed, tiny_model, "--progress", "none")) == 0
    assert _stable(killed) == _stable(reference)
    for row in read_manifest_table(killed):
        if row["status"] == "done":
            assert (killed / row["case_id"] / "labels.nii.gz").is_file()
