"""Which cases a study holds: folder scans, CSVs, DICOM folders; clear errors for what cannot work."""
from __future__ import annotations

import pytest

from InnerEarSegLib.batch.inputs import discover_cases
from InnerEarSegLib.errors import InputError
from InnerEarSegLib.segmenter import case_id_from_path


def _touch(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x")
    return path


def test_a_folder_scan_takes_the_cts_and_passes_over_label_maps_and_reports(tmp_path):
    for name in ("b_ct.nii.gz", "a.nrrd", "a_labels.nii.gz", "a.seg.nrrd", "a.json", "preview.png", ".hidden.nrrd"):
        _touch(tmp_path / name)
    cases = discover_cases([tmp_path])
    assert [c.case_id for c in cases] == ["a", "b"]
    assert cases[0].path == str((tmp_path / "a.nrrd").resolve())


def test_a_csv_gives_ids_groups_and_paths_relative_to_itself(tmp_path):
    _touch(tmp_path / "data" / "x.nii.gz")
    (tmp_path / "study.csv").write_text("case_id,path,group\nP1,data/x.nii.gz,normal\nP2,/nowhere/y.nii.gz,scd\n")
    cases = discover_cases([tmp_path / "study.csv"])
    assert [(c.case_id, c.group) for c in cases] == [("P1", "normal"), ("P2", "scd")]
    assert cases[0].path == str((tmp_path / "data" / "x.nii.gz").resolve())
    assert cases[1].path == "/nowhere/y.nii.gz"  # a missing CT is refused per case at run time, not here


def test_a_csv_without_the_columns_names_them(tmp_path):
    (tmp_path / "s.csv").write_text("id,file\n1,a.nii.gz\n")
    with pytest.raises(InputError, match="case_id,path"):
        discover_cases([tmp_path / "s.csv"])


def test_two_inputs_with_one_case_id_are_refused_before_any_work(tmp_path):
    a, b = _touch(tmp_path / "one" / "c7_ct.nii.gz"), _touch(tmp_path / "two" / "c7.nrrd")
    with pytest.raises(InputError, match="c7"):
        discover_cases([a, b])


def test_a_missing_input_and_an_empty_folder_are_clear_errors(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        discover_cases([tmp_path / "nope"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no CT found"):
        discover_cases([tmp_path / "empty"])


@pytest.mark.parametrize("path, expected", [("case21_ct.nrrd", "case21"), ("/d/P0007", "P0007"),
                                            ("x.nii.gz", "x"), ("scan.mha", "scan")])
def test_case_ids_come_from_one_rule(path, expected):
    assert case_id_from_path(path) == expected
