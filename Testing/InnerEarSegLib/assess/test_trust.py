"""The trust flag on constructed label maps and probabilities: a clean ear is plausible; a fragmented,
oversized, incomplete, disorganised, uncertain or box-cut ear is flagged with the reason that applies."""
from __future__ import annotations

import numpy as np
import pytest

from InnerEarSegLib.assess import assess_ear
from InnerEarSegLib.assess.trust import (DOUBTFUL, IMPLAUSIBLE, PLAUSIBLE, ConfidenceMeasures, TrustOptions,
                                         assess_trust, confidence_measures, flag_from_measures, trust_measures)
from InnerEarSegLib.labels import Structure

from .conftest import SPACING_MM


@pytest.fixture(scope="module")
def ear(phantom_ear):
    """A normal phantom ear (labels 1-5 on the 0.3 mm box): volumes inside the real ranges."""
    return phantom_ear[0]


def _confident(labels: np.ndarray, p_true: float = 0.995) -> np.ndarray:
    """Probabilities (6, Z, Y, X): background certain; a labyrinth voxel has `p_true` on its label, the rest spread."""
    p = np.full((6,) + labels.shape, (1.0 - p_true) / 5.0, np.float32)
    np.put_along_axis(p, labels[None].astype(np.int64), p_true, axis=0)
    p[:, labels == 0] = 0.0  # background certain
    p[0, labels == 0] = 1.0
    return p


def _trust(labels, probabilities=None, **kw):
    probabilities = _confident(labels) if probabilities is None else probabilities
    review = assess_ear(labels, (SPACING_MM,) * 3)
    conf = confidence_measures(probabilities, labels, spacing_mm=SPACING_MM)
    return assess_trust(labels, SPACING_MM, assessment=review, confidence=conf, **kw)


def test_a_clean_ear_with_a_confident_network_is_plausible(ear):
    trust = _trust(ear)
    assert trust.flag == PLAUSIBLE, trust.reasons
    assert trust.reasons == ()
    assert trust.measures["pieces"] == 1 and trust.measures["likert"] == 1


def test_fragments_make_the_ear_doubtful_and_many_fragments_implausible(ear):
    labels = ear.copy()
    labels[2:6, 2:6, 2:6] = Structure.VESTIBULE  # 1.7 mm³ islands in the box corners
    labels[2:6, 2:6, -6:-2] = Structure.VESTIBULE
    trust = _trust(labels)
    assert trust.flag == DOUBTFUL
    assert any("3 separate pieces" in r for r in trust.reasons)
    labels[-6:-2, 2:6, 2:6] = Structure.COCHLEA
    labels[-6:-2, -6:-2, -6:-2] = Structure.COCHLEA
    assert _trust(labels).flag == IMPLAUSIBLE


def test_an_oversized_vestibule_is_flagged_with_its_volume(ear):
    labels = ear.copy()
    centre = np.argwhere(labels == Structure.VESTIBULE).mean(axis=0).astype(int)
    z, y, x = centre
    block = labels[z - 12:z + 12, y - 12:y + 12, x - 12:x + 12]
    block[block == 0] = Structure.VESTIBULE  # about 370 mm³ of vestibule
    trust = _trust(labels)
    assert trust.flag == IMPLAUSIBLE
    assert any(r.startswith("vestibule") and "real labyrinths" in r for r in trust.reasons)


def test_a_missing_canal_is_flagged_by_its_volume_and_the_review(ear):
    labels = ear.copy()
    labels[labels == Structure.SUPERIOR_CANAL] = 0
    trust = _trust(labels)
    assert trust.flag == IMPLAUSIBLE  # 0 mm³ against 12-22 mm³ in real labyrinths
    assert any(r.startswith("superior canal 0 mm³") for r in trust.reasons)
    assert any("suggested Likert 2: superior lost" in r for r in trust.reasons)


def test_an_uncertain_network_is_flagged_even_when_the_labels_look_normal(ear):
    p = _confident(ear, p_true=0.45)  # normalised entropy about 0.7
    trust = _trust(ear, p)
    assert trust.flag == IMPLAUSIBLE
    assert any("network unsure" in r for r in trust.reasons)
    assert trust.measures["mean_entropy"] > 0.6


def test_probability_at_the_box_edge_is_flagged_as_a_box_off_centre(ear):
    p = _confident(ear)
    p[0, :, :, :3] = 0.5  # half the face's voxels' mass is labyrinth, left out by the labels
    p[1, :, :, :3] = 0.5
    trust = _trust(ear, p)
    assert trust.flag in (DOUBTFUL, IMPLAUSIBLE)
    assert any("box's edge" in r for r in trust.reasons)


def test_confidence_measures_are_exact_on_known_probabilities():
    labels = np.zeros((10, 10, 10), np.uint8)
    labels[3:7, 3:7, 3:7] = 2
    uniform = np.full((6, 10, 10, 10), 1.0 / 6.0, np.float32)
    c = confidence_measures(uniform, labels, spacing_mm=1.0, border_mm=1.0)
    assert c.mean_entropy == pytest.approx(1.0, abs=1e-5)
    assert c.mean_max_probability == pytest.approx(1.0 / 6.0, abs=1e-6)
    assert c.removed_probability_share == pytest.approx(1.0 - 64 / 1000, abs=1e-5)
    assert c.border_probability_share == pytest.approx(1.0 - 512 / 1000, abs=1e-5)
    one_hot = _confident(labels, p_true=1.0)
    c = confidence_measures(one_hot, labels, spacing_mm=1.0)
    assert (c.mean_entropy, c.mean_max_probability, c.removed_probability_share) == pytest.approx((0.0, 1.0, 0.0))


def test_the_flag_can_be_decided_again_from_stored_measures_with_other_thresholds(ear):
    trust = _trust(ear)
    assert flag_from_measures(trust.to_dict()).flag == trust.flag
    strict = TrustOptions(doubtful_entropy=1e-4, implausible_entropy=1e-3)
    assert flag_from_measures(trust.measures, strict).flag == IMPLAUSIBLE


def test_a_disorganised_review_makes_the_result_implausible(ear):
    m = trust_measures(ear, SPACING_MM)
    m.update(likert=4, disorganised=True, lost=[])
    out = flag_from_measures(m)
    assert out.flag == IMPLAUSIBLE and "disorganised" in out.reasons[0]


def test_bad_input_is_refused_with_a_message_that_names_it():
    with pytest.raises(ValueError, match="labels_zyx must be a 3-D"):
        assess_trust(np.zeros((4, 4)), 0.3)
    with pytest.raises(ValueError, match="probabilities must be"):
        confidence_measures(np.zeros((6, 4, 4, 4)), np.zeros((5, 5, 5)))
    with pytest.raises(ValueError, match="doubtful_entropy"):
        TrustOptions(doubtful_entropy=0.5, implausible_entropy=0.2)
    assert isinstance(ConfidenceMeasures(0.1, 0.9, 0.0, 0.0).to_dict(), dict)


class _UnsureOracle:
    """The phantom's true labels as probabilities mixed half with a uniform guess (a hesitant network)."""

    def __init__(self, oracle, certainty: float):
        self.oracle, self.certainty = oracle, certainty
        self.device, self.manifest = oracle.device, oracle.manifest

    def predict(self, image, box, *, cancel=None, progress=None):
        p = self.oracle.predict(image, box, cancel=cancel)
        return self.certainty * p + (1.0 - self.certainty) / p.shape[0]


@pytest.mark.slow
def test_each_ear_of_a_segmentation_carries_its_flag_into_the_report_and_the_cli_summary(capsys):
    from InnerEarSegLib.cli.segment import _print_summary
    from InnerEarSegLib.outputs import build_report
    from InnerEarSegLib.phantom.generate import generate
    from InnerEarSegLib.pipeline import segment

    from ..test_pipeline import EXACT, OraclePredictor

    ct, labels, _ = generate(11, matrix=384, slices=96)
    sure = segment(ct, EXACT, predictor=OraclePredictor(labels))
    assert [e.trust.flag for e in sure.ears] == [PLAUSIBLE, PLAUSIBLE], [e.trust.reasons for e in sure.ears]
    unsure = segment(ct, EXACT, predictor=_UnsureOracle(OraclePredictor(labels), 0.6))
    assert all(e.trust.flag != PLAUSIBLE for e in unsure.ears)
    report = build_report(unsure, case_id="c", outputs={})
    trust = report["ears"][0]["trust"]
    assert trust["flag"] == unsure.ears[0].trust.flag and trust["reasons"] and "mean_entropy" in trust
    _print_summary(unsure)
    out = capsys.readouterr().out
    assert f"RIGHT EAR: {unsure.ears[0].trust.flag.upper()} — network unsure" in out
