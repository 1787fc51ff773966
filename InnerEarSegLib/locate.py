"""Find both inner ears in a temporal-bone or head CT, with no clicks.

How it works (all in LPS world coordinates, so any direction matrix, flipped or oblique, is fine):

1. Resample the CT onto an identity-oriented isotropic grid of about 1 mm covering the scan.
2. Calibrate on the scan itself: "dense bone" is a fraction of the 99th percentile of the bone
   voxels, so cone-beam CT (bone 1000-1600) works as well as MDCT (otic capsule > 2000 HU).
3. Mark fluid-density voxels *enclosed* by dense bone (:mod:`.pockets`): the labyrinth inside the
   otic capsule is such a pocket; brain, marrow, sinuses and mastoid cells are open in several
   directions or lack dense walls.
4. Bin and smooth the enclosed-fluid map; its peaks, weighted by the bulk of bone around them (a
   petrous block, not the thin skull), are the candidates.
5. Refine the strongest candidates on a 0.5 mm grid in a 32 mm cube: keep the pocket walled by
   bone of the otic capsule's density (not the internal auditory canal, carotid canal or jugular
   bulb, which run through ordinary petrous bone; nor a pocket far larger than a labyrinth, or in a
   window whose densest bone is well below the densest candidate's); its centroid plus a measured
   offset is the centre of the labyrinth's bounding box.
6. Score each candidate's evidence of being a labyrinth (:func:`labyrinth_evidence`: a pocket of
   labyrinth volume, walled by otic-capsule bone, with a strong coarse peak, in the scan's densest
   bone) and drop those below :data:`MIN_CONFIDENCE`: no answer is better than a wrong one
   (``benchmarks/evaluate_locator.py`` measures how often a reported ear is a real one).
7. Choose the best pair (50-85 mm apart, joining line within 65 degrees of left-right, so heads
   turned by 45 degrees on top of their own pose and tilted by 30 degrees still pair), else the
   single best candidate (a one-ear scan). The side of a pair comes from world x (larger x is the
   patient's left); a lone ear's side from the air around it (outside air, ear canal and mastoid lie
   lateral) when that is decisive, else it is reported as unknown (:class:`~InnerEarSegLib.errors.NoEarFound` asks for the
   side) rather than guessed.

Points are LPS ``(x, y, z)`` in mm; arrays are ``(z, y, x)``.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from .errors import InputError, NoEarFound
from .labels import Side
from .pockets import OUTSIDE_HU, BoneLevels, bin2, enclosed_mask, main_pocket
from .progress import ProgressCallback, no_progress

log = logging.getLogger(__name__)

#: An ear is reported only when its :func:`labyrinth_evidence` reaches this.
MIN_CONFIDENCE = 0.5
#: What to tell the user when the search gives up.
HOW_TO_GO_ON = ("Give each ear's centre by hand: on the command line --roi-center X Y Z (LPS mm, repeat for the "
                "second ear) with --roi-side left|right; in 3D Slicer place one point on each inner ear (the "
                "'Ear points' selector) and run again.")


@dataclass(frozen=True)
class EarLocation:
    """Where one inner ear is: side, centre of the labyrinth (LPS mm), confidence in [0, 1], source."""

    side: Side
    centre_lps_mm: tuple[float, float, float]
    confidence: float
    source: Literal["auto", "user"] = "auto"

    def to_dict(self) -> dict:
        return {"side": self.side.value, "centre_lps_mm": [round(v, 3) for v in self.centre_lps_mm],
                "confidence": round(self.confidence, 3), "source": self.source}


@dataclass(frozen=True)
class LocateOptions:
    """Tuning of :func:`locate_ears`. The defaults fit MDCT and cone-beam temporal-bone/head CT."""

    coarse_spacing_mm: float = 1.0
    max_coarse_voxels: int = 4_000_000
    dense_fraction: float = 0.55
    soft_fraction: float = 0.42
    enclosure_radius_mm: float = 6.0
    min_enclosed_directions: int = 12
    peak_sigma_mm: float = 2.5
    min_peak_mm3: float = 12.0
    min_bone_fraction: float = 0.35
    pair_distance_mm: tuple[float, float] = (50.0, 85.0)
    pair_max_angle_deg: float = 65.0
    min_confidence: float = MIN_CONFIDENCE
    max_candidates: int = 6
    refine_spacing_mm: float = 0.5
    refine_half_width_mm: float = 16.0
    capsule_fraction: float = 0.8
    capsule_soft_fraction: float = 0.5
    min_pocket_mm3: float = 15.0
    #: Refine again around the pocket when its centroid lies more than this from the window's centre ...
    recentre_mm: float = 2.0
    #: ... at most this many times.
    max_recentring: int = 3
    #: Labyrinth bounding-box centre minus the enclosed fluid's centroid, in mm along (lateral,
    #: posterior, superior); measured on phantom seeds 2000-2015 (benchmarks/bench_locate.py), kept apart
    #: from the benchmark seeds 1000-1023.
    centroid_to_centre_mm: tuple[float, float, float] = (0.9, 0.65, 2.05)


# ---------------------------------------------------------------------------------------------- public
def locate_ears(image: sitk.Image, *, progress: ProgressCallback | None = None,
                options: LocateOptions = LocateOptions()) -> list[EarLocation]:
    """Find the inner ears in a CT (HU), in any orientation; return one or two locations, right ear first.

    Parameters
    ----------
    image : sitk.Image
        3-D CT in HU (MDCT or cone-beam), any spacing and direction matrix.
    progress : callable, optional
        ``progress(stage, fraction, message)``, called with stage ``"locate"``.
    options : LocateOptions
        Tuning; the defaults rarely need changing.

    Returns
    -------
    list of EarLocation
        Two locations (right, left) for a two-ear scan, one for a one-ear scan; ``source="auto"``.

    Raises
    ------
    InputError
        No inner ear found (the message suggests giving the centre by hand).
    """
    if not isinstance(image, sitk.Image) or image.GetDimension() != 3:
        raise InputError(f"locate_ears needs a 3-D SimpleITK image, got "
                         f"{image.GetDimension() if isinstance(image, sitk.Image) else type(image).__name__}"
                         f"{'-D image' if isinstance(image, sitk.Image) else ''}; check it with validate_ct first.")
    report = progress or no_progress
    report("locate", 0.0, "resampling to a coarse isotropic grid")
    grid = _coarse_grid(image, options)
    values = sitk.GetArrayViewFromImage(grid)
    levels = _intensity_levels(values, options)
    report("locate", 0.3, "finding fluid pockets enclosed by dense bone")
    score_mm3, dense_fraction = _enclosed_fluid_density(values, levels, grid.GetSpacing()[0], options)
    peaks = _peaks(score_mm3, dense_fraction, grid, options)
    if not peaks:
        raise NoEarFound("no inner ear found: no fluid-filled cavity enclosed by dense bone (the otic capsule) was "
                         "seen in this CT. Check that the scan covers the temporal bones. " + HOW_TO_GO_ON)
    report("locate", 0.5, f"{len(peaks)} candidate(s); checking each for a labyrinth in dense otic capsule")
    candidates = _refined_candidates(image, peaks, levels, options)
    evidence = {id(c): labyrinth_evidence(c) for c in candidates}
    log.debug("locate candidates: %s", [(tuple(np.round(c.centroid_lps_mm, 1)), round(c.volume_mm3), c.capsule,
                                         round(c.peak_mm3, 1), round(c.relative_density, 2), round(evidence[id(c)], 2))
                                        for c in candidates])
    credible = [c for c in candidates if evidence[id(c)] >= options.min_confidence]
    guesses = tuple((tuple(float(v) for v in c.centroid_lps_mm), round(evidence[id(c)], 3))
                    for c in sorted(candidates, key=lambda c: -evidence[id(c)])[:2])
    if not credible:
        if not candidates:
            why = "the candidate cavities in dense bone are too small to be a labyrinth"
        else:
            best = max(candidates, key=lambda c: evidence[id(c)])
            why = (f"the best candidate, at ({', '.join(f'{v:.1f}' for v in best.centroid_lps_mm)}) mm, has "
                   f"confidence {evidence[id(best)]:.2f} < {options.min_confidence:g}: {_weakest_evidence(best)}")
        raise NoEarFound(f"no inner ear found: {why}. Check that the scan covers the temporal bones. "
                         + HOW_TO_GO_ON, best_guesses=guesses)
    chosen = _choose_ears([(c.centroid_lps_mm, c.score) for c in credible], options)
    chosen_candidates = [next(c for c in credible if c.centroid_lps_mm is centre) for centre, _ in chosen]
    if len(chosen) == 2:
        sides = [_side_of_pair(c, [p for p, _ in chosen]) for c, _ in chosen]
    else:
        sides = [_side_of_lone_ear(grid, values, chosen[0][0]) if _is_upright(chosen_candidates[0]) else None]
        if sides[0] is None:
            centre = ", ".join(f"{v:.1f}" for v in chosen[0][0])
            raise NoEarFound(f"one inner ear was found near ({centre}) mm (confidence "
                             f"{evidence[id(chosen_candidates[0])]:.2f}), but its side cannot be told from this "
                             f"image (no outside air or ear canal on one side only, as in a specimen scan). Give its "
                             f"side: --roi-center {centre.replace(',', '')} --roi-side left|right on the command "
                             f"line, or a point on the ear in 3D Slicer with the side set.", best_guesses=guesses)
    head_axes = _head_axes([c.centroid_lps_mm for c in chosen_candidates], sides)
    locations = []
    for candidate, side in zip(chosen_candidates, sides):
        lateral = 1.0 if side is Side.LEFT else -1.0
        offset_head = np.asarray(options.centroid_to_centre_mm) * (lateral, 1.0, 1.0)
        centre = candidate.centroid_lps_mm + head_axes @ offset_head
        locations.append(EarLocation(side, tuple(float(v) for v in centre), evidence[id(candidate)], "auto"))
    locations.sort(key=lambda loc: loc.side is Side.LEFT)
    if len(locations) == 2 and locations[0].side == locations[1].side:
        raise NoEarFound("two candidate ears were found on the same side. " + HOW_TO_GO_ON, best_guesses=guesses)
    report("locate", 1.0, ", ".join(f"{loc.side.value} ear at ({', '.join(f'{v:.1f}' for v in loc.centre_lps_mm)})"
                                    f" mm" for loc in locations))
    return locations


def user_location(centre_lps_mm, side: Side | str | None = None, image: sitk.Image | None = None) -> EarLocation:
    """An ear location given by the user: a point or a box ``((x0, y0, z0), (x1, y1, z1))`` in LPS mm.

    Parameters
    ----------
    centre_lps_mm : sequence of 3 floats, or two corner points
        The labyrinth's centre, or two opposite corners of a box around it (its centre is used).
    side : Side or "left"/"right", optional
        The ear's side. When not given it is inferred from `image`: the ear is on the patient's left
        when it lies at larger x than the image's mid-line (the centre of the image's x extent).
    image : sitk.Image, optional
        Needed only to infer the side.

    Raises
    ------
    ValueError
        The point is not 3 finite numbers, the side is unknown, or neither `side` nor `image` is given.
    InputError
        The point lies outside the image, or no bone lies within :data:`USER_POINT_BONE_RADIUS_MM` of it
        (an inner ear is always inside the dense otic capsule).
    """
    centre = np.asarray(centre_lps_mm, dtype=float)
    if centre.shape == (2, 3):
        centre = centre.mean(axis=0)
    if centre.shape != (3,) or not np.all(np.isfinite(centre)):
        raise ValueError(f"centre_lps_mm must be 3 finite numbers (x, y, z in LPS mm) or two box corners, "
                         f"got {centre_lps_mm!r}")
    if image is not None:
        _check_user_point(image, centre)
    if side is None:
        if image is None:
            raise ValueError("side is not given: pass side='left' or 'right', or the image to infer it from")
        side = _side_from_midline(image, centre)
    elif not isinstance(side, Side):
        try:
            side = Side(str(side).lower())
        except ValueError:
            raise ValueError(f"side must be 'left' or 'right', got {side!r}") from None
    return EarLocation(side, tuple(float(v) for v in centre), 1.0, "user")


# ----------------------------------------------------------------------------------------- coarse grid
def _coarse_grid(image: sitk.Image, options: LocateOptions) -> sitk.Image:
    """Resample `image` onto an identity-direction isotropic grid over its bounding box (outside: -4000)."""
    size = np.asarray(image.GetSize(), dtype=float) - 1
    d = np.asarray(image.GetDirection()).reshape(3, 3) @ np.diag(image.GetSpacing())
    corners = np.array([[i, j, k] for i in (0, size[0]) for j in (0, size[1]) for k in (0, size[2])])
    world = corners @ d.T + np.asarray(image.GetOrigin())
    low, high = world.min(axis=0), world.max(axis=0)
    extent = high - low
    spacing = max(options.coarse_spacing_mm, float(np.prod(extent) / options.max_coarse_voxels) ** (1 / 3))
    n = np.maximum(np.floor(extent / spacing).astype(int) + 1, 1)
    reference = sitk.Image([int(v) for v in n], sitk.sitkFloat32)
    reference.SetSpacing([spacing] * 3)
    reference.SetOrigin(tuple(float(v) for v in low))
    src = image if image.GetPixelID() in (sitk.sitkFloat32, sitk.sitkInt16) else sitk.Cast(image, sitk.sitkFloat32)
    return sitk.Resample(src, reference, sitk.Transform(), sitk.sitkLinear, OUTSIDE_HU, sitk.sitkFloat32)


def _intensity_levels(values: np.ndarray, options: LocateOptions) -> BoneLevels:
    step = max(1, int(round((values.size / 1_000_000) ** (1 / 3))))
    sample = values[::step, ::step, ::step]
    bone = sample[sample > 300]
    if bone.size < 100:
        raise NoEarFound("no inner ear found: the CT holds almost no bone (no voxel above 300 HU in the sample). "
                         "Check that this is a CT of the temporal bones in HU. " + HOW_TO_GO_ON)
    bone_hu = float(np.percentile(bone, 99))
    return BoneLevels(bone_hu, options.dense_fraction * bone_hu, options.soft_fraction * bone_hu)


def _enclosed(values: np.ndarray, levels: BoneLevels, spacing_mm: float, options: LocateOptions,
              candidates: np.ndarray | None = None) -> np.ndarray:
    return enclosed_mask(values, levels, spacing_mm, radius_mm=options.enclosure_radius_mm,
                         min_directions=options.min_enclosed_directions, candidates=candidates)


def _enclosed_fluid_density(values: np.ndarray, levels: BoneLevels, spacing_mm: float,
                            options: LocateOptions) -> tuple[np.ndarray, np.ndarray]:
    """On a grid of twice the spacing: Gaussian-weighted volume (mm3) of enclosed fluid, and dense-bone fraction."""
    binned_mm = 2 * spacing_mm
    dense_fraction = ndimage.uniform_filter(bin2(values >= levels.dense_hu) / 8.0,
                                            size=int(round(9.0 / binned_mm)) | 1)
    near_bone = dense_fraction > 0.15
    near_bone = np.repeat(np.repeat(np.repeat(near_bone, 2, 0), 2, 1), 2, 2)[tuple(slice(0, n) for n in values.shape)]
    enclosed = _enclosed(values, levels, spacing_mm, options, candidates=near_bone)
    sigma = options.peak_sigma_mm / binned_mm
    score = ndimage.gaussian_filter(bin2(enclosed), sigma, truncate=3.0)
    return score * ((2 * np.pi) ** 1.5 * sigma**3 * spacing_mm**3), dense_fraction


def _peaks(score_mm3: np.ndarray, dense_fraction: np.ndarray, grid: sitk.Image,
           options: LocateOptions) -> list[tuple[np.ndarray, float]]:
    """Local maxima of the (binned) score, strongest first, as (centre LPS mm, strength mm3).

    The strength is the enclosed-fluid volume, weighted down where the surrounding bone is thin
    (the skull's diploe between two tables) rather than a thick block (the petrous bone).
    """
    binned_mm = 2 * grid.GetSpacing()[0]
    footprint = int(round(10.0 / binned_mm)) | 1
    maxima = (score_mm3 == ndimage.maximum_filter(score_mm3, size=footprint)) & (score_mm3 >= options.min_peak_mm3)
    idx = np.argwhere(maxima)
    bulk = np.clip((dense_fraction[maxima] - options.min_bone_fraction) / 0.25, 0.0, 1.0)
    strengths = score_mm3[maxima] * bulk
    keep = strengths >= options.min_peak_mm3
    idx, strengths = idx[keep], strengths[keep]
    order = np.argsort(-strengths)[:8]
    fine_idx = 2.0 * idx + 0.5  # centre of each 2x2x2 block, in coarse-grid voxels (z, y, x)
    return [(np.asarray(grid.TransformContinuousIndexToPhysicalPoint(fine_idx[i][::-1].tolist())),
             float(strengths[i])) for i in order]


def _choose_ears(peaks, options: LocateOptions):
    """The best plausible pair of peaks, else the single strongest one."""
    low, high = options.pair_distance_mm
    best, best_score = None, 0.0
    for i in range(len(peaks)):
        for j in range(i + 1, len(peaks)):
            (a, sa), (b, sb) = peaks[i], peaks[j]
            d = b - a
            dist = float(np.linalg.norm(d))
            angle = np.degrees(np.arccos(min(1.0, abs(d[0]) / max(dist, 1e-6))))
            if low <= dist <= high and angle <= options.pair_max_angle_deg and min(sa, sb) >= 0.2 * max(sa, sb):
                score = sa + sb
                if score > best_score:
                    best, best_score = [peaks[i], peaks[j]], score
    if best is not None and best_score >= 1.2 * peaks[0][1]:
        return best
    return [peaks[0]]


# ----------------------------------------------------------------------------------------------- refine
@dataclass(frozen=True)
class _Candidate:
    centroid_lps_mm: np.ndarray  # centroid of the labyrinth-like pocket
    volume_mm3: float  # its volume on the fine grid
    capsule: bool  # walls reach the otic capsule's density
    peak_mm3: float  # coarse enclosed-fluid strength
    brightest_hu: float = 0.0  # the window's brightest (non-metal) bone
    relative_density: float = 1.0  # brightest_hu over that of the densest candidate window
    points_lps_mm: np.ndarray | None = field(default=None, compare=False, repr=False)  # the pocket's voxels

    @property
    def score(self) -> float:
        too_big = min(1.0, 300.0 / max(self.volume_mm3, 1e-6)) ** 2  # a labyrinth is 100-250 mm3
        return self.volume_mm3 * (1.0 if self.capsule else 0.3) * self.relative_density**3 * too_big


def _refined_candidates(image: sitk.Image, peaks, levels: BoneLevels, options: LocateOptions) -> list[_Candidate]:
    """Refine the strongest coarse peaks; merge those that land on the same pocket (within 8 mm)."""
    found: list[_Candidate] = []
    for peak, strength in peaks[:options.max_candidates]:
        if _has_clear_pair(found, options):
            break
        centroid, volume_mm3, capsule, bright, points = _refine_centre(image, peak, levels, options)
        for _ in range(options.max_recentring):
            if volume_mm3 <= 0 or np.linalg.norm(centroid - peak) <= options.recentre_mm:
                break
            # the pocket lay off-centre (the peak was on a neighbouring canal, or on the internal auditory
            # canal beside the labyrinth, whose dense capsule was then at the window's edge and set no
            # level): look again around it, so that the whole labyrinth and its capsule are in the window
            peak = centroid
            centroid, volume_mm3, capsule, bright, points = _refine_centre(image, peak, levels, options)
        if volume_mm3 >= options.min_pocket_mm3:
            found.append(_Candidate(centroid, volume_mm3, capsule, strength, bright, points_lps_mm=points))
    # the otic capsule is the densest bone of the head: a pocket in a window without such bone (e.g. in
    # the squamous temporal bone) is walled only by the locally densest bone and is scored down
    densest = max((c.brightest_hu for c in found), default=1.0)
    found = [replace(c, relative_density=float(np.clip(c.brightest_hu / densest, 0.0, 1.0))) for c in found]
    found.sort(key=lambda c: -c.score)
    kept: list[_Candidate] = []
    for c in found:
        if all(np.linalg.norm(c.centroid_lps_mm - k.centroid_lps_mm) > 8.0 for k in kept):
            kept.append(c)
    return kept


def _has_clear_pair(found: list[_Candidate], options: LocateOptions) -> bool:
    """Two capsule-walled, labyrinth-sized pockets already form a plausible pair: no need to look further."""
    strong = [(c.centroid_lps_mm, c.score) for c in found if c.capsule and c.volume_mm3 >= 80.0]
    return len(strong) >= 2 and len(_choose_ears(strong, options)) == 2


def _refine_centre(image: sitk.Image, centre: np.ndarray, levels: BoneLevels,
                   options: LocateOptions) -> tuple[np.ndarray, float, bool, float, np.ndarray]:
    """Centroid (LPS mm), volume (mm3) of the labyrinth-like pocket near `centre`, whether it is
    capsule-walled, the window's brightest non-metal bone (HU) and the pocket's voxel centres (LPS mm).

    Works on a fine grid in a cube around `centre`. The walls must reach the otic capsule's density
    (a fraction of the window's brightest bone), which drops the internal auditory canal, carotid
    canal, jugular bulb and middle-ear spaces whose walls are ordinary petrous or temporal bone.
    :func:`locate_ears` adds the mean offset from the centroid to the centre of the labyrinth's
    bounding box (the cochlea makes the centroid sit low and antero-medial).
    """
    s = options.refine_spacing_mm
    n = int(round(2 * options.refine_half_width_mm / s)) + 1
    reference = sitk.Image([n, n, n], sitk.sitkFloat32)
    reference.SetSpacing([s] * 3)
    reference.SetOrigin(tuple(float(v) for v in centre - options.refine_half_width_mm))
    fine = sitk.GetArrayFromImage(sitk.Resample(image, reference, sitk.Transform(), sitk.sitkLinear,
                                                OUTSIDE_HU, sitk.sitkFloat32))
    # the otic capsule's level: the window's brightest bone, leaving out metal (an implant: > 1.25x bone)
    # and its bright rim and streaks
    metal = fine > 1.25 * levels.bone_hu
    if metal.any():
        metal = ndimage.binary_dilation(metal, iterations=3)
    brightest_hu = float(np.percentile(fine[~metal], 99.5)) if not metal.all() else levels.bone_hu
    soft_hu = max(levels.soft_hu, options.capsule_soft_fraction * brightest_hu)
    # capsule-walled first (a step lower where streaks break the wall), ordinary dense bone last
    cascade = [replace(levels, dense_hu=max(levels.dense_hu, fraction * brightest_hu), soft_hu=soft_hu)
               for fraction in (options.capsule_fraction, options.capsule_fraction - 0.1)] + [levels]
    mask = np.zeros(fine.shape, dtype=bool)
    without_metal = np.minimum(fine, 1.25 * levels.bone_hu)
    for step, lev in enumerate(cascade):
        mask = main_pocket(_enclosed(fine, lev, s, options), without_metal, s)
        if mask.sum() * s**3 >= options.min_pocket_mm3:
            break
    if not mask.any():
        return centre, 0.0, False, brightest_hu, np.zeros((0, 3))
    points = np.asarray(reference.GetOrigin()) + np.argwhere(mask)[:, ::-1] * s  # identity direction
    return points.mean(axis=0), float(mask.sum() * s**3), step < len(cascade) - 1, brightest_hu, points


# ------------------------------------------------------------------------------------------------- side
def _side_of_pair(centre: np.ndarray, pair_centres) -> Side:
    other = max(pair_centres, key=lambda c: float(np.linalg.norm(np.asarray(c) - centre)))
    return Side.LEFT if centre[0] > other[0] else Side.RIGHT


def _head_axes(centres_lps_mm, sides) -> np.ndarray:
    """Columns: the head's left, posterior and superior axes in LPS world, as far as the ears tell them.

    Two ears give the left-right axis (their joining line; a head turned about z or tilted sideways
    turns it); posterior is world y made orthogonal to it, superior completes the frame. The nod of
    the head about that axis is not observable from two points and is taken as zero. One ear gives
    the world axes.
    """
    if len(centres_lps_mm) != 2:
        return np.eye(3)
    right, left = (np.asarray(c, float) for c, _ in sorted(zip(centres_lps_mm, sides),
                                                          key=lambda cs: cs[1] is Side.LEFT))
    x = (left - right) / np.linalg.norm(left - right)
    y = np.array([0.0, 1.0, 0.0]) - x[1] * x
    y /= np.linalg.norm(y)
    return np.column_stack([x, y, np.cross(x, y)])


#: A lone ear's side is read from the direction of the outside air nearest to it only when that
#: direction lies within this angle of world x (the image's left-right axis): in a patient scan the
#: ear canal and the air beside the head lie lateral; in a specimen in any orientation they may lie
#: anywhere, and the side is then reported as unknown.
LONE_EAR_MAX_ANGLE_DEG = 30.0


def _side_of_lone_ear(grid: sitk.Image, values: np.ndarray, centre: np.ndarray) -> Side | None:
    """Which side a lone ear is on, from where the outside air nearest to it lies; None when it cannot tell.

    Outside air is air connected to the scan's border (air beside the head, the external ear canal).
    The mean direction from the ear to the outside-air voxels within 5 mm of the nearest one (the
    middle ear and ear canal; farther out the mastoid pulls it posterior) points laterally in a patient
    scan (|x| 0.92-0.99 in one-ear phantoms). When it lies within :data:`LONE_EAR_MAX_ANGLE_DEG` of world x, the
    side follows (air at larger x: the patient's left); otherwise the image's axes do not tell the
    side (a specimen, or a head turned far), and guessing from where the ear lies in the image would
    be a coin toss.
    """
    air = (values < -400) & (values > OUTSIDE_HU + 1)
    labels, _ = ndimage.label(air)
    border = np.unique(np.concatenate([labels[0].ravel(), labels[-1].ravel(), labels[:, 0].ravel(),
                                       labels[:, -1].ravel(), labels[:, :, 0].ravel(), labels[:, :, -1].ravel()]))
    outside = np.isin(labels, border[border > 0])
    # the field of view's edge (outside the scan, -4000) borders outside air too
    outside |= air & ndimage.binary_dilation(values <= OUTSIDE_HU + 1, iterations=2)
    idx = np.argwhere(outside)
    if idx.size == 0:
        return None
    points = _index_to_lps(grid, idx)  # the coarse grid has an identity direction
    vectors = points - np.asarray(centre, float)
    distance = np.linalg.norm(vectors, axis=1)
    near = distance <= distance.min() + 5.0
    direction = (vectors[near] / np.maximum(distance[near, None], 1e-6)).mean(axis=0)
    if np.linalg.norm(direction) < 1e-6:
        return None
    direction /= np.linalg.norm(direction)
    if abs(direction[0]) < np.cos(np.radians(LONE_EAR_MAX_ANGLE_DEG)):
        return None
    return Side.LEFT if direction[0] > 0 else Side.RIGHT


#: How far (mm) the centre of a pocket's bounding box must lie above its centroid for the labyrinth to
#: count as upright in the image. The superior canal rises above the cochlea: +0.39 to +2.2 mm in
#: patient-posed phantoms (seeds 3400-3411); below it in 13 of 18 arbitrarily turned specimens, which
#: are then not sided from the image. Pockets without their canals are exempt (below).
UPRIGHT_MIN_MM = 0.25
#: Likewise for the posterior component: the cochlea lies anterior, so the centroid sits in front of the
#: box centre (-0.1 to +1.3 mm in patient-posed phantoms); a specimen turned 180 degrees about z, which
#: the air and the upright test cannot tell from the other ear, has it behind.
FACING_MIN_MM = -0.2
#: Below this pocket volume the canals are missing from the pocket (coarse voxels hide their lumens,
#: e.g. 89 mm3 at 0.8 mm against 120-200 mm3 with them) and its shape says nothing about uprightness.
UPRIGHT_MIN_POCKET_MM3 = 110.0


def _is_upright(candidate: _Candidate) -> bool:
    """Whether the labyrinth stands as in a patient scan (superior up, cochlea in front), so that the image's
    axes may tell its side."""
    points = candidate.points_lps_mm
    if points is None or len(points) == 0:
        return False
    if candidate.volume_mm3 < UPRIGHT_MIN_POCKET_MM3:
        return True  # the canals are not in the pocket (coarse voxels): its shape cannot tell, the air must
    offset = (points.min(axis=0) + points.max(axis=0)) / 2.0 - points.mean(axis=0)
    return bool(offset[2] >= UPRIGHT_MIN_MM and offset[1] >= FACING_MIN_MM)


def _index_to_lps(grid: sitk.Image, index_zyx: np.ndarray) -> np.ndarray:
    """LPS mm of (z, y, x) indices of an identity-direction grid."""
    return np.asarray(grid.GetOrigin()) + index_zyx[:, ::-1] * np.asarray(grid.GetSpacing())


#: A user's ear point must have bone (>= :data:`USER_POINT_BONE_HU`) within this distance.
USER_POINT_BONE_RADIUS_MM = 8.0
USER_POINT_BONE_HU = 400.0


def _check_user_point(image: sitk.Image, centre_lps_mm: np.ndarray) -> None:
    """Refuse a user point outside the image or with no bone around it, naming where the image is."""
    from .geometry import physical_bounds_lps_mm

    low, high = (np.asarray(b, float) for b in physical_bounds_lps_mm(image))
    where = f"({', '.join(f'{v:.1f}' for v in centre_lps_mm)}) mm"
    extent = " to ".join(f"({', '.join(f'{v:.1f}' for v in b)})" for b in (low, high))
    index = np.asarray(image.TransformPhysicalPointToContinuousIndex([float(v) for v in centre_lps_mm]))
    if np.any(index < -0.5) or np.any(index > np.asarray(image.GetSize()) - 0.5):
        raise InputError(f"the ear point {where} lies outside the image, which spans {extent} mm (LPS). Give a "
                         f"point on the inner ear in LPS world coordinates (in 3D Slicer the RAS coordinates with "
                         f"the signs of x and y flipped).")
    r = USER_POINT_BONE_RADIUS_MM
    s = 0.5
    n = int(round(2 * r / s)) + 1
    reference = sitk.Image([n, n, n], sitk.sitkFloat32)
    reference.SetSpacing([s] * 3)
    reference.SetOrigin(tuple(float(v) for v in centre_lps_mm - r))
    window = sitk.GetArrayFromImage(sitk.Resample(image, reference, sitk.Transform(), sitk.sitkLinear,
                                                  OUTSIDE_HU, sitk.sitkFloat32))
    if not np.any(window >= USER_POINT_BONE_HU):
        raise InputError(f"the ear point {where} has no bone within {r:g} mm (brightest voxel {float(window.max()):.0f}"
                         f" HU), but an inner ear lies inside the dense otic capsule of the petrous bone. Place the "
                         f"point on the labyrinth itself.")


def _side_from_midline(image: sitk.Image, centre: np.ndarray) -> Side:
    from .geometry import physical_bounds_lps_mm

    low, high = physical_bounds_lps_mm(image)
    return Side.LEFT if centre[0] > (low[0] + high[0]) / 2 else Side.RIGHT


#: Evidence ramps (lower end: none, upper end: full) for the candidate measures; set on phantom seeds
#: 3000-3009 with their no-ear crops (benchmarks/evaluate_locator.py --development), apart from the
#: seeds it reports on. A labyrinth's pocket on the 0.5 mm grid measures 120-200 mm3 (real bony
#: labyrinths 140-265 mm3, reference/real_data.md), its coarse peak 50-80 mm3.
VOLUME_RAMP_MM3 = (40.0, 90.0)
VOLUME_FALL_MM3 = (320.0, 600.0)
PEAK_RAMP_MM3 = (15.0, 40.0)
DENSITY_RAMP = (0.6, 0.9)


def _ramp(value: float, low: float, high: float) -> float:
    return float(np.clip((value - low) / (high - low), 0.0, 1.0))


def evidence_terms(candidate: _Candidate) -> dict[str, float]:
    """Each factor of :func:`labyrinth_evidence` in [0, 1], by name."""
    v = max(candidate.volume_mm3, 1e-6)
    volume = (_ramp(np.log(v), *np.log(VOLUME_RAMP_MM3)) * (1.0 - _ramp(np.log(v), *np.log(VOLUME_FALL_MM3))))
    return {"volume": volume, "peak": _ramp(candidate.peak_mm3, *PEAK_RAMP_MM3),
            "capsule": 1.0 if candidate.capsule else 0.4,
            "density": _ramp(candidate.relative_density, *DENSITY_RAMP)}


def labyrinth_evidence(candidate: _Candidate) -> float:
    """Confidence in [0, 1] that `candidate` is an inner ear: the product of :func:`evidence_terms`."""
    return float(np.prod(list(evidence_terms(candidate).values())))


def _weakest_evidence(candidate: _Candidate) -> str:
    terms = evidence_terms(candidate)
    weakest = min(terms, key=terms.get)
    return {"volume": f"its fluid volume, {candidate.volume_mm3:.0f} mm3, is not a labyrinth's (100-300 mm3)",
            "peak": "too little fluid is enclosed by dense bone around it",
            "capsule": "its walls are not of the otic capsule's density",
            "density": "the bone around it is much less dense than elsewhere in the scan"}[weakest]
