"""Faults in what a reader sees: the preview's outlines sit on the CT, odd masks are refused, bad tables named."""
from __future__ import annotations

import numpy as np
import SimpleITK as sitk

from InnerEarSegLib.cli.main import main


def test_axial_outlines_are_drawn_on_the_rows_of_the_ct_beneath():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from InnerEarSegLib.preview import _draw_slice

    ct = np.full((20, 30), -1000.0)
    lab = np.zeros((20, 30), np.uint8)
    lab[2:5, 10:14] = 1  # near the top of the array (row 0 is drawn at the top with origin="upper")
    fig, ax = plt.subplots()
    _draw_slice(ax, ct, lab, "upper", "axial")
    vertices = np.concatenate([p.vertices for c in ax.collections for p in c.get_paths()])
    plt.close(fig)
    assert 1.5 <= vertices[:, 1].min() and vertices[:, 1].max() <= 4.5
    assert 9.5 <= vertices[:, 0].min() and vertices[:, 0].max() <= 13.5


def test_a_structure_of_scattered_voxels_does_not_crash_the_3d_panel():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from InnerEarSegLib.preview import _draw_3d

    labels = np.zeros((24, 24, 24), np.uint8)
    labels[2:22:4, 2:22:4, 2:22:4] = 1  # isolated voxels that marching cubes at step 2 never samples
    fig = plt.figure()
    _draw_3d(fig.add_subplot(projection="3d"), labels, 0.3, "3-D")
    plt.close(fig)


def test_assess_binary_refuses_a_ct_given_as_a_mask(tmp_path, capsys):
    rng = np.random.default_rng(3)
    ct = sitk.GetImageFromArray(rng.integers(-1000, 3000, (20, 20, 20)).astype(np.int16))
    path = tmp_path / "ct.nrrd"
    sitk.WriteImage(ct, str(path))
    assert main(["assess", str(path), "--binary"]) == 1
    err = capsys.readouterr().err
    assert "is not a binary mask" in err and "Traceback" not in err


def test_evaluate_with_a_ratings_file_that_is_not_a_csv_exits_1_naming_it(tmp_path, capsys):
    for folder in ("pred", "ref"):
        (tmp_path / folder).mkdir()
    labels = sitk.Image(16, 16, 16, sitk.sitkUInt8)
    labels[4:8, 4:8, 4:8] = 1
    for folder in ("pred", "ref"):
        sitk.WriteImage(labels, str(tmp_path / folder / "case01_labels.nii.gz"))
    notes = tmp_path / "notes.txt"
    notes.write_text("these are my notes, not ratings\n")
    code = main(["evaluate", "--pred", str(tmp_path / "pred"), "--ref", str(tmp_path / "ref"), "--ratings",
                 str(notes), "-o", str(tmp_path / "report"), "--progress", "none"])
    assert code == 1
    assert "is not a ratings CSV" in capsys.readouterr().err


def test_a_prediction_without_a_reference_is_reported(tmp_path, caplog):
    from InnerEarSegLib.evaluate.study import match_cases

    for folder in ("pred", "ref"):
        (tmp_path / folder).mkdir()
    labels = sitk.Image(8, 8, 8, sitk.sitkUInt8)
    for name in ("case01", "case02"):
        sitk.WriteImage(labels, str(tmp_path / "pred" / f"{name}_labels.nii.gz"))
    sitk.WriteImage(labels, str(tmp_path / "ref" / "case01_labels.nii.gz"))
    assert [c for c, _, _ in match_cases(tmp_path / "pred", tmp_path / "ref")] == ["case01"]
    assert "case02 has a prediction but no reference" in caplog.text
