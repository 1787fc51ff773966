"""One case id: segment's report, the reader's ratings and evaluate's join all name a case the same way,
so the paper's reader-Likert tables (4-5) are filled, and an empty join is an error, not empty tables."""
import csv
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from InnerEarSegLib.cases import case_id_from_path
from InnerEarSegLib.cli import main as cli_main
from InnerEarSegLib.evaluate.study import case_id_of, find_label_files
from InnerEarSegLib.review.panel import ReviewPanelState
from InnerEarSegLib.review.ratings import RatingStore, read_ratings_csv


@pytest.mark.parametrize("name, expected", [
    ("phantom_00042_ct.nii.gz", "phantom_00042"), ("phantom_00042_labels.nii.gz", "phantom_00042"),
    ("phantom_00042.seg.nrrd", "phantom_00042"), ("Case7-GT.mha", "Case7"), ("case7/labels.nii.gz", "case7"),
    ("case7/ct.nrrd", "case7"), ("dicom/series_12", "series_12"), ("labels.nii.gz", "case"),
])
def test_case_ids_drop_the_extension_and_the_files_role(name, expected):
    assert case_id_from_path(name) == expected


def test_the_ct_the_rater_opened_and_the_label_maps_evaluate_reads_give_one_case_id(tmp_path):
    ct = tmp_path / "phantom_00042_ct.nii.gz"
    state = ReviewPanelState(reader_id="JL", store_factory=RatingStore.for_case)
    state.open_case(ct)
    assert state.case_id == case_id_of(tmp_path / "phantom_00042_labels.nii.gz") == case_id_from_path(ct)
    assert case_id_of(ct) is None  # the CT beside the labels is not taken for a label map


def _write(path: Path, arr) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    sitk.WriteImage(sitk.GetImageFromArray(np.asarray(arr, np.uint8)), str(path))


@pytest.fixture
def main(monkeypatch):
    monkeypatch.setattr(cli_main, "SUBCOMMANDS", {"evaluate": "evaluate"})
    return cli_main.main


def test_ratings_saved_on_phantom_cts_fill_the_reader_likert_tables_of_evaluate(tmp_path, main):
    ref = np.zeros((8, 8, 8))
    ref[2:6, 2:6, 2:6] = 1
    scores = {"phantom_00041": 1, "phantom_00042": 3}
    for cid, likert in scores.items():  # a phantom folder: <case>_ct.nii.gz beside <case>_labels.nii.gz
        _write(tmp_path / "ref" / f"{cid}_ct.nii.gz", ref * 7)
        _write(tmp_path / "ref" / f"{cid}_labels.nii.gz", ref)
        _write(tmp_path / "pred" / cid / "labels.nii.gz", ref)
        state = ReviewPanelState(reader_id="JL", store_factory=lambda _p: RatingStore(tmp_path, stem="study"))
        state.open_case(tmp_path / "ref" / f"{cid}_ct.nii.gz")
        state.set_score("left", likert)
        state.save()
    assert sorted(find_label_files(tmp_path / "ref")) == sorted(scores)
    assert {r.case_id for r in read_ratings_csv(tmp_path / "study.csv")} == set(scores)
    out = tmp_path / "out"
    assert main(["evaluate", "--pred", str(tmp_path / "pred"), "--ref", str(tmp_path / "ref"), "--ratings",
                 str(tmp_path / "study.csv"), "-o", str(out), "--progress", "none"]) == 0
    with open(out / "per_case.csv") as fh:
        assert {r["case_id"]: int(r["likert"]) for r in csv.DictReader(fh)} == scores
    md = (out / "report.md").read_text()
    assert "| n (%) | 1 (50%) | 0 (0%) | 1 (50%) | 0 (0%) |" in md


def _evaluate_one_case_with_ratings(tmp_path, main, ratings_name: str, ratings_text: str) -> int:
    ref = np.ones((4, 4, 4))
    _write(tmp_path / "ref" / "a_labels.nii.gz", ref)
    _write(tmp_path / "pred" / "a_labels.nii.gz", ref)
    (tmp_path / ratings_name).write_text(ratings_text)
    return main(["evaluate", "--pred", str(tmp_path / "pred"), "--ref", str(tmp_path / "ref"), "--ratings",
                 str(tmp_path / ratings_name), "-o", str(tmp_path / "o"), "--progress", "none"])


def test_ratings_of_other_cases_are_an_error_naming_both_sides_not_empty_tables(tmp_path, main, capsys):
    assert _evaluate_one_case_with_ratings(tmp_path, main, "ratings.csv", "case_id,side,likert\na_ct,left,2\n") == 1
    err = capsys.readouterr().err
    assert "none of the 1 evaluated cases (a) has a reader score" in err and "(a_ct)" in err
    assert not (tmp_path / "o").exists()


def test_a_ratings_file_that_is_not_a_ratings_csv_is_refused_naming_the_missing_column(tmp_path, main, capsys):
    assert _evaluate_one_case_with_ratings(tmp_path, main, "notes.txt", "just some notes\nno columns here\n") == 1
    assert "case_id" in capsys.readouterr().err
