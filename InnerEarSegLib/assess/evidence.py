"""Per-structure measurements a reader can check: volume, components, canal loop, cochlear turns, extent.

Every function takes boolean masks as ``(z, y, x)`` arrays and ``spacing_mm`` as ``(z, y, x)`` voxel
sizes in mm, and returns plain numbers (JSON-able). The decisions (present / incomplete / missing)
live in :mod:`.rules`; this module only measures.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy import ndimage

from ..geometry import spacing_zyx_mm as _spacing

#: 26-connectivity structuring element used for components and contacts.
FULL_3D = np.ones((3, 3, 3), bool)


def volume_mm3(mask: np.ndarray, spacing_mm) -> float:
    """Volume of a boolean mask in mm³."""
    return float(np.count_nonzero(mask) * np.prod(_spacing(spacing_mm)))


def component_volumes_mm3(mask: np.ndarray, spacing_mm, *, min_volume_mm3: float = 0.0) -> list[float]:
    """Volumes (mm³, largest first) of the 26-connected components at least `min_volume_mm3` large."""
    labels, n = ndimage.label(mask, structure=FULL_3D)
    if n == 0:
        return []
    counts = np.bincount(labels.ravel())[1:] * float(np.prod(_spacing(spacing_mm)))
    return sorted((float(c) for c in counts if c >= min_volume_mm3), reverse=True)


def extent_mm(mask: np.ndarray, spacing_mm) -> list[float]:
    """Principal extents (mm, largest first): 4 x the standard deviation along each principal axis."""
    pts = np.argwhere(mask) * _spacing(spacing_mm)
    if len(pts) < 4:
        return [0.0, 0.0, 0.0]
    ev = np.linalg.eigvalsh(np.cov(pts.T))
    return [float(4.0 * np.sqrt(max(e, 0.0))) for e in ev[::-1]]


@dataclass(frozen=True)
class LoopEvidence:
    """Whether a canal closes its loop through the rest of the labyrinth.

    Attributes
    ----------
    closed : bool
        The canal leaves the rest and comes back: cut where it is farthest from the rest, it falls
        into two arms that both touch the rest, or canal ∪ rest has one more independent tunnel than
        the rest alone (Euler numbers, computed locally per canal, not a global Betti number). A stub
        attached at one end, or two stubs, pass neither test.
    openings : int
        Number of separate contact regions with the rest (all pieces).
    reach_mm : float
        Largest distance along the canal from its openings (about half the arc of a whole canal).
    """

    closed: bool
    openings: int
    reach_mm: float

    def to_dict(self) -> dict:
        return asdict(self)


def canal_loop(canal: np.ndarray, rest: np.ndarray, spacing_mm, *, min_reach_mm: float = 2.0) -> LoopEvidence:
    """Check that `canal` leaves and re-enters `rest` (the vestibule, or vestibule ∪ other canals).

    Parameters
    ----------
    canal, rest : (Z, Y, X) bool
    spacing_mm : (3,) float
        Voxel size (z, y, x) in mm.
    min_reach_mm : float
        A canal reaching less than this from its openings is a bump, not an arc.
    """
    s = _spacing(spacing_mm)
    if not canal.any() or not rest.any():
        return LoopEvidence(False, 0, 0.0)
    box = _bbox(canal, margin=2)
    # bridge breaks of up to two voxels: a canal thinner than a voxel (hypoplastic) rasterises into beads
    canal_c = ndimage.binary_closing(np.pad(canal[box], 2), FULL_3D, iterations=2)[2:-2, 2:-2, 2:-2] | canal[box]
    rest_c = rest[box]
    canal_c &= ~rest_c
    contact = ndimage.binary_dilation(rest_c, FULL_3D) & canal_c
    n_open = ndimage.label(contact, structure=FULL_3D)[1]
    pieces, _ = ndimage.label(canal_c, structure=FULL_3D)
    best_reach, two_arms = 0.0, False
    for piece in np.setdiff1d(np.unique(pieces[contact]), [0]):
        inside = pieces == piece
        dist = geodesic_distance_mm(inside, contact & inside, s)
        reach = float(np.max(np.where(np.isfinite(dist), dist, -1.0)))
        best_reach = max(best_reach, reach)
        if reach >= min_reach_mm:  # cut the arc at half its reach: a loop leaves two arms, a stub one
            arms, _ = ndimage.label(inside & (dist < 0.5 * reach), structure=FULL_3D)
            two_arms |= len(np.setdiff1d(np.unique(arms[contact]), [0])) >= 2
    # or: a new independent tunnel in canal ∪ rest (local, per canal: robust where a global count is
    # not; it misses canals that run along the rest, the cut misses canals whose rest has holes)
    closed_canal = np.zeros_like(canal)
    closed_canal[box] = canal_c
    union_box = _bbox(closed_canal | rest, margin=1)
    closed = best_reach >= min_reach_mm and (two_arms or (
        tunnel_count((closed_canal | rest)[union_box]) > tunnel_count(rest[union_box])))
    return LoopEvidence(closed, int(n_open), round(best_reach, 2))


def _bbox(mask: np.ndarray, *, margin: int = 1) -> tuple[slice, ...]:
    idx = np.argwhere(mask)
    lo = np.maximum(idx.min(axis=0) - margin, 0)
    hi = np.minimum(idx.max(axis=0) + margin + 1, mask.shape)
    return tuple(slice(int(a), int(b)) for a, b in zip(lo, hi))


def geodesic_distance_mm(inside: np.ndarray, seeds: np.ndarray, spacing_mm) -> np.ndarray:
    """Shortest-path length (mm) inside `inside` from any voxel of `seeds`; ``inf`` where unreachable."""
    from skimage.graph import MCP_Geometric

    s = _spacing(spacing_mm)
    costs = np.where(inside, 1.0, np.inf)
    # MCP_Geometric scales steps by `sampling`; costs of 1 make the result a path length in mm.
    mcp = MCP_Geometric(costs, fully_connected=True, sampling=tuple(s))
    starts = np.argwhere(seeds & inside)
    if len(starts) == 0:
        return np.full(inside.shape, np.inf)
    dist, _ = mcp.find_costs([tuple(p) for p in starts])
    dist = np.where(inside, dist, np.inf)
    return dist


@dataclass(frozen=True)
class TurnEvidence:
    """Cochlear turns measured along the duct, around the modiolus axis.

    Attributes
    ----------
    turns : float
        Unwrapped angle swept around the axis from the base to the apex, in turns (2π = 1 turn).
    duct_length_mm : float
        Longest path inside the cochlea from its base (the opening to the vestibule when known).
    angular_coverage : float
        Fraction of the 36 ten-degree sectors around the axis that hold cochlea (1.0 for a cochlea that
        wraps at least once around its modiolus). Robust where adjacent turns merge at CT resolution
        and the centre line short-cuts across them (then ``turns`` is a lower bound).
    axis : list of float
        Unit modiolus axis (z, y, x) in array order.
    """

    turns: float
    duct_length_mm: float
    angular_coverage: float
    axis: list

    def to_dict(self) -> dict:
        return asdict(self)


def cochlear_turns(cochlea: np.ndarray, spacing_mm, *, base_hint: np.ndarray | None = None,
                   bin_mm: float = 0.6) -> TurnEvidence:
    """Count the cochlea's turns along its centre line.

    The duct is ordered by geodesic distance from the base (the voxels touching `base_hint`, normally
    the vestibule; otherwise the end of the longest path farthest from the axis). Voxels are binned by
    that distance, each bin's circular-mean angle around the modiolus axis is unwrapped, and the swept
    angle is the turn count. The axis is the direction of least spread (the cochlea is a flat cone);
    its position is the centre of the circle fitted to the outline (convex hull) of the cochlea seen
    along the axis.

    Parameters
    ----------
    cochlea : (Z, Y, X) bool
    spacing_mm : (3,) float
    base_hint : (Z, Y, X) bool, optional
        Structure the base opens into (the vestibule).
    bin_mm : float
        Length of the duct bins, in mm.
    """
    s = _spacing(spacing_mm)
    labels, n = ndimage.label(cochlea, structure=FULL_3D)
    if n == 0:
        return TurnEvidence(0.0, 0.0, 0.0, [0.0, 0.0, 1.0])
    largest = labels == (np.argmax(np.bincount(labels.ravel())[1:]) + 1)
    box = _bbox(largest, margin=2)
    inside = largest[box]
    pts = np.argwhere(inside) * s
    if len(pts) < 10:
        return TurnEvidence(0.0, 0.0, 0.0, [0.0, 0.0, 1.0])
    centred = pts - pts.mean(axis=0)
    _, vecs = np.linalg.eigh(np.cov(centred.T))
    axis = vecs[:, 0]
    base = _base_seed(inside, s, None if base_hint is None else base_hint[box], pts, axis)
    dist = geodesic_distance_mm(inside, base, s)[inside]
    ok = np.isfinite(dist)
    pts, dist = pts[ok], dist[ok]
    length = float(dist.max()) if len(dist) else 0.0
    e1 = np.cross(axis, [1.0, 0.0, 0.0] if abs(axis[0]) < 0.9 else [0.0, 1.0, 0.0])
    e1 /= np.linalg.norm(e1)
    e2 = np.cross(axis, e1)
    uv = np.column_stack([pts @ e1, pts @ e2])
    centre_uv, radius = _outer_circle(uv)
    rel = uv - centre_uv
    angle = np.arctan2(rel[:, 1], rel[:, 0])
    outer = np.hypot(rel[:, 0], rel[:, 1]) >= 0.35 * radius
    bins = np.floor(dist / bin_mm).astype(int)
    means = []
    for b in np.unique(bins):
        a = angle[bins == b]
        means.append(np.arctan2(np.sin(a).mean(), np.cos(a).mean()))
    swept = float(np.abs(np.unwrap(np.asarray(means))[-1] - means[0])) if len(means) > 1 else 0.0
    sectors = np.unique(np.floor((angle[outer] + np.pi) / (2 * np.pi) * 36).astype(int) % 36)
    return TurnEvidence(round(swept / (2 * np.pi), 2), round(length, 2), round(len(sectors) / 36.0, 3),
                        [round(float(v), 4) for v in axis])


def _outer_circle(uv: np.ndarray) -> tuple[np.ndarray, float]:
    """Circle of the cochlea's outline seen along its axis: a RANSAC fit (fixed seed) to the convex
    hull's vertices, so that a straight cut edge (part of the cochlea lost) does not pull the centre
    off the modiolus the way a least-squares fit would."""
    from scipy.spatial import ConvexHull, QhullError

    try:
        hull = uv[ConvexHull(uv).vertices]
    except (QhullError, ValueError):
        return uv.mean(axis=0), float(np.ptp(uv, axis=0).max() / 2)
    if len(hull) < 3:
        return uv.mean(axis=0), float(np.ptp(uv, axis=0).max() / 2)
    rng = np.random.default_rng(0)
    best, best_score = (hull.mean(axis=0), float(np.ptp(hull, axis=0).max() / 2)), -1
    for _ in range(200):
        a, b, c = hull[rng.choice(len(hull), 3, replace=False)]
        m = np.array([b - a, c - a])
        if abs(np.linalg.det(m)) < 1e-6:
            continue
        rhs = 0.5 * np.array([b @ b - a @ a, c @ c - a @ a])
        centre = np.linalg.solve(m, rhs)
        radius = float(np.linalg.norm(a - centre))
        if not 1.5 <= radius <= 8.0:
            continue
        score = int(np.sum(np.abs(np.linalg.norm(hull - centre, axis=1) - radius) < 0.3))
        if score > best_score:
            best, best_score = (centre, radius), score
    return best


def _base_seed(inside, s, hint, pts, axis) -> np.ndarray:
    if hint is not None and hint.any():
        touch = ndimage.binary_dilation(hint, FULL_3D) & inside
        if touch.any():
            return touch
    # double sweep: the two ends of the longest path; the base is the one farther from the axis
    first = np.zeros_like(inside)
    first[tuple(np.argwhere(inside)[0])] = True
    d1 = geodesic_distance_mm(inside, first, s)
    end_a = np.unravel_index(np.argmax(np.where(np.isfinite(d1), d1, -1)), inside.shape)
    seed_a = np.zeros_like(inside)
    seed_a[end_a] = True
    d2 = geodesic_distance_mm(inside, seed_a, s)
    end_b = np.unravel_index(np.argmax(np.where(np.isfinite(d2), d2, -1)), inside.shape)
    centroid = pts.mean(axis=0)

    def radial(idx):
        rel = np.asarray(idx) * s - centroid
        return np.linalg.norm(rel - (rel @ axis) * axis)

    seed = np.zeros_like(inside)
    seed[end_a if radial(end_a) >= radial(end_b) else end_b] = True
    return seed


def longest_path_mm(mask: np.ndarray, spacing_mm) -> float:
    """Length (mm) of the longest shortest path inside the largest component (double sweep)."""
    s = _spacing(spacing_mm)
    labels, n = ndimage.label(mask, structure=FULL_3D)
    if n == 0:
        return 0.0
    largest = labels == (np.argmax(np.bincount(labels.ravel())[1:]) + 1)
    inside = largest[_bbox(largest, margin=1)]
    seed = np.zeros_like(inside)
    seed[tuple(np.argwhere(inside)[0])] = True
    for _ in range(2):
        dist = geodesic_distance_mm(inside, seed, s)
        far = np.unravel_index(np.argmax(np.where(np.isfinite(dist), dist, -1)), inside.shape)
        seed = np.zeros_like(inside)
        seed[far] = True
    return round(float(dist[far]), 2)


def tunnel_count(mask: np.ndarray) -> int:
    """Number of independent tunnels (first Betti number) of a 26-connected mask.

    Uses b1 = b0 + b2 - χ with the Euler number χ (26-connectivity) and the cavity count b2
    (6-connected background components not touching the border). A global count is fragile on real
    masks (touching cochlear turns add tunnels); the rules use it only as a sign of disorganisation.
    """
    from skimage.measure import euler_number

    if not mask.any():
        return 0
    m = np.pad(mask[_bbox(mask, margin=1)], 1)
    chi = euler_number(m, connectivity=3)
    b0 = ndimage.label(m, structure=FULL_3D)[1]
    bg, nbg = ndimage.label(~m)
    b2 = nbg - 1  # the padded border makes one outer background component
    return int(max(b0 + b2 - chi, 0))
