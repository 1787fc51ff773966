"""Qt-free helpers behind the panel: model information, trust flag, where ratings go (real MRML nodes)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

slicer = pytest.importorskip("slicer", reason="needs the slicer-core wheel")

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "InnerEarSeg"))

from InnerEarSegMRML.modelInfo import manifestPath, modelInformation, trustOfEar  # noqa: E402
from InnerEarSegMRML.ratingsLocation import (RatingsFolderError, caseReference, ratingsStore,  # noqa: E402
                                             ratingsStoreFactory)


def test_the_model_section_names_the_bundled_model_its_training_data_accuracy_and_the_trust_flag():
    manifest = json.loads(manifestPath().read_text())
    text = modelInformation()
    assert manifest["name"] in text and f"version {manifest['version']}" in text
    assert "synthetic phantom" in text and "Measured Dice" in text
    # what it scores on real anatomy is said beside the phantom figure, not only in the docs
    lateral = manifest["accuracy"]["real_shapes_dice"]["renderings"]["foreign mdct"]["median_dice"]["lateral"]
    assert "On real labyrinth shapes" in text and f"lateral canal {lateral:.2f}" in text
    for level in ("plausible", "doubtful", "implausible", "not assessed"):
        assert level in text


def test_a_model_without_manifest_is_said_to_be_of_unknown_origin(tmp_path):
    assert "origin is unknown" in modelInformation(str(tmp_path / "other.safetensors"))


@pytest.mark.parametrize("ear, level, reasons", [
    ({}, "not assessed", ()),
    ({"trust": "doubtful"}, "doubtful", ()),
    ({"assessment": {"trust": {"flag": "implausible", "reasons": ["no cochlea"]}}}, "implausible", ("no cochlea",)),
    ({"trust": {"level": "PLAUSIBLE"}}, "plausible", ()),
    ({"trust": {"flag": "made-up"}}, "not assessed", ()),
    ({"trust": 3}, "not assessed", ()),
])
def test_the_trust_flag_is_read_defensively(ear, level, reasons):
    trust = trustOfEar(ear)
    assert (trust.level, trust.reasons) == (level, reasons)
    assert trust.isNormal == (level == "plausible")


def test_the_case_of_a_file_volume_is_its_file_and_of_a_dicom_volume_its_name(tmp_path):
    scene = slicer.vtkMRMLScene()
    volume = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "CT 3: temporal bone")
    assert caseReference(volume) == "CT 3: temporal bone"
    storage = scene.AddNewNodeByClass("vtkMRMLVolumeArchetypeStorageNode")
    storage.SetFileName(str(tmp_path / "case07.nii.gz"))
    volume.SetAndObserveStorageNodeID(storage.GetID())
    assert caseReference(volume) == str(tmp_path / "case07.nii.gz")
    store = ratingsStore(str(tmp_path / "chosen"), caseReference(volume))
    assert store.json_path == tmp_path / "chosen" / "case07_ratings.json"


def test_no_or_a_wrong_ratings_folder_is_a_clear_error_and_the_factory_reads_the_current_choice(tmp_path):
    with pytest.raises(RatingsFolderError, match="choose where the ratings are saved"):
        ratingsStore("", "case")
    (tmp_path / "file").write_text("")
    with pytest.raises(RatingsFolderError, match="is a file"):
        ratingsStore(str(tmp_path / "file"), "case")
    choice = {"folder": ""}
    factory = ratingsStoreFactory(lambda: choice["folder"])
    assert factory("case").load() == []
    choice["folder"] = str(tmp_path / "later")
    assert factory("case").directory == tmp_path / "later"
