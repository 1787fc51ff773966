"""The in-process API loads the model once and segments many CTs, each written completely or not at all."""
from __future__ import annotations

import json

import pytest
import SimpleITK as sitk

import InnerEarSegLib
from InnerEarSegLib import pipeline
from InnerEarSegLib.errors import InputError
from InnerEarSegLib.options import SegmentOptions

pytestmark = pytest.mark.slow


def test_one_segmenter_loads_the_model_once_for_many_cts(small_cts, tiny_model, tmp_path, monkeypatch):
    loads = []
    real = pipeline.load_predictor
    monkeypatch.setattr(pipeline, "load_predictor", lambda options: loads.append(options) or real(options))
    segmenter = InnerEarSegLib.Segmenter(SegmentOptions(model_path=tiny_model, meshes=False))
    for name, ct in small_cts.items():
        sitk.WriteImage(ct, str(tmp_path / f"{name}_ct.nrrd"))
        case = segmenter.run_case(tmp_path / f"{name}_ct.nrrd", tmp_path / "out" / name)
        assert case.case_id == name and set(case.timings_s) == {"read", "pipeline", "write", "total"}
        report = json.loads((tmp_path / "out" / name / "report.json").read_text())
        assert report["case_id"] == name and report["model"]["version"] == "0.0.7"
        assert report["input"]["format"].lower() == "nrrd"
    assert len(loads) == 1


def test_a_case_that_fails_writes_nothing(tiny_model, tmp_path):
    segmenter = InnerEarSegLib.Segmenter(SegmentOptions(model_path=tiny_model, meshes=False))
    flat = sitk.Image(64, 64, 32, sitk.sitkInt16)
    sitk.WriteImage(flat, str(tmp_path / "flat.nrrd"))
    with pytest.raises(InputError, match="constant"):
        segmenter.run_case(tmp_path / "flat.nrrd", tmp_path / "out")
    assert not (tmp_path / "out").exists()
