import json

import numpy as np
import pytest
import SimpleITK as sitk

from InnerEarSegLib.cli import main as cli_main


@pytest.fixture
def main(monkeypatch):
    """The real `innerear-seg` entry point with only this subcommand registered (others may be absent)."""
    monkeypatch.setattr(cli_main, "SUBCOMMANDS", {"assess": "assess"})
    return cli_main.main


@pytest.fixture
def two_ear_map(tmp_path, ear_factory):
    right = ear_factory(drop=("superior",))
    left = np.where(ear_factory() > 0, ear_factory() + 10, 0)
    image = sitk.GetImageFromArray(np.concatenate([right, np.zeros((96, 96, 150), np.uint8), left], axis=2)
                                   .astype(np.uint8))
    image.SetSpacing((0.3, 0.3, 0.3))
    path = tmp_path / "case_labels.nii.gz"
    sitk.WriteImage(image, str(path))
    return path


def test_assess_json_lists_each_ear_with_side_likert_and_structure_statuses(main, two_ear_map, capsys):
    assert main(["assess", str(two_ear_map), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    ears = {e["side"]: e for e in out["ears"]}
    assert set(ears) == {"right", "left"}
    assert ears["right"]["likert"] == 2 and ears["left"]["likert"] == 1
    assert ears["right"]["structures"]["superior"]["status"] == "missing"
    assert set(ears["left"]["structures"]) == {"cochlea", "vestibule", "superior", "lateral", "posterior"}
    assert "volume_mm3" in ears["left"]["structures"]["cochlea"]["evidence"]


def test_assess_table_reads_for_a_person(main, two_ear_map, capsys):
    assert main(["assess", str(two_ear_map)]) == 0
    text = capsys.readouterr().out
    assert "Right ear: suggested Likert 2" in text and "superior   missing" in text


def test_assess_rejects_a_map_with_foreign_labels_and_says_what_to_do(main, tmp_path, capsys):
    image = sitk.GetImageFromArray(np.full((5, 5, 5), 7, np.uint8))
    sitk.WriteImage(image, str(tmp_path / "bad.nii.gz"))
    assert main(["assess", str(tmp_path / "bad.nii.gz")]) == 1
    assert "--binary" in capsys.readouterr().err
