import csv
import math

import numpy as np
import pytest
import SimpleITK as sitk

from InnerEarSegLib.cli import main as cli_main
from InnerEarSegLib.evaluate.study import (Summary, case_id_of, likert_analysis,
                                           resample_to_reference, subgroup_table)


def test_spearman_and_mean_dice_per_level_match_the_hand_computed_values():
    # ranks of Dice (ascending) 4, 2, 3, 1 against Likert 1..4: sum d^2 = 18, rho = 1 - 6*18/(4*15) = -0.8;
    # t = rho*sqrt(2/(1-rho^2)) = -1.886 with 2 dof: two-sided p = 0.2
    a = likert_analysis([(1, 0.9), (2, 0.8), (3, 0.85), (4, 0.5)])
    assert a.rho == pytest.approx(-0.8)
    assert a.p_value == pytest.approx(0.2)
    assert a.levels[1] == {"n": 1, "percent": 25.0, "mean_dice": 0.9}


def test_subgroup_table_gives_n_mean_sd_median_min_max_as_in_table_3():
    rows = [{"case_id": "a", "labyrinth_dice": 0.9}, {"case_id": "b", "labyrinth_dice": 0.7},
            {"case_id": "c", "labyrinth_dice": 0.8}, {"case_id": "d", "labyrinth_dice": 0.4}]
    groups = {"a": {"normal": "yes", "group": "normal"}, "b": {"normal": "no", "group": "otosclerosis"},
              "c": {"normal": "1", "group": "normal"}, "d": {"normal": "0", "group": "malformation"}}
    table = {r["subgroup"]: r for r in subgroup_table(rows, groups)}
    assert table["Overall"]["n"] == 4 and table["Overall"]["mean"] == pytest.approx(0.7)
    assert table["Overall"]["sd"] == pytest.approx(np.std([0.9, 0.7, 0.8, 0.4], ddof=1))
    assert table["Overall"]["median"] == pytest.approx(0.75)
    assert (table["normal"]["n"], table["normal"]["min"], table["normal"]["max"]) == (2, 0.8, 0.9)
    assert table["otosclerosis"]["n"] == 1 and table["malformation"]["mean"] == pytest.approx(0.4)
    assert Summary.of([]).n == 0 and math.isnan(Summary.of([]).mean)


@pytest.mark.parametrize("name, expected", [("case7_labels.nii.gz", "case7"), ("case7.nrrd", "case7"),
                                            ("case7/labels.nii.gz", "case7"), ("notes.txt", None)])
def test_case_ids_come_from_file_names(tmp_path, name, expected):
    from pathlib import Path
    assert case_id_of(Path(tmp_path, name)) == expected


@pytest.fixture
def main(monkeypatch):
    """The real `innerear-seg` entry point with only this subcommand registered (others may be absent)."""
    monkeypatch.setattr(cli_main, "SUBCOMMANDS", {"evaluate": "evaluate"})
    return cli_main.main


def _image(arr, spacing=(1.0, 1.0, 1.0), origin=(0.0, 0.0, 0.0)):
    img = sitk.GetImageFromArray(arr.astype(np.uint8))
    img.SetSpacing(spacing)
    img.SetOrigin(origin)
    return img


def test_a_prediction_on_a_coarser_grid_is_resampled_onto_the_reference_in_world_space():
    ref = _image(np.zeros((8, 8, 8)), spacing=(0.5, 0.5, 0.5))
    coarse = np.zeros((4, 4, 4))
    coarse[1, 1, 2] = 1  # world x 2.0..3.0 (centre 2.0), y 1.0, z 1.0
    moved = sitk.GetArrayFromImage(resample_to_reference(_image(coarse), ref))
    assert moved[2, 2, 4] == 1 and moved.sum() == 8  # one coarse voxel covers 2x2x2 fine voxels


def _write_cases(folder, cases, *, nested=False):
    folder.mkdir()
    for cid, arr in cases.items():
        if nested:
            (folder / cid).mkdir()
            sitk.WriteImage(_image(arr), str(folder / cid / "labels.nii.gz"))
        else:
            sitk.WriteImage(_image(arr), str(folder / f"{cid}_labels.nii.gz"))


def test_evaluate_cli_writes_tables_plots_and_reports_with_hand_computed_dice(tmp_path, main):
    ref = np.zeros((10, 10, 10))
    ref[2:6, 2:6, 2:6] = 1  # 64 voxels
    half = ref.copy()
    half[2:6, 2:6, 4:6] = 0  # 32 voxels: Dice 2*32/96
    _write_cases(tmp_path / "ref", {"c1": ref, "c2": ref, "c3": ref})
    _write_cases(tmp_path / "pred", {"c1": ref, "c2": half, "c3": np.zeros_like(ref)}, nested=True)
    (tmp_path / "groups.csv").write_text("case_id,normal,otosclerosis\nc1,yes,no\nc2,yes,no\nc3,no,yes\n")
    (tmp_path / "ratings.csv").write_text("case_id,side,likert\nc1,left,1\nc2,left,3\nc3,left,4\n")
    out = tmp_path / "out"
    rc = main(["evaluate", "--pred", str(tmp_path / "pred"), "--ref", str(tmp_path / "ref"), "--ratings",
               str(tmp_path / "ratings.csv"), "--groups", str(tmp_path / "groups.csv"), "-o", str(out),
               "--progress", "none"])
    assert rc == 0
    with open(out / "per_case.csv") as fh:
        rows = {r["case_id"]: r for r in csv.DictReader(fh)}
    assert float(rows["c2"]["labyrinth_dice"]) == pytest.approx(64 / 96)
    assert float(rows["c3"]["labyrinth_dice"]) == 0.0 and rows["c3"]["likert"] == "4"
    with open(out / "subgroups.csv") as fh:
        sub = {r["subgroup"]: r for r in csv.DictReader(fh)}
    assert float(sub["normal"]["mean"]) == pytest.approx((1 + 64 / 96) / 2) and sub["otosclerosis"]["n"] == "1"
    for name in ("report.md", "report.html", "dice_subgroups.png", "likert_bars.png", "dice_vs_likert.png"):
        assert (out / name).stat().st_size > 0
    md = (out / "report.md").read_text()
    assert "Mean DSC (SD)" in md and "Spearman" in md
    assert not [p for p in out.iterdir() if p.name.startswith(".")]


def test_evaluate_without_common_cases_fails_with_a_clear_message(tmp_path, capsys, main):
    _write_cases(tmp_path / "ref", {"a": np.ones((3, 3, 3))})
    _write_cases(tmp_path / "pred", {"b": np.ones((3, 3, 3))})
    assert main(["evaluate", "--pred", str(tmp_path / "pred"), "--ref", str(tmp_path / "ref"), "-o",
                 str(tmp_path / "o"), "--progress", "none"]) == 1
    assert "no case id is in both" in capsys.readouterr().err
