"""Decisions from evidence: present / incomplete / missing per structure, disorganisation, Likert score.

The Likert scale is the seed paper's Table 1: 1 complete; 2 one of the five structures missing; 3 two
missing; 4 three or more missing, or the labyrinth substantially disorganised.

How "incomplete" counts: a structure that lost part of itself (a canal whose loop no longer closes
through the vestibule, a cochlea that no longer wraps around its modiolus, a structure well below
its volume range) counts as *lost*, like a missing one. That is how the paper's reader scored
(Fig. 3b: "loss of the upper part of the superior canal" is score 2). A dehiscent superior canal
whose bone is really missing keeps its lumen, so its loop closes and it still scores 1.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..labels import Structure

PRESENT = "present"
INCOMPLETE = "incomplete"
MISSING = "missing"
STATUSES = (PRESENT, INCOMPLETE, MISSING)

#: Expected volume of each structure (mm³) on a normal mask: anatomy.md and the phantom's normal ears.
EXPECTED_VOLUME_MM3: dict[Structure, tuple[float, float]] = {
    Structure.COCHLEA: (50.0, 120.0),
    Structure.VESTIBULE: (15.0, 90.0),
    Structure.SUPERIOR_CANAL: (4.0, 25.0),
    Structure.LATERAL_CANAL: (3.0, 20.0),
    Structure.POSTERIOR_CANAL: (4.0, 25.0),
}
#: Expected whole-labyrinth volume (mm³).
EXPECTED_TOTAL_MM3 = (80.0, 300.0)


@dataclass(frozen=True)
class RuleOptions:
    """Thresholds of the rules (all keyword-only; defaults tuned on normal phantom ears).

    Attributes
    ----------
    missing_fraction : float
        A structure whose volume is below this fraction of its expected minimum is missing.
    incomplete_fraction : float
        ... below this fraction (but above `missing_fraction`) it is incomplete.
    cochlea_incomplete_mm3 : float
        A cochlea smaller than this has lost much of itself (40 % of the anatomical minimum of
        60 mm³; malformed cochleae with 1.5 turns keep 30-60 mm³, so volume alone cannot tell a
        lost apex from a short cochlea: the angular coverage does).
    min_angular_coverage : float
        A cochlea covering fewer sectors around its axis than this fraction is incomplete.
    min_canal_length_mm : float
        A canal whose loop cannot be checked (its vestibule or a neighbouring canal is missing) is
        still present when its main piece (>= 70 % of its volume) is at least this long along its centre line.
    max_arc_gap_deg : dict
        Binary masks only (the split fits a circle per canal): a canal whose fitted circle runs this
        many degrees through no labyrinth has lost part of its arc. The superior and lateral circles
        are covered all round on whole canals (their limbs and the vestibule close them); the
        posterior canal's circle normally leaves a gap of 55-80° where its limbs leave it, so its
        threshold is high and its loop check does the work (calibrated on phantom ears).
    fragment_volume_mm3 : float
        Components smaller than this are ignored as noise when counting fragments.
    max_fragments : int
        More labyrinth pieces than this is a sign of disorganisation.
    max_total_factor : float
        A labyrinth larger than this times the expected maximum volume is disorganised.
    max_extra_tunnels : int
        More tunnels outside the cochlea than 3 (one per canal) plus this is disorganised.
    max_shape_check_factor, max_shape_check_components : float, int
        A structure larger than this times its expected maximum volume, or in more pieces than this,
        is not a canal or cochlea any more: its shape checks (loop, turns; seconds to minutes on such
        masks) are skipped and it is called incomplete with that reason.
    """

    missing_fraction: float = 0.2
    incomplete_fraction: float = 0.55
    cochlea_incomplete_mm3: float = 25.0
    min_angular_coverage: float = 0.7
    min_canal_length_mm: float = 9.0
    max_arc_gap_deg: dict = field(default_factory=lambda: {Structure.SUPERIOR_CANAL: 25.0,
                                                           Structure.LATERAL_CANAL: 20.0,
                                                           Structure.POSTERIOR_CANAL: 100.0})
    fragment_volume_mm3: float = 0.5
    max_fragments: int = 4
    max_total_factor: float = 1.8
    max_extra_tunnels: int = 8
    max_shape_check_factor: float = 4.0
    max_shape_check_components: int = 12
    expected_volume_mm3: dict = field(default_factory=lambda: dict(EXPECTED_VOLUME_MM3))


def structure_status(structure: Structure, evidence: dict, options: RuleOptions) -> tuple[str, list[str]]:
    """Status of one structure and the reasons a reader can check.

    `evidence` holds ``volume_mm3`` and, for canals, ``loop_closed``; for the cochlea
    ``angular_coverage`` and ``turns``.
    """
    lo, hi = options.expected_volume_mm3[structure]
    vol = float(evidence.get("volume_mm3", 0.0))
    name = structure.display_name
    if vol < options.missing_fraction * lo:
        return MISSING, [f"{name}: {vol:.1f} mm³, below {options.missing_fraction * lo:.1f} mm³ (expected {lo:g}-{hi:g})"]
    if evidence.get("shape_not_checked"):
        return INCOMPLETE, [f"{name}: {evidence['shape_not_checked']}"]
    reasons = []
    low = options.cochlea_incomplete_mm3 if structure is Structure.COCHLEA else options.incomplete_fraction * lo
    if vol < low:
        reasons.append(f"{name}: only {vol:.1f} mm³ (expected {lo:g}-{hi:g} mm³)")
    if structure in (Structure.SUPERIOR_CANAL, Structure.LATERAL_CANAL, Structure.POSTERIOR_CANAL):
        unchecked = evidence.get("loop_not_checkable")
        main_piece = evidence.get("largest_component_mm3", 0.0) >= 0.7 * vol
        if unchecked and main_piece and evidence.get("length_mm", 0.0) >= options.min_canal_length_mm:
            pass  # open only where a removed neighbour was: judge by length and volume alone
        elif not evidence.get("loop_closed", False):
            reasons.append(f"{name}: does not close its loop through the vestibule "
                           f"({evidence.get('openings', 0)} opening(s))")
        gap = float(evidence.get("arc_gap_deg", 0.0))
        if gap >= options.max_arc_gap_deg[structure] and not reasons:
            reasons.append(f"{name}: its arc is broken ({gap:.0f}° of its fitted circle hold no labyrinth)")
    if structure is Structure.COCHLEA:
        cov = float(evidence.get("angular_coverage", 0.0))
        if cov < options.min_angular_coverage:
            reasons.append(f"cochlea: covers {cov:.0%} of the turn around its modiolus "
                           f"(centre-line turns {evidence.get('turns', 0):.1f})")
    return (INCOMPLETE, reasons) if reasons else (PRESENT, [])


def disorganisation(ear_evidence: dict, options: RuleOptions) -> list[str]:
    """Signs that the labyrinth is substantially disorganised (Table 1, score 4); empty if none."""
    signs = []
    n_frag = int(ear_evidence.get("fragments", 1))
    if n_frag > options.max_fragments:
        signs.append(f"labyrinth in {n_frag} pieces (more than {options.max_fragments})")
    total = float(ear_evidence.get("total_volume_mm3", 0.0))
    limit = options.max_total_factor * EXPECTED_TOTAL_MM3[1]
    if total > limit:
        signs.append(f"implausible labyrinth volume {total:.0f} mm³ (more than {limit:.0f} mm³)")
    extra = int(ear_evidence.get("vestibular_tunnels", 3)) - 3
    if extra > options.max_extra_tunnels:
        signs.append(f"{extra} extra tunnels outside the cochlea (a normal labyrinth has 3, one per canal)")
    return signs


def likert_score(statuses: dict, *, disorganised: bool) -> int:
    """Table 1: 1 complete; 2 one lost; 3 two lost; 4 three or more lost or disorganised.

    A structure is *lost* when it is missing or incomplete (see the module docstring).
    """
    lost = sum(1 for s in statuses.values() if s in (MISSING, INCOMPLETE))
    if disorganised or lost >= 3:
        return 4
    return 1 + lost
