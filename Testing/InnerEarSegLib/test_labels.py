"""Label conventions of DESIGN.md: right ear 1-5, left ear 11-15, names like "Left lateral canal"."""
import pytest

from InnerEarSegLib.labels import Side, Structure, all_labels, label_info, label_value


def test_two_ear_label_values_follow_the_design():
    assert [i.value for i in all_labels()] == [1, 2, 3, 4, 5, 11, 12, 13, 14, 15]
    assert label_value(Side.LEFT, Structure.LATERAL_CANAL) == 14


def test_segment_names_read_side_then_structure():
    assert label_info(14).name == "Left lateral canal"
    assert label_info(1).name == "Right cochlea"


def test_unknown_label_value_is_rejected_with_its_range():
    with pytest.raises(ValueError, match="1-5 or 11-15"):
        label_info(7)
