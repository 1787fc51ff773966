"""segment() end to end with an oracle network: location, box extraction, mirroring of the right ear,
post-processing and placement must put every structure back where the phantom has it, in world
space, whatever the CT's orientation. The trained model is tested separately (test_bundled_model.py).
"""
from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from InnerEarSegLib.box import resample_to_box
from InnerEarSegLib.evaluate.metrics import dice
from InnerEarSegLib.labels import STRUCTURES, Side, Structure, label_value, split_two_ear
from InnerEarSegLib.model.package import ModelManifest
from InnerEarSegLib.options import RoiHint, SegmentOptions
from InnerEarSegLib.pipeline import segment
from InnerEarSegLib.postprocess import PostprocessOptions
from InnerEarSegLib.progress import CancelToken, Cancelled

LABELS = {0: "background", 1: "cochlea", 2: "vestibule", 3: "superior", 4: "lateral", 5: "posterior"}
EXACT = SegmentOptions(postprocess=PostprocessOptions(gaussian=False, otsu=False), meshes=False)


class OraclePredictor:
    """Returns the phantom's true labels of the ear in the box, as one-hot probabilities."""

    def __init__(self, truth: sitk.Image, labels: dict[int, str] = LABELS):
        self.truth = truth
        self.device = "cpu"
        self.manifest = ModelManifest(name="oracle", version="test", architecture="unet3d", architecture_params={},
                                      labels=labels, spacing_mm=0.3, box_size_vox=96, normalisation={})
        self.calls = []

    def predict(self, image, box, *, cancel=None, progress=None):
        self.calls.append(box.side)
        lab = sitk.GetArrayFromImage(resample_to_box(self.truth, box, interpolator=sitk.sitkNearestNeighbor,
                                                     default_value=0, pixel_type=sitk.sitkUInt8))
        structure_labels = split_two_ear(lab)[box.side]
        class_of_label = np.zeros(len(STRUCTURES) + 1, int)  # the model's class of each structure, by name
        for index, name in self.manifest.labels.items():
            if index:
                class_of_label[Structure.from_key(name)] = index
        return np.eye(self.manifest.n_classes, dtype=np.float32)[class_of_label[structure_labels]].transpose(3, 0, 1, 2)


@pytest.fixture(scope="module")
def phantom():
    from InnerEarSegLib.phantom.generate import generate

    ct, labels, meta = generate(11, matrix=384, slices=96)
    return ct, labels, meta


def _per_ear_dice(result, truth: sitk.Image) -> dict[str, float]:
    moved = sitk.Resample(result.label_image, truth, sitk.Transform(), sitk.sitkNearestNeighbor, 0, sitk.sitkUInt8)
    p, t = sitk.GetArrayFromImage(moved), sitk.GetArrayFromImage(truth)
    out = {}
    for side in Side:
        out[side.value] = dice(split_two_ear(p)[side] > 0, split_two_ear(t)[side] > 0)
    return out


def _reoriented(image: sitk.Image, how: str) -> sitk.Image:
    """The same physical content on a grid with flipped / permuted / oblique axes."""
    if how == "flipped":
        return sitk.DICOMOrient(image, "RAI")  # x and y reversed, z down: array order changes, world does not
    if how == "coronal":
        return sitk.DICOMOrient(image, "LSP")
    rotation = sitk.Euler3DTransform()
    rotation.SetRotation(0.0, 0.0, np.deg2rad(15.0))
    ref = sitk.Image(image.GetSize(), image.GetPixelID())
    ref.SetSpacing(image.GetSpacing())
    d = np.asarray(rotation.GetMatrix()).reshape(3, 3)
    ref.SetDirection(tuple(d.ravel()))
    centre = np.asarray(image.TransformContinuousIndexToPhysicalPoint([(n - 1) / 2 for n in image.GetSize()]))
    ref.SetOrigin(tuple(centre - d @ (np.asarray(image.GetSpacing()) * (np.asarray(image.GetSize()) - 1) / 2)))
    interp = sitk.sitkNearestNeighbor if image.GetPixelID() == sitk.sitkUInt8 else sitk.sitkLinear
    default = 0 if image.GetPixelID() == sitk.sitkUInt8 else -1000
    return sitk.Resample(image, ref, sitk.Transform(), interp, default, image.GetPixelID())


@pytest.mark.slow
@pytest.mark.parametrize("orientation", ["axial", "flipped", "coronal", "oblique"])
def test_both_ears_come_back_in_place_whatever_the_orientation(phantom, orientation):
    ct, truth, meta = phantom
    if orientation != "axial":
        ct, truth = _reoriented(ct, orientation), _reoriented(truth, orientation)
    oracle = OraclePredictor(truth)
    result = segment(ct, EXACT, predictor=oracle)
    assert sorted(e.side.value for e in result.ears) == ["left", "right"]
    for ear in result.ears:
        true_centre = next(e["labyrinth_centre_lps_mm"] for e in meta["ears"] if e["side"] == ear.side.value)
        assert np.linalg.norm(np.subtract(ear.centre_lps_mm, true_centre)) < 4.0
    scores = _per_ear_dice(result, truth)
    assert scores["left"] > 0.95 and scores["right"] > 0.95, scores


@pytest.mark.slow
def test_right_ear_reaches_the_model_mirrored_to_the_left_chirality(phantom):
    ct, truth, _ = phantom
    oracle = OraclePredictor(truth)
    result = segment(ct, EXACT, predictor=oracle)
    boxes = {e.side: e.labels_box for e in result.ears}
    # In box arrays x points laterally for both ears: the cochlea (anterior-medial) sits at smaller x
    # than the lateral canal in both, which only holds if the right ear was mirrored.
    for side in Side:
        lab = boxes[side]
        assert np.argwhere(lab == 1)[:, 2].mean() < np.argwhere(lab == 4)[:, 2].mean()


@pytest.mark.slow
def test_user_given_centre_replaces_automatic_location(phantom):
    ct, truth, meta = phantom
    left = next(e for e in meta["ears"] if e["side"] == "left")
    options = SegmentOptions(roi=(RoiHint(tuple(left["labyrinth_centre_lps_mm"])),),
                             postprocess=EXACT.postprocess, meshes=False)
    result = segment(ct, options, predictor=OraclePredictor(truth))
    assert [(e.side, e.source) for e in result.ears] == [(Side.LEFT, "user")]
    assert _per_ear_dice(result, truth)["left"] > 0.95


@pytest.mark.slow
def test_cancel_during_prediction_stops_before_the_next_ear(phantom):
    ct, truth, _ = phantom
    token = CancelToken()
    oracle = OraclePredictor(truth)

    def progress(stage, fraction, message):
        if stage == "predict":
            token.cancel()

    with pytest.raises(Cancelled):
        segment(ct, EXACT, progress=progress, cancel=token, predictor=oracle)
    assert len(oracle.calls) <= 1


@pytest.mark.slow
def test_progress_is_reported_per_stage_in_increasing_fractions(phantom):
    ct, truth, _ = phantom
    seen = []
    segment(ct, SegmentOptions(meshes=True), progress=lambda s, f, m: seen.append((s, f)),
            predictor=OraclePredictor(truth))
    fractions = [f for _, f in seen]
    assert fractions == sorted(fractions) and 0.0 <= fractions[0] and fractions[-1] <= 1.0
    assert {"read", "locate", "load", "predict", "postprocess", "place", "surface", "assess"} <= {s for s, _ in seen}


@pytest.mark.slow
def test_model_classes_in_another_order_come_back_as_the_structures_they_are_named_after(phantom):
    ct, truth, meta = phantom
    left = next(e for e in meta["ears"] if e["side"] == "left")
    shuffled = {0: "background", 1: "vestibule", 2: "posterior", 3: "cochlea", 4: "lateral", 5: "superior"}
    options = SegmentOptions(roi=(RoiHint(tuple(left["labyrinth_centre_lps_mm"])),),
                             postprocess=EXACT.postprocess, meshes=False)
    result = segment(ct, options, predictor=OraclePredictor(truth, shuffled))
    moved = sitk.Resample(result.label_image, truth, sitk.Transform(), sitk.sitkNearestNeighbor, 0, sitk.sitkUInt8)
    p, t = sitk.GetArrayFromImage(moved), sitk.GetArrayFromImage(truth)
    for structure in STRUCTURES:
        value = label_value(Side.LEFT, structure)
        assert dice(p == value, t == value) > 0.9, structure.key


def test_a_box_off_the_labyrinth_is_moved_onto_what_the_network_labelled_and_run_again(phantom):
    # A locator (or a user point) 5 mm off: the first pass still holds the labyrinth, whose own centre then
    # places the box for a second pass; the report says how far it moved.
    from InnerEarSegLib.report import ear_record

    ct, labels, meta = phantom
    ear = next(e for e in meta["ears"] if e["side"] == "left")
    true_centre = np.asarray(ear["labyrinth_centre_lps_mm"])
    off = true_centre + np.array([3.0, -3.0, 2.6])  # 5.0 mm
    oracle = OraclePredictor(labels)
    options = SegmentOptions(roi=(RoiHint(tuple(off), Side.LEFT),), postprocess=EXACT.postprocess, meshes=False)
    result = segment(ct, options, predictor=oracle)
    moved = result.ears[0]
    assert len(oracle.calls) == 2 and abs(moved.recentred_mm - 5.0) < 0.5
    assert np.linalg.norm(np.asarray(moved.box.centre_lps_mm) - true_centre) < 0.5
    assert ear_record(moved).box.recentred_mm == pytest.approx(moved.recentred_mm, abs=1e-3)
    assert moved.centre_lps_mm == pytest.approx(tuple(off))  # where it was located stays on record

    oracle = OraclePredictor(labels)
    kept = segment(ct, SegmentOptions(roi=options.roi, postprocess=EXACT.postprocess, meshes=False, recentre=False),
                   predictor=oracle).ears[0]
    assert len(oracle.calls) == 1 and kept.recentred_mm == 0.0
    assert np.linalg.norm(np.asarray(kept.box.centre_lps_mm) - off) < 0.3


def test_recentring_leaves_a_centred_box_an_empty_result_and_a_far_away_blob_alone():
    from InnerEarSegLib.box import BoxSpec, make_ear_box
    from InnerEarSegLib.pipeline import recentred_box

    box = make_ear_box((0.0, 0.0, 0.0), Side.LEFT, BoxSpec())
    labels = np.zeros(box.spec.shape_zyx, np.uint8)

    def blob_at(shift_vox):
        out = labels.copy()
        c = 48 + np.asarray(shift_vox)
        out[c[0] - 10:c[0] + 10, c[1] - 10:c[1] + 10, c[2] - 10:c[2] + 10] = 2  # 216 mm3
        return out

    assert recentred_box(box, labels) is None  # nothing labelled
    assert recentred_box(box, blob_at((0, 3, 0))) is None  # 0.9 mm: close enough
    assert recentred_box(box, blob_at((0, 0, 40))) is None  # 12 mm: not a labyrinth to trust for position
    moved = recentred_box(box, blob_at((0, 0, 20)))  # 6 mm along the box's x axis
    assert moved is not None
    assert np.linalg.norm(np.subtract(moved.centre_lps_mm, box.centre_lps_mm)) == pytest.approx(6.0, abs=0.2)
    # a stray piece far off does not drag the box: only the largest piece counts
    stray = blob_at((0, 0, 20))
    stray[2:6, 2:6, 2:6] = 3
    assert np.allclose(recentred_box(box, stray).centre_lps_mm, moved.centre_lps_mm)


def test_a_second_pass_that_holds_less_labyrinth_is_not_kept(phantom):
    # An incomplete first pass (here: the canals missing) has its bounding box off the labyrinth's centre;
    # the box moved there holds less of the labyrinth, so the located box is kept.
    ct, labels, meta = phantom
    ear = next(e for e in meta["ears"] if e["side"] == "left")
    centre = np.asarray(ear["labyrinth_centre_lps_mm"])

    class CanalBlind(OraclePredictor):
        def predict(self, image, box, *, cancel=None, progress=None):
            probs = super().predict(image, box)
            if len(self.calls) == 1:  # first pass: canals called background
                probs[0] += probs[3:].sum(axis=0)
                probs[3:] = 0.0
            else:  # second pass: a box off the labyrinth sees only part of it
                probs[0] += probs[3:].sum(axis=0)
                probs[3:] = 0.0
                probs[0, :48] = 1.0  # the lower half of the box: part of the labyrinth out of view
                probs[1:, :48] = 0.0
            return probs

    oracle = CanalBlind(labels)
    result = segment(ct, SegmentOptions(roi=(RoiHint(tuple(centre), Side.LEFT),), postprocess=EXACT.postprocess,
                                        meshes=False), predictor=oracle)
    kept = result.ears[0]
    assert len(oracle.calls) == 2 and kept.recentred_mm == 0.0
    assert np.linalg.norm(np.asarray(kept.box.centre_lps_mm) - centre) < 0.3
