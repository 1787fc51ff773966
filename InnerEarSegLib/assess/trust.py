"""Should this ear's result be believed? A per-ear trust flag from what the result itself shows.

Four kinds of evidence, each checked against a threshold of :class:`TrustOptions`:

* **anatomy** -- the labyrinth's and each structure's volume against the ranges of real human
  labyrinths (surfaces 01-40 of ``Daniel-Nicolae/Modelling-the-Human-Semicircular-Canals`` @
  ``a8343505``, ``cochlea_data/NN.ply``; whole labyrinth 140-265 mm³, median 184), and the number
  of separate labyrinth pieces;
* **review** -- the completeness review's suggested Likert score (:mod:`.api`): a lost structure
  makes a result doubtful, a disorganised labyrinth implausible;
* **network confidence** -- inside the predicted foreground, the mean normalised entropy of the
  class probabilities and the mean largest class probability;
* **cut probability** -- the share of the network's labyrinth probability mass (``1 - p_background``
  summed over the box) that the post-processing dropped, and the share lying on the box's outer
  1 mm shell (a labyrinth cut by a mis-centred box).

The flag is the worst verdict: ``plausible`` (nothing out of range), ``doubtful`` (check before
use) or ``implausible`` (do not use). The locator's confidence is *not* part of it: that one says
whether the box is around an ear, this one whether the labels in the box are believable.

>>> conf = confidence_measures(probabilities, labels_zyx)               # doctest: +SKIP
>>> trust = assess_trust(labels_zyx, 0.3, assessment=review, confidence=conf)  # doctest: +SKIP
>>> trust.flag, trust.reasons                                          # doctest: +SKIP
('doubtful', ('network unsure inside the labyrinth: mean entropy 0.071 (plausible up to 0.055) [doubtful]',))
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..geometry import spacing_zyx_mm
from ..labels import STRUCTURES, Structure
from . import evidence as ev

PLAUSIBLE = "plausible"
DOUBTFUL = "doubtful"
IMPLAUSIBLE = "implausible"
FLAGS = (PLAUSIBLE, DOUBTFUL, IMPLAUSIBLE)

#: Whole-labyrinth volume of the real surfaces 01-40 (mm³): reference/real_data.md, measured on
#: Daniel-Nicolae/Modelling-the-Human-Semicircular-Canals@a8343505728b90d38e4dc9e72f3409f0c8adff1d.
REAL_LABYRINTH_MM3 = (140.0, 265.0)
#: Per-structure volumes (mm³, min and max) of the same surfaces 01-40, voxelised at 0.3 mm by
#: ``benchmarks/real_labyrinths.py /work/main/.work/real/labyrinths --spacing-mm 0.3`` (the common
#: crus split to the nearer canal; whole labyrinths 147-265 mm³ there).
REAL_STRUCTURE_MM3: dict[Structure, tuple[float, float]] = {
    Structure.COCHLEA: (58.5, 114.0),
    Structure.VESTIBULE: (45.1, 83.2),
    Structure.SUPERIOR_CANAL: (12.1, 21.6),
    Structure.LATERAL_CANAL: (14.2, 22.1),
    Structure.POSTERIOR_CANAL: (15.7, 26.2),
}


@dataclass(frozen=True)
class ConfidenceMeasures:
    """The network's own confidence on one ear box (from its class probabilities).

    Attributes
    ----------
    mean_entropy : float
        Mean over the predicted foreground of the class entropy divided by ``log(n_classes)``
        (0 = one class certain, 1 = all classes equally likely).
    mean_max_probability : float
        Mean over the predicted foreground of the largest class probability.
    removed_probability_share : float
        Share of the labyrinth probability mass ``sum(1 - p_background)`` outside the final foreground.
    border_probability_share : float
        Share of that mass within `border_mm` of the box faces.
    """

    mean_entropy: float
    mean_max_probability: float
    removed_probability_share: float
    border_probability_share: float

    def to_dict(self) -> dict:
        return {k: round(float(v), 4) for k, v in self.__dict__.items()}


def confidence_measures(probabilities: np.ndarray, labels_zyx: np.ndarray, *, spacing_mm: float = 0.3,
                        border_mm: float = 1.0) -> ConfidenceMeasures:
    """Entropy, largest probability and dropped / border probability mass of one ear box.

    Parameters
    ----------
    probabilities : (C, Z, Y, X) float
        Softmax output on the box grid, class 0 = background, ``C >= 2``.
    labels_zyx : (Z, Y, X) int
        The post-processed labels on the same grid (0 = background).
    spacing_mm : float
        Box voxel size (mm), for the border shell.
    border_mm : float
        Thickness of the box's outer shell (mm).

    Raises
    ------
    ValueError
        If the shapes do not match or fewer than two classes are given.
    """
    p = np.asarray(probabilities, dtype=np.float32)
    labels = np.asarray(labels_zyx)
    if p.ndim != 4 or p.shape[0] < 2 or p.shape[1:] != labels.shape:
        raise ValueError(f"probabilities must be (C >= 2, Z, Y, X) matching labels {labels.shape}, got {p.shape}")
    fg = labels > 0
    mass = 1.0 - p[0]
    total = float(mass.sum())
    n = max(1, int(round(border_mm / float(spacing_mm))))
    inner = np.zeros(fg.shape, bool)
    inner[n:-n, n:-n, n:-n] = True
    if fg.any():
        q = p[:, fg]
        entropy = -(q * np.log(np.clip(q, 1e-12, 1.0))).sum(axis=0) / np.log(p.shape[0])
        mean_entropy, mean_max = float(entropy.mean()), float(q.max(axis=0).mean())
    else:
        mean_entropy, mean_max = 1.0, 0.0
    if total <= 0.0:
        return ConfidenceMeasures(mean_entropy, mean_max, 0.0, 0.0)
    return ConfidenceMeasures(mean_entropy, mean_max, float(mass[~fg].sum()) / total,
                              float(mass[~inner].sum()) / total)


@dataclass(frozen=True)
class TrustOptions:
    """Thresholds of :func:`assess_trust` (mm³, shares, probabilities).

    A labyrinth volume outside ``[lo / doubtful_volume_factor, hi * doubtful_volume_factor]`` of the
    real range is doubtful, outside the range widened by `implausible_volume_factor` implausible; a
    structure's volume likewise with the ``*_structure_factor`` pair (wider: the model's canals end
    at the vestibule nearer their ampullae than the real surfaces' split does, so its normal lateral
    canals hold 9.5-13 mm³ against real 14-22 mm³). Every threshold was calibrated on development
    data only (phantom seeds 7000-7001 with their centre/rotation sweep and corruptions; docs/accuracy.md,
    "Beyond the phantom").
    """

    labyrinth_mm3: tuple[float, float] = REAL_LABYRINTH_MM3
    structure_mm3: dict = field(default_factory=lambda: dict(REAL_STRUCTURE_MM3))
    doubtful_volume_factor: float = 1.2
    implausible_volume_factor: float = 2.0
    doubtful_structure_factor: float = 1.6
    implausible_structure_factor: float = 3.0
    max_pieces: int = 1
    implausible_pieces: int = 4
    doubtful_entropy: float = 0.055
    implausible_entropy: float = 0.15
    doubtful_max_probability: float = 0.955
    doubtful_removed_share: float = 0.045
    implausible_removed_share: float = 0.15
    doubtful_border_share: float = 0.004
    implausible_border_share: float = 0.03
    fragment_volume_mm3: float = 0.5

    def __post_init__(self) -> None:
        for lo, hi in (("doubtful_volume_factor", "implausible_volume_factor"),
                       ("doubtful_structure_factor", "implausible_structure_factor")):
            if not 1.0 <= getattr(self, lo) <= getattr(self, hi):
                raise ValueError(f"need 1 <= {lo} <= {hi}, got {getattr(self, lo)!r} and {getattr(self, hi)!r}")
        if not 0.0 < self.doubtful_entropy <= self.implausible_entropy <= 1.0:
            raise ValueError(f"need 0 < doubtful_entropy <= implausible_entropy <= 1, got "
                             f"{self.doubtful_entropy!r} and {self.implausible_entropy!r}")


@dataclass(frozen=True)
class TrustAssessment:
    """The trust flag of one ear: ``flag`` in :data:`FLAGS`, the reasons a reader can check, and the measures."""

    flag: str
    reasons: tuple[str, ...]
    measures: dict

    @property
    def trusted(self) -> bool:
        return self.flag == PLAUSIBLE

    def to_dict(self) -> dict:
        """JSON-able: ``{"flag", "reasons", **measures}``."""
        return {"flag": self.flag, "reasons": list(self.reasons), **self.measures}


def assess_trust(labels_zyx: np.ndarray, spacing_mm, *, assessment=None, confidence: ConfidenceMeasures | None = None,
                 options: TrustOptions | None = None) -> TrustAssessment:
    """Combine anatomy, review and network confidence of one ear into a trust flag.

    Parameters
    ----------
    labels_zyx : (Z, Y, X) int
        Per-ear labels 0-5 (1 cochlea ... 5 posterior canal), or a binary labyrinth mask (then only
        the labyrinth volume and pieces are checked).
    spacing_mm : float or (z, y, x) floats
        Voxel size (mm).
    assessment : EarAssessment, optional
        The completeness review of the same labels (:func:`.api.assess_ear`).
    confidence : ConfidenceMeasures, optional
        From :func:`confidence_measures` on the network's probabilities.
    options : TrustOptions, optional

    Returns
    -------
    TrustAssessment

    Examples
    --------
    >>> labels = np.zeros((40, 40, 40), np.uint8); labels[5:35, 5:35, 5:35] = 2   # a 27 000 mm³ "vestibule"
    >>> assess_trust(labels, 1.0).flag
    'implausible'
    """
    return flag_from_measures(trust_measures(labels_zyx, spacing_mm, assessment=assessment, confidence=confidence,
                                             options=options), options)


def trust_measures(labels_zyx: np.ndarray, spacing_mm, *, assessment=None,
                   confidence: ConfidenceMeasures | None = None, options: TrustOptions | None = None) -> dict:
    """The numbers the flag is decided on (JSON-able): volumes, pieces, review and confidence."""
    options = options or TrustOptions()
    labels = np.asarray(labels_zyx)
    if labels.ndim != 3:
        raise ValueError(f"labels_zyx must be a 3-D (z, y, x) array, got shape {labels.shape}")
    spacing = spacing_zyx_mm(np.broadcast_to(np.asarray(spacing_mm, float), (3,)))
    fg = labels > 0
    measures: dict = {
        "labyrinth_volume_mm3": round(ev.volume_mm3(fg, spacing), 2),
        "pieces": len(ev.component_volumes_mm3(fg, spacing, min_volume_mm3=options.fragment_volume_mm3)),
    }
    if labels.max(initial=0) > 1:
        measures["volume_mm3"] = {s.key: round(ev.volume_mm3(labels == s, spacing), 2) for s in STRUCTURES}
    if assessment is not None:
        measures.update(likert=int(assessment.likert), disorganised=bool(assessment.disorganised),
                        lost=list(assessment.lost))
    if confidence is not None:
        measures.update(confidence.to_dict())
    return measures


def flag_from_measures(measures: dict, options: TrustOptions | None = None) -> TrustAssessment:
    """Decide the flag from :func:`trust_measures`' numbers (re-decidable with other thresholds)."""
    o = options or TrustOptions()
    findings = _volume_findings("labyrinth", measures["labyrinth_volume_mm3"], o.labyrinth_mm3,
                                (o.doubtful_volume_factor, o.implausible_volume_factor))
    for key, volume in measures.get("volume_mm3", {}).items():
        s = Structure.from_key(key)
        findings += _volume_findings(s.display_name, volume, o.structure_mm3[s],
                                     (o.doubtful_structure_factor, o.implausible_structure_factor))
    pieces = int(measures["pieces"])
    if pieces > o.max_pieces:
        verdict = IMPLAUSIBLE if pieces >= o.implausible_pieces else DOUBTFUL
        findings.append((verdict, f"labyrinth in {pieces} separate pieces (a labyrinth is one)"))
    findings += _review_findings(measures)
    if "mean_entropy" in measures:
        findings += _confidence_findings(measures, o)
    rank = {PLAUSIBLE: 0, DOUBTFUL: 1, IMPLAUSIBLE: 2}
    flag = max((v for v, _ in findings), key=rank.__getitem__, default=PLAUSIBLE)
    ordered = sorted(findings, key=lambda f: -rank[f[0]])
    return TrustAssessment(flag, tuple(f"{reason} [{v}]" for v, reason in ordered), dict(measures))


def _volume_findings(name: str, volume_mm3: float, real_mm3, factors) -> list[tuple[str, str]]:
    lo, hi = real_mm3
    for verdict, factor in ((IMPLAUSIBLE, factors[1]), (DOUBTFUL, factors[0])):
        if not lo / factor <= volume_mm3 <= hi * factor:
            return [(verdict, f"{name} {volume_mm3:.0f} mm³, real labyrinths {lo:g}-{hi:g} mm³")]
    return []


def _review_findings(m: dict) -> list[tuple[str, str]]:
    if "likert" not in m:
        return []
    if m.get("disorganised"):
        return [(IMPLAUSIBLE, f"labyrinth disorganised (suggested Likert {m['likert']})")]
    if m["likert"] > 1:
        return [(DOUBTFUL, f"suggested Likert {m['likert']}: {', '.join(m.get('lost', []))} lost")]
    return []


def _confidence_findings(m: dict, o: TrustOptions) -> list[tuple[str, str]]:
    c = ConfidenceMeasures(**{k: float(m[k]) for k in ConfidenceMeasures.__dataclass_fields__})
    out = []
    if c.mean_entropy > o.doubtful_entropy:
        out.append((IMPLAUSIBLE if c.mean_entropy > o.implausible_entropy else DOUBTFUL,
                    f"network unsure inside the labyrinth: mean entropy {c.mean_entropy:.3f} "
                    f"(plausible up to {o.doubtful_entropy:.3f})"))
    if c.mean_max_probability < o.doubtful_max_probability:
        out.append((DOUBTFUL, f"network's mean top-class probability {c.mean_max_probability:.3f} "
                              f"(plausible from {o.doubtful_max_probability:.3f})"))
    if c.removed_probability_share > o.doubtful_removed_share:
        out.append((IMPLAUSIBLE if c.removed_probability_share > o.implausible_removed_share else DOUBTFUL,
                    f"{c.removed_probability_share:.1%} of the network's labyrinth probability was cut by the "
                    "post-processing"))
    if c.border_probability_share > o.doubtful_border_share:
        out.append((IMPLAUSIBLE if c.border_probability_share > o.implausible_border_share else DOUBTFUL,
                    f"{c.border_probability_share:.1%} of the labyrinth probability lies at the box's edge "
                    "(box off centre?)"))
    return out
