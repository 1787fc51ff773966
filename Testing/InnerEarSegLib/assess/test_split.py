import numpy as np
import pytest
import SimpleITK as sitk

from InnerEarSegLib.assess import assess_ear, assess_label_image
from InnerEarSegLib.assess.split import split_labyrinth
from InnerEarSegLib.box import make_ear_box
from InnerEarSegLib.evaluate.metrics import dice
from InnerEarSegLib.labels import STRUCTURES, Side

SPACING = (0.3, 0.3, 0.3)


def test_the_binary_split_recovers_each_structure_of_a_phantom_ear(phantom_ear):
    labels, _ = phantom_ear
    split = split_labyrinth(labels > 0, SPACING)
    assert np.array_equal(split > 0, labels > 0)  # every labyrinth voxel gets a structure
    scores = [dice(split == s, labels == s) for s in STRUCTURES]
    assert min(scores) > 0.6, scores
    assert scores[0] > 0.9 and scores[1] > 0.8  # cochlea and vestibule


def test_a_binarised_normal_ear_scores_1_and_calls_nothing_missing(phantom_ear):
    labels, meta = phantom_ear
    a = assess_ear(labels > 0, SPACING, binary=True)
    assert meta["likert"] == 1
    assert a.likert == 1 and a.binary and all(s.status != "missing" for s in a.structures)


@pytest.mark.parametrize("drop", [(3,), (1, 4)])
def test_a_binarised_ear_with_structures_deleted_scores_as_its_labels_do(phantom_ear, drop):
    labels = phantom_ear[0].copy()
    for k in drop:
        labels[labels == k] = 0
    a = assess_ear(labels > 0, SPACING, binary=True)
    assert a.likert == 1 + len(drop)


def test_a_binary_world_map_is_split_into_two_ears_by_the_midline(phantom_ear):
    labels, _ = phantom_ear
    # place the same (left-chirality) box as a left ear at x=+32 mm and mirrored as a right ear at x=-32 mm
    world = sitk.Image([260, 110, 110], sitk.sitkUInt8)
    world.SetSpacing(SPACING)
    world.SetOrigin((-39.0, -16.5, -16.5))
    acc = np.zeros((110, 110, 260), np.uint8)
    for side, x in ((Side.LEFT, 32.0), (Side.RIGHT, -32.0)):
        box = make_ear_box((x, 0.0, 0.0), side)
        img = sitk.GetImageFromArray((labels > 0).astype(np.uint8))
        img.CopyInformation(box.reference_image(sitk.sitkUInt8))
        moved = sitk.Resample(img, world, sitk.Transform(), sitk.sitkNearestNeighbor, 0, sitk.sitkUInt8)
        acc |= sitk.GetArrayFromImage(moved)
    image = sitk.GetImageFromArray(acc)
    image.CopyInformation(world)
    ears = assess_label_image(image, binary=True)
    assert [e.side for e in ears] == ["right", "left"]
    assert [e.likert for e in ears] == [1, 1]
