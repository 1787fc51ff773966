import pytest

from InnerEarSegLib.assess.rules import (INCOMPLETE, MISSING, PRESENT, RuleOptions, disorganisation,
                                         likert_score, structure_status)
from InnerEarSegLib.labels import Structure

KEYS = ("cochlea", "vestibule", "superior", "lateral", "posterior")


def _statuses(lost=(), how=MISSING):
    return {k: (how if k in lost else PRESENT) for k in KEYS}


@pytest.mark.parametrize("lost, expected", [
    ((), 1),                                                  # Table 1: complete
    (("superior",), 2),                                       # one structure missing
    (("superior", "lateral"), 3),                             # two missing
    (("superior", "lateral", "cochlea"), 4),                  # three or more missing
    (KEYS, 4),
])
def test_likert_follows_table_1_by_the_number_of_lost_structures(lost, expected):
    assert likert_score(_statuses(lost), disorganised=False) == expected


def test_a_substantially_disorganised_labyrinth_scores_4_even_with_nothing_missing():
    assert likert_score(_statuses(), disorganised=True) == 4


def test_an_incomplete_structure_counts_as_lost_like_the_papers_reader_did():
    # Fig. 3b of the seed paper: loss of the upper part of the superior canal is score 2
    assert likert_score(_statuses(("superior",), INCOMPLETE), disorganised=False) == 2
    mixed = {**_statuses(("superior",), INCOMPLETE), "lateral": MISSING}
    assert likert_score(mixed, disorganised=False) == 3


def test_a_dehiscent_superior_canal_with_its_lumen_intact_is_present():
    # the bone over the canal is missing, not the lumen: volume in range and the loop closes
    evidence = {"volume_mm3": 12.0, "loop_closed": True, "openings": 2, "components": 1}
    assert structure_status(Structure.SUPERIOR_CANAL, evidence, RuleOptions()) == (PRESENT, [])


def test_volume_far_below_range_is_missing_and_somewhat_below_is_incomplete():
    opt = RuleOptions()
    lo = opt.expected_volume_mm3[Structure.VESTIBULE][0]
    status, reasons = structure_status(Structure.VESTIBULE, {"volume_mm3": 0.1 * lo}, opt)
    assert status == MISSING and "vestibule" in reasons[0]
    assert structure_status(Structure.VESTIBULE, {"volume_mm3": 0.4 * lo}, opt)[0] == INCOMPLETE
    assert structure_status(Structure.VESTIBULE, {"volume_mm3": 2 * lo}, opt)[0] == PRESENT


def test_a_canal_that_does_not_close_its_loop_is_incomplete_with_the_reason():
    status, reasons = structure_status(Structure.LATERAL_CANAL,
                                       {"volume_mm3": 8.0, "loop_closed": False, "openings": 1}, RuleOptions())
    assert status == INCOMPLETE and "loop" in reasons[0]


def test_a_canal_whose_vestibule_is_gone_is_judged_by_its_length_not_its_loop():
    ev = {"volume_mm3": 8.0, "loop_closed": False, "openings": 0, "loop_not_checkable": ["vestibule"],
          "largest_component_mm3": 8.0, "length_mm": 12.0}
    assert structure_status(Structure.POSTERIOR_CANAL, ev, RuleOptions())[0] == PRESENT
    short = {**ev, "length_mm": 4.0}
    assert structure_status(Structure.POSTERIOR_CANAL, short, RuleOptions())[0] == INCOMPLETE


def test_a_cochlea_that_no_longer_wraps_around_its_modiolus_is_incomplete():
    ev = {"volume_mm3": 70.0, "angular_coverage": 0.5, "turns": 0.4}
    status, reasons = structure_status(Structure.COCHLEA, ev, RuleOptions())
    assert status == INCOMPLETE and "modiolus" in reasons[0]


def test_disorganisation_signs_are_fragments_implausible_volume_and_extra_tunnels():
    opt = RuleOptions()
    assert disorganisation({"fragments": 1, "total_volume_mm3": 150, "vestibular_tunnels": 3}, opt) == []
    assert "pieces" in disorganisation({"fragments": opt.max_fragments + 1}, opt)[0]
    assert "volume" in disorganisation({"total_volume_mm3": 5000}, opt)[0]
    assert "tunnels" in disorganisation({"vestibular_tunnels": 3 + opt.max_extra_tunnels + 1}, opt)[0]
