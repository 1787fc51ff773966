"""Faults while writing outputs: nothing a user made is lost, nothing is half-written, errors are messages."""
from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from InnerEarSegLib.cli.main import main
from InnerEarSegLib.output_folder import LOCK_FILE, RUN_MANIFEST_FILE, OutputFolder

OUTPUTS = {"segmentation.seg.nrrd", "labels.nii.gz", "report.json"}


def segment(ct, out, *extra) -> int:
    return main(["segment", str(ct), "-o", str(out), "--progress", "none", "--device", "cpu", *extra])


def visible_files(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*")
            if p.is_file() and not p.name.startswith(".")}


def test_a_second_case_replaces_exactly_the_first_cases_files_and_keeps_the_users(small_ct, cached_pipeline,
                                                                                   tmp_path, capsys):
    out = tmp_path / "out"
    (out / "meshes").mkdir(parents=True)
    (out / "meshes" / "manual_cochlea.stl").write_text("solid mine")
    (out / "notes.txt").write_text("mine")
    assert segment(small_ct, out, "--preview", "--case-id", "first") == 0
    first = visible_files(out)
    assert {"preview.png", RUN_MANIFEST_FILE, "meshes/manual_cochlea.stl"} <= first
    assert any(f.startswith("meshes/Right_") for f in first)
    assert segment(small_ct, out, "--no-meshes", "--case-id", "second") == 0
    second = visible_files(out)
    assert second == OUTPUTS | {RUN_MANIFEST_FILE, "notes.txt", "meshes/manual_cochlea.stl"}
    assert (out / "meshes" / "manual_cochlea.stl").read_text() == "solid mine"
    assert json.loads((out / "report.json").read_text())["case_id"] == "second"
    manifest = json.loads((out / RUN_MANIFEST_FILE).read_text())
    assert manifest["state"] == "complete" and set(manifest["files"]) == OUTPUTS


@pytest.mark.parametrize("make, what", [
    (lambda out: (out / "meshes").write_text("a user's file"), "is a file"),
    (lambda out: (out / "report.json").mkdir(), "is a folder"),
    (lambda out: (out / "labels.nii.gz").write_text("a user's labels"), "not made by an earlier innerear-seg run"),
])
def test_a_clash_with_a_users_file_is_refused_before_the_pipeline_and_nothing_is_touched(
        small_ct, cached_pipeline, tmp_path, capsys, make, what):
    out = tmp_path / "out"
    out.mkdir()
    make(out)
    before = {p.name for p in out.iterdir()}
    assert segment(small_ct, out) == 1
    err = capsys.readouterr().err
    assert what in err and "Traceback" not in err
    assert cached_pipeline == []  # refused before any work
    assert {p.name for p in out.iterdir()} == before


def test_overwrite_replaces_a_users_file_of_our_name(small_ct, cached_pipeline, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "labels.nii.gz").write_text("old")
    assert segment(small_ct, out, "--overwrite", "--no-meshes") == 0
    assert (out / "labels.nii.gz").read_bytes()[:2] == b"\x1f\x8b"


@pytest.mark.parametrize("kind", ["existing file", "input folder"])
def test_output_paths_that_cannot_be_a_folder_are_refused_before_the_pipeline(small_ct, cached_pipeline, tmp_path,
                                                                              capsys, kind):
    target = tmp_path / "a_file.txt"
    target.write_text("mine")
    out = target if kind == "existing file" else small_ct.parent
    assert main(["segment", str(small_ct if kind == "existing file" else small_ct.parent), "-o", str(out),
                 "--progress", "none"]) == 1
    err = capsys.readouterr().err
    assert ("is an existing file" if kind == "existing file" else "is the input") in err
    assert cached_pipeline == [] and target.read_text() == "mine"


def test_dot_as_the_output_folder_writes_into_the_current_folder(small_ct, cached_pipeline, tmp_path, monkeypatch,
                                                                 capsys):
    monkeypatch.chdir(tmp_path)
    assert segment(small_ct, ".", "--no-meshes") == 0
    assert OUTPUTS <= visible_files(tmp_path)


def test_a_second_run_into_a_folder_in_use_is_refused_clearly(small_ct, cached_pipeline, tmp_path, capsys):
    out = tmp_path / "out"
    with OutputFolder.open(out, planned=["report.json"]):
        assert segment(small_ct, out) == 1
    assert "another innerear-seg run is writing" in capsys.readouterr().err
    assert cached_pipeline == []


def test_stale_partial_folders_of_killed_runs_are_removed_by_the_next_run(tmp_path):
    out = tmp_path / "out"
    stale_inside = out / ".innerear-seg-0123456789ab.partial"
    stale_beside = tmp_path / ".out.0123456789ab.partial"  # staging folders of earlier versions
    for stale in (stale_inside, stale_beside):
        stale.mkdir(parents=True)
        (stale / "report.json").write_text("half")
    with OutputFolder.open(out, planned=["report.json"]) as folder:
        (folder.staging / "report.json").write_text("{}")
        folder.commit(case_id="c")
    assert not stale_inside.exists() and not stale_beside.exists()
    assert sorted(p.name for p in out.iterdir()) == sorted([LOCK_FILE, RUN_MANIFEST_FILE, "report.json"])


def test_the_staging_folder_is_inside_out_so_only_out_needs_to_be_writable(tmp_path):
    parent = tmp_path / "parent"
    out = parent / "out"
    out.mkdir(parents=True)
    parent.chmod(0o555)
    try:
        with OutputFolder.open(out, planned=["report.json"]) as folder:
            assert folder.staging.parent == out
            (folder.staging / "report.json").write_text("{}")
            folder.commit(case_id="c")
    finally:
        parent.chmod(0o755)
    assert (out / "report.json").read_text() == "{}"


@pytest.mark.parametrize("code, message", [(errno.ENOSPC, "is full"), (errno.EROFS, "no permission")])
def test_disk_full_and_read_only_are_reported_as_such_with_nothing_written(small_ct, cached_pipeline, tmp_path,
                                                                            monkeypatch, capsys, code, message):
    import InnerEarSegLib.segfile as segfile

    def failing(*args, **kwargs):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(segfile, "write_seg_nrrd", failing)
    out = tmp_path / "out"
    assert segment(small_ct, out) == 1
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not out.exists()


def test_too_little_free_space_is_refused_before_the_pipeline(small_ct, cached_pipeline, tmp_path, monkeypatch,
                                                              capsys):
    import shutil

    import InnerEarSegLib.output_folder as output_folder

    monkeypatch.setattr(output_folder.shutil, "disk_usage",
                        lambda path: shutil._ntuple_diskusage(10**12, 10**12 - 1000, 1000))
    assert segment(small_ct, tmp_path / "out") == 1
    assert "free" in capsys.readouterr().err
    assert cached_pipeline == [] and not (tmp_path / "out").exists()


@pytest.mark.parametrize("signum, code", [(signal.SIGTERM, 143), (signal.SIGHUP, 129)])
def test_sigterm_and_sighup_while_running_leave_nothing_half_written(small_ct, tiny_model, tmp_path, signum, code):
    out = tmp_path / "out"
    (out / "notes.txt").parent.mkdir()
    (out / "notes.txt").write_text("mine")
    proc = subprocess.Popen([sys.executable, "-m", "InnerEarSegLib.cli.main", "segment", str(small_ct), "-o",
                             str(out), "--model", str(tiny_model), "--device", "cpu", "--progress", "json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ, OMP_NUM_THREADS="1"))
    for line in proc.stdout:  # the staging folder exists once the pipeline reports progress
        if '"stage": "locate"' in line:
            break
    assert list(out.glob(".innerear-seg-*.partial")), "the run should be staging inside OUT"
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == code, err
    assert "no partial outputs were kept" in err and "Traceback" not in err
    assert sorted(p.name for p in out.iterdir() if p.name != LOCK_FILE) == ["notes.txt"]
