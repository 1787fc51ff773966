import json

import numpy as np
import pytest
import SimpleITK as sitk

from InnerEarSegLib.assess import assess_ear, assess_label_image

SPACING = (0.3, 0.3, 0.3)
KEYS = ["cochlea", "vestibule", "superior", "lateral", "posterior"]


def test_a_complete_ear_scores_1_with_every_structure_present(normal_ear):
    a = assess_ear(normal_ear, SPACING, side="left")
    assert a.likert == 1 and not a.disorganised and a.lost == []
    assert [s.structure for s in a.structures] == KEYS
    assert all(s.status == "present" for s in a.structures)
    assert a.structure("lateral").evidence["loop_closed"] is True


@pytest.mark.parametrize("drop, likert", [(("superior",), 2), (("lateral", "posterior"), 3),
                                          (("cochlea", "superior", "lateral"), 4)])
def test_missing_structures_give_the_table_1_score(ear_factory, drop, likert):
    a = assess_ear(ear_factory(drop=drop), SPACING)
    assert a.likert == likert
    assert sorted(a.lost) == sorted(drop)
    assert all(a.structure(k).status == "missing" for k in drop)


def test_losing_the_top_of_the_superior_canal_scores_2_as_in_fig_3b(ear_factory):
    a = assess_ear(ear_factory(truncate=("superior",)), SPACING)
    sup = a.structure("superior")
    assert a.likert == 2 and sup.status == "incomplete"
    assert sup.evidence["loop_closed"] is False and any("loop" in r for r in sup.reasons)


def test_a_labyrinth_in_many_pieces_is_disorganised_and_scores_4(normal_ear):
    pieces = normal_ear.copy()
    pieces[:, :, ::5] = 0
    pieces[:, ::5, :] = 0
    a = assess_ear(pieces, SPACING)
    assert a.disorganised and a.likert == 4 and "pieces" in a.reasons[0]


def test_to_dict_is_json_with_side_likert_and_status_and_evidence_per_structure(ear_factory):
    d = json.loads(json.dumps(assess_ear(ear_factory(drop=("superior",)), SPACING, side="right").to_dict()))
    assert d["side"] == "right" and d["likert"] == 2 and d["lost"] == ["superior"]
    assert set(d["structures"]) == set(KEYS)
    assert d["structures"]["superior"]["status"] == "missing" and d["structures"]["superior"]["label"] == 3
    assert d["structures"]["cochlea"]["evidence"]["volume_mm3"] > 0


def test_labels_outside_1_to_5_are_refused_with_what_to_do():
    with pytest.raises(ValueError, match="assess_label_image"):
        assess_ear(np.full((4, 4, 4), 12, np.uint8), SPACING)
    with pytest.raises(ValueError, match="3-D"):
        assess_ear(np.zeros((4, 4), np.uint8), SPACING)


def test_a_two_ear_map_is_assessed_per_ear_right_first(ear_factory):
    right = ear_factory()
    left = ear_factory(drop=("lateral",))
    both = np.concatenate([right, np.zeros((96, 96, 150), np.uint8), np.where(left > 0, left + 10, 0)], axis=2)
    image = sitk.GetImageFromArray(both)
    image.SetSpacing(SPACING)
    ears = assess_label_image(image)
    assert [e.side for e in ears] == ["right", "left"]
    assert [e.likert for e in ears] == [1, 2] and ears[1].lost == ["lateral"]


def test_a_noise_segmentation_is_scored_4_without_running_the_shape_checks():
    """A broken model's output (labels scattered everywhere) is not a canal: its loop and turn checks,
    which take minutes on such masks, are skipped and the reason says why."""
    rng = np.random.default_rng(0)
    labels = ((rng.random((96, 96, 96)) < 0.3) * rng.integers(1, 6, (96, 96, 96))).astype(np.uint8)
    result = assess_ear(labels, (0.3, 0.3, 0.3))
    assert result.likert == 4
    for key in ("cochlea", "superior", "lateral", "posterior"):
        assert "shape_not_checked" in result.structure(key).evidence
        assert "implausible shape" in " ".join(result.structure(key).reasons)
