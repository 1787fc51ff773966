"""The structure catalogue: right ear 1-5, left ear 11-15, names like "Left lateral canal", one owner of
names, colours and label values that the terminology file and model manifests must agree with."""
import json
from pathlib import Path

import numpy as np
import pytest

from InnerEarSegLib.labels import (CATALOGUE, LIKERT_STRUCTURES, STRUCTURES, Side, Structure, all_labels,
                                   class_structures, class_to_label_lut, describe_two_ear_labels, label_info,
                                   label_value, split_two_ear, to_two_ear)

TERMINOLOGY = Path(__file__).resolve().parents[2] / "InnerEarSeg" / "Resources" / "Terminology" / "InnerEarSeg.term.json"


def test_two_ear_label_values_follow_the_design():
    assert [i.value for i in all_labels()] == [1, 2, 3, 4, 5, 11, 12, 13, 14, 15]
    assert label_value(Side.LEFT, Structure.LATERAL_CANAL) == 14
    assert describe_two_ear_labels() == "right ear 1-5, left ear 11-15"


def test_segment_names_read_side_then_structure():
    assert label_info(14).name == "Left lateral canal"
    assert label_info(1).name == "Right cochlea" and label_info(1).segment_id == "Right_cochlea"


def test_unknown_label_value_is_rejected_with_its_range():
    with pytest.raises(ValueError, match="1-5 or 11-15"):
        label_info(7)


def test_the_likert_scale_counts_all_five_structures_of_the_seed_paper():
    assert LIKERT_STRUCTURES == STRUCTURES and len(CATALOGUE) == 5


def test_a_two_ear_map_splits_into_per_ear_structure_labels_and_back():
    two_ear = np.array([0, 1, 5, 11, 15, 13])
    ears = split_two_ear(two_ear)
    np.testing.assert_array_equal(ears[Side.RIGHT], [0, 1, 5, 0, 0, 0])
    np.testing.assert_array_equal(ears[Side.LEFT], [0, 0, 0, 1, 5, 3])
    np.testing.assert_array_equal(to_two_ear(ears[Side.LEFT], Side.LEFT) + ears[Side.RIGHT], two_ear)
    with pytest.raises(ValueError, match="values \\[7\\]; expected right ear 1-5, left ear 11-15"):
        split_two_ear(np.array([0, 7]))


def test_model_classes_are_mapped_to_structures_by_name_not_position():
    labels = {0: "background", 1: "vestibule", 2: "cochlea"}
    assert class_structures(labels) == {1: Structure.VESTIBULE, 2: Structure.COCHLEA}
    np.testing.assert_array_equal(class_to_label_lut(labels), [0, int(Structure.VESTIBULE), int(Structure.COCHLEA)])
    assert class_structures({0: "background", 1: "Superior semicircular canal"}) == {1: Structure.SUPERIOR_CANAL}


@pytest.mark.parametrize("labels, message", [
    ({0: "background", 1: "cochlea", 2: "stapes"}, "'stapes' is not a structure of the catalogue"),
    ({0: "background", 1: "cochlea", 2: "cochlea"}, "name 'cochlea' twice"),
    ({0: "cochlea", 1: "vestibule"}, "class 0 must be 'background'"),
])
def test_model_classes_outside_the_catalogue_are_refused_naming_the_class(labels, message):
    with pytest.raises(ValueError, match=message):
        class_structures(labels)


def _terminology_types():
    doc = json.loads(TERMINOLOGY.read_text(encoding="utf-8"))
    (category,) = doc["SegmentationCodes"]["Category"]
    return {t["CodeMeaning"]: t for t in category["Type"]}


def test_the_terminology_file_has_one_type_per_catalogue_structure_with_its_colour():
    types = _terminology_types()
    assert sorted(types) == sorted(s.terminology_name for s in CATALOGUE)
    for spec in CATALOGUE:
        rgb = types[spec.terminology_name]["recommendedDisplayRGBValue"]
        assert rgb == [round(255 * c) for c in spec.color_rgb], spec.key


def test_the_terminology_file_names_both_sides_of_each_structure_with_the_catalogue_name_and_colour():
    """A side modifier may carry its own name and colour (Slicer then takes those): they must be the catalogue's."""
    types = _terminology_types()
    for info in all_labels():
        modifiers = {m["CodeMeaning"].lower(): m for m in types[info.structure.terminology_name]["Modifier"]}
        modifier = modifiers[info.side.value]  # KeyError: the side is missing
        if "3dSlicerLabel" in modifier:
            assert modifier["3dSlicerLabel"].lower() == info.name.lower()
        if "recommendedDisplayRGBValue" in modifier:
            assert modifier["recommendedDisplayRGBValue"] == [round(255 * c) for c in info.color_rgb], info.name
