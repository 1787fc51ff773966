"""The command line as a user and as the Slicer module drive it: subcommands, JSON progress, errors,
exit codes, and no partial outputs on failure."""
from __future__ import annotations

import json

import pytest

from InnerEarSegLib.cli.main import SUBCOMMANDS, main


def test_help_lists_every_subcommand(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for name in SUBCOMMANDS:
        assert name in out


def test_missing_input_is_a_clear_error_with_exit_code_1(tmp_path, capsys):
    code = main(["segment", str(tmp_path / "nope.nii.gz"), "-o", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 1
    assert "nope.nii.gz" in err
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_segment_writes_every_output_and_json_progress_lines(small_ct, tiny_model, tmp_path, capsys):
    out = tmp_path / "out"
    code = main(["segment", str(small_ct), "-o", str(out), "--model", str(tiny_model), "--progress", "json",
                 "--device", "cpu", "--preview", "--mesh-format", "ply", "--no-islands"])
    assert code == 0
    lines = [json.loads(l) for l in capsys.readouterr().out.splitlines() if l.strip()]
    assert lines[-1]["stage"] == "done" and lines[-1]["fraction"] == 1.0
    assert {"locate", "predict", "postprocess"} <= {l["stage"] for l in lines}
    for name in ("segmentation.seg.nrrd", "labels.nii.gz", "report.json", "preview.png"):
        assert (out / name).stat().st_size > 0
    report = json.loads((out / "report.json").read_text())
    assert report["case_id"] == "case21"
    from InnerEarSegLib.report import SCHEMA_VERSION, read_report

    assert json.loads(read_report(out / "report.json").to_json()) == report and report["schema_version"] == SCHEMA_VERSION
    assert report["model"]["name"] == "tiny" and len(report["model"]["sha256"]) == 64
    assert {e["side"] for e in report["ears"]} == {"right", "left"}
    assert set(report["timings_s"]) >= {"read", "locate", "predict", "postprocess", "write"}
    assert report["options"]["postprocess"]["remove_islands"] is False
    assert all(str(p).endswith(".ply") for p in report["outputs"].get("meshes", {}).values())


@pytest.mark.slow
def test_a_failure_while_writing_leaves_no_partial_outputs(small_ct, tiny_model, tmp_path, monkeypatch, capsys):
    import InnerEarSegLib.preview as preview

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(preview, "render_preview", broken)
    out = tmp_path / "out"
    code = main(["segment", str(small_ct), "-o", str(out), "--model", str(tiny_model), "--progress", "none",
                 "--device", "cpu", "--preview", "--no-meshes"])
    assert code == 1
    assert "could not write the outputs" in capsys.readouterr().err
    assert not out.exists()
    assert not any(p.name.startswith(".out") for p in tmp_path.iterdir())


def test_interrupt_returns_130_and_says_nothing_was_kept(small_ct, tmp_path, monkeypatch, capsys):
    import InnerEarSegLib.pipeline as pipeline

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(pipeline, "segment", interrupted)
    code = main(["segment", str(small_ct), "-o", str(tmp_path / "out"), "--progress", "none"])
    assert code == 130
    assert "no partial outputs" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_cuda_request_without_a_gpu_names_the_problem(small_ct, tiny_model, tmp_path, capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present: the request is valid here")
    code = main(["segment", str(small_ct), "-o", str(tmp_path / "out"), "--model", str(tiny_model),
                 "--device", "cuda", "--progress", "none"])
    assert code == 1
    assert "cuda" in capsys.readouterr().err.lower()
