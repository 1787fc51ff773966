"""Assess one ear (array) or every ear of a label image: per-structure status, evidence, Likert score.

>>> assessment = assess_ear(labels_zyx, (0.3, 0.3, 0.3), side="left")   # doctest: +SKIP
>>> assessment.likert, assessment.structure("superior").status          # doctest: +SKIP
(2, 'incomplete')
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import SimpleITK as sitk

from ..labels import STRUCTURES, Side, Structure
from . import evidence as ev
from .rules import RuleOptions, disorganisation, likert_score, structure_status

log = logging.getLogger(__name__)
_CANALS = (Structure.SUPERIOR_CANAL, Structure.LATERAL_CANAL, Structure.POSTERIOR_CANAL)
_CRUS_PARTNER = {Structure.SUPERIOR_CANAL: Structure.POSTERIOR_CANAL,
                 Structure.POSTERIOR_CANAL: Structure.SUPERIOR_CANAL}


@dataclass(frozen=True)
class StructureAssessment:
    """One structure of one ear: ``status`` is "present", "incomplete" or "missing"."""

    structure: str
    status: str
    evidence: dict
    reasons: tuple = ()

    def to_dict(self) -> dict:
        return {"status": self.status, "label": int(Structure.from_key(self.structure)),
                "evidence": dict(self.evidence), "reasons": list(self.reasons)}


@dataclass(frozen=True)
class EarAssessment:
    """Assessment of one ear: five structures (cochlea first), the suggested Likert score 1-4 and why."""

    side: str | None
    structures: tuple
    likert: int
    disorganised: bool
    reasons: tuple = ()
    binary: bool = False
    evidence: dict = field(default_factory=dict)

    def structure(self, key: str) -> StructureAssessment:
        """The assessment of structure `key` ("cochlea", "vestibule", "superior", "lateral", "posterior")."""
        for s in self.structures:
            if s.structure == key:
                return s
        raise KeyError(f"no structure {key!r}; expected one of {[s.structure for s in self.structures]}")

    @property
    def lost(self) -> list[str]:
        """Keys of the structures counted as lost (missing or incomplete)."""
        return [s.structure for s in self.structures if s.status != "present"]

    def to_dict(self) -> dict:
        """JSON-able: {side, likert, disorganised, lost, reasons, binary, evidence, structures: {key: {...}}}."""
        return {"side": self.side, "likert": int(self.likert), "disorganised": bool(self.disorganised),
                "lost": self.lost, "reasons": list(self.reasons), "binary": bool(self.binary),
                "evidence": dict(self.evidence),
                "structures": {s.structure: s.to_dict() for s in self.structures}}


def assess_ear(labels_zyx: np.ndarray, spacing_mm, *, binary: bool = False, side: Side | str | None = None,
               options: RuleOptions | None = None) -> EarAssessment:
    """Assess one ear's label map.

    Parameters
    ----------
    labels_zyx : (Z, Y, X) integer array
        Per-ear labels 1-5 (1 cochlea, 2 vestibule, 3 superior, 4 lateral, 5 posterior canal), or with
        ``binary=True`` any non-zero labyrinth mask, which is first split into the five structures by
        :func:`.split.split_labyrinth`; a binary mask must then be in the ear-box frame (x lateral,
        y posterior, z superior; :func:`assess_label_image` resamples world images onto it).
    spacing_mm : (3,) float
        Voxel size (z, y, x) in mm.
    binary : bool
        Treat the map as one labyrinth mask.
    side : Side or "left"/"right", optional
        Recorded in the result.
    options : RuleOptions, optional
        Thresholds.

    Returns
    -------
    EarAssessment

    Raises
    ------
    ValueError
        If `labels_zyx` is not 3-D or holds labels other than 0-5 (without ``binary``).
    """
    options = options or RuleOptions()
    labels = np.asarray(labels_zyx)
    if labels.ndim != 3:
        raise ValueError(f"labels_zyx must be a 3-D (z, y, x) array, got shape {labels.shape}")
    spacing = ev._spacing(spacing_mm)
    side_value = None if side is None else Side(side).value
    details: dict = {}
    if binary:
        from .split import split_labyrinth

        labels, details = split_labyrinth(labels > 0, spacing, return_details=True)
    else:
        bad = np.setdiff1d(np.unique(labels), np.arange(6))
        if bad.size:
            raise ValueError(f"labels_zyx holds labels {bad.tolist()[:5]}; expected per-ear labels 0-5 "
                             "(use assess_label_image for two-ear maps, or binary=True for a labyrinth mask)")
    return _assess_labels(labels.astype(np.uint8), spacing, side_value, binary, options, details)


def _assess_labels(labels, spacing, side, binary, options, details=None) -> EarAssessment:
    fg = labels > 0
    results, statuses = [], {}
    for structure in STRUCTURES:
        mask = labels == structure
        evid = _structure_evidence(structure, mask, labels, spacing, options, binary)
        if evid["volume_mm3"] > 0:
            evid.update((details or {}).get(structure.key, {}))
        status, reasons = structure_status(structure, evid, options)
        statuses[structure.key] = status
        results.append(StructureAssessment(structure.key, status, evid, tuple(reasons)))
    ear_ev = {
        "total_volume_mm3": round(ev.volume_mm3(fg, spacing), 2),
        "fragments": len(ev.component_volumes_mm3(fg, spacing, min_volume_mm3=options.fragment_volume_mm3)),
        "vestibular_tunnels": ev.tunnel_count(fg & (labels != Structure.COCHLEA)),
    }
    signs = disorganisation(ear_ev, options)
    likert = likert_score(statuses, disorganised=bool(signs))
    reasons = signs + [r for s in results for r in s.reasons]
    return EarAssessment(side, tuple(results), likert, bool(signs), tuple(reasons), binary, ear_ev)


def _structure_evidence(structure, mask, labels, spacing, options, binary=False) -> dict:
    comps = ev.component_volumes_mm3(mask, spacing, min_volume_mm3=options.fragment_volume_mm3)
    evid = {"volume_mm3": round(ev.volume_mm3(mask, spacing), 2),
            "expected_volume_mm3": list(options.expected_volume_mm3[structure]),
            "components": len(comps),
            "largest_component_mm3": round(comps[0], 2) if comps else 0.0,
            "extent_mm": [round(v, 2) for v in ev.extent_mm(mask, spacing)]}
    if not mask.any():
        return evid
    if structure in (*_CANALS, Structure.COCHLEA):
        limit_mm3 = options.max_shape_check_factor * options.expected_volume_mm3[structure][1]
        if evid["volume_mm3"] > limit_mm3 or evid["components"] > options.max_shape_check_components:
            evid["shape_not_checked"] = (f"implausible shape ({evid['volume_mm3']:.0f} mm³ in {evid['components']} "
                                         f"piece(s); at most {limit_mm3:.0f} mm³ in "
                                         f"{options.max_shape_check_components} expected)")
            return evid
    if structure in _CANALS:
        # through the vestibule; the superior and posterior canals also through each other (the common
        # crus they share may be labelled as either of them) when the canal is in one piece
        loop = ev.canal_loop(mask, labels == Structure.VESTIBULE, spacing)
        partner = _CRUS_PARTNER.get(structure)
        one_piece = evid["largest_component_mm3"] >= 0.8 * evid["volume_mm3"]
        if not loop.closed and (binary or (one_piece and partner is not None)):
            # a split binary mask has uncertain borders between canals near the vestibule: any canal
            if binary:
                others = (labels > 0) & (labels != structure) & (labels != Structure.COCHLEA)
            else:
                others = (labels == Structure.VESTIBULE) | (labels == partner)
            loop = ev.canal_loop(mask, others, spacing)
        evid.update(loop_closed=loop.closed, openings=loop.openings, reach_mm=loop.reach_mm,
                    length_mm=ev.longest_path_mm(mask, spacing))
        # a canal can only close its loop through its neighbours: if one is gone the check does not apply
        gone = [s.key for s in (Structure.VESTIBULE, *_CANALS) if s is not structure
                and ev.volume_mm3(labels == s, spacing) < options.missing_fraction * options.expected_volume_mm3[s][0]]
        if gone and not loop.closed:
            evid["loop_not_checkable"] = gone
    elif structure is Structure.COCHLEA:
        turns = ev.cochlear_turns(mask, spacing, base_hint=labels == Structure.VESTIBULE)
        evid.update(turns=turns.turns, angular_coverage=turns.angular_coverage,
                    duct_length_mm=turns.duct_length_mm)
    return evid


def assess_label_image(image: sitk.Image, *, binary: bool = False, side: Side | str | None = None,
                       options: RuleOptions | None = None) -> list[EarAssessment]:
    """Assess every ear of a world-space label image (right ear first).

    Two-ear maps hold 1-5 (right) and 11-15 (left). With ``binary=True`` any non-zero voxel is
    labyrinth: the ears are told apart by connected components grouped on world x (LPS: the left ear
    has the larger x); a single ear's side comes from `side`, else from the grid (a right-ear box has
    direction diag(-1, 1, 1)), else from which half of the image it lies in. Each ear is resampled
    (nearest neighbour) onto a 0.3 mm ear box around its centroid, x lateral, and assessed there.

    Raises
    ------
    ValueError
        If the image is not 3-D, is empty, or holds labels other than 0-5 and 11-15.
    """
    from .frame import ear_masks_from_image, resample_ear

    if image.GetDimension() != 3:
        raise ValueError(f"image must be 3-D, got {image.GetDimension()}-D")
    out = []
    for ear_side, ear_image in ear_masks_from_image(image, binary=binary, side=side):
        box_labels, spacing = resample_ear(ear_image, ear_side)
        out.append(assess_ear(box_labels, spacing, binary=binary, side=ear_side, options=options))
    return out
