"""report.json has a versioned schema: the code that writes it reads it back, a missing field or a newer
schema is an error that says which, and the per-ear trust flag has its place."""
import json

import pytest

from InnerEarSegLib.report import (SCHEMA_VERSION, BoxRecord, EarRecord, ModelRecord, ReportError,
                                   SegmentationReport, StructureRecord, read_report)


def _report(**changes):
    ear = EarRecord(side="left", centre_lps_mm=(30.0, 1.5, -2.0), confidence=0.93, source="auto",
                    box=BoxRecord((30.1, 1.4, -2.2), 96, 0.3),
                    structures={"cochlea": StructureRecord(11, 80.5)}, labyrinth_volume_mm3=80.5,
                    assessment={"likert": 1, "structures": {"cochlea": {"status": "present"}}},
                    trust={"flag": "doubtful", "reasons": ["cochlea volume below range"]})
    fields = dict(case_id="phantom_00042", model=ModelRecord("innerear_unet3d_v1", "2.0.0", "unet3d", "ab" * 32),
                  device="cpu", timings_s={"read": 0.1}, ears=(ear,), outputs={"labels": "labels.nii.gz"})
    return SegmentationReport(**{**fields, **changes})


def test_a_report_written_as_json_reads_back_equal_with_its_schema_version_first(tmp_path):
    report = _report()
    path = tmp_path / "report.json"
    path.write_text(report.to_json())
    assert next(iter(json.loads(path.read_text()))) == "schema_version"
    back = read_report(path)
    assert back == report and back.schema_version == SCHEMA_VERSION
    assert back.ear("left").trust["flag"] == "doubtful" and back.ear("right") is None


def test_a_report_of_a_newer_schema_is_refused_saying_to_update():
    data = _report().to_dict()
    data["schema_version"] = SCHEMA_VERSION + 1
    with pytest.raises(ReportError, match=f"schema version {SCHEMA_VERSION + 1}.*update InnerEarSeg"):
        SegmentationReport.from_dict(data)


def test_an_unversioned_report_is_refused_instead_of_read_with_defaults():
    data = _report().to_dict()
    del data["schema_version"]
    with pytest.raises(ReportError, match="no integer schema_version"):
        SegmentationReport.from_dict(data)


@pytest.mark.parametrize("path, field", [(("device",), "device"), (("model", "version"), "version"),
                                         (("ears", 0, "box"), "box")])
def test_a_missing_field_is_an_error_that_names_it(path, field):
    data = _report().to_dict()
    target = data
    for key in path[:-1]:
        target = target[key]
    del target[path[-1]]
    with pytest.raises(ReportError, match=field):
        SegmentationReport.from_dict(data)


def test_a_report_that_is_not_json_says_so(tmp_path):
    (tmp_path / "report.json").write_text("{half")
    with pytest.raises(ReportError, match="not valid JSON"):
        read_report(tmp_path / "report.json")
