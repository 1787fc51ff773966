"""Real human bony labyrinths (surface meshes from CT) for measuring and calibrating the phantom.

Source: repository ``Daniel-Nicolae/Modelling-the-Human-Semicircular-Canals``, commit
``a8343505728b90d38e4dc9e72f3409f0c8adff1d``, paths ``cochlea_data/NN.ply`` (closed surfaces in mm, each
in its own scanner frame, all with the same vertex numbering: 11 145 vertices, 22 302 triangles),
``cochlea_data/canonical_coloured.ply`` (the same topology, per-vertex colours marking cochlea,
vestibule, anterior (= superior), posterior and lateral canal and the common crus) and
``python/segmentations.py`` (the author's lists of left ears and invalid subjects). The repository
has no licence: the files stay in an ignored folder (``.work/real/labyrinths``), are never committed,
shipped or trained on; numbers measured from them may be quoted with this source.

**Only subjects 01-40 may be opened.** Subjects 41-73 are held out for independent checks of the
project; :func:`load_subject` refuses them.

What this module does, one job per function:

* :func:`read_ply` -- a small numpy reader for the binary little-endian PLY files of this data set.
* :func:`read_subject_lists` -- left ears and invalid subjects from ``segmentations.py``, parsed as
  text with :mod:`ast` (nothing is imported, executed or unpickled).
* :func:`canonical_vertex_parts` -- per-vertex part names from ``canonical_coloured.ply``'s colours.
* :func:`structure_per_vertex` -- the five project structures per vertex; the common crus (its own
  colour in the source) is split between the superior and posterior canal by the nearest vertex of
  either arc, so that each canal runs on to the vestibule, as in the phantom.
* :func:`~InnerEarSegLib.phantom.shape_measures.anatomical_frame` -- the project's *ear frame* from
  structure centroids: origin at the vestibule centroid, +z towards the superior canal, +y
  posterior, +x lateral, always in **left-ear chirality** (``InnerEarSegLib.phantom.anatomy``). A right ear is therefore mirrored into it (the
  frame matrix has determinant -1 in the scanner's coordinates) -- the project's convention that the
  model sees one side. Chirality comes from the anatomy itself and is cross-checked with the author's
  list of left ears.
* :func:`load_subject` / :func:`load_subjects` -- one subject as a :class:`RealLabyrinth` in the ear frame.
* :meth:`RealLabyrinth.scanner_turn` -- how the subject's ear frame lay in its own scanner (left
  chirality): the turn a labyrinth is given when placed in a head.
* :func:`voxelise` -- a 5-structure label map of a labyrinth on any grid (the phantom's
  :class:`~InnerEarSegLib.phantom.raster.Grid`, or a SimpleITK image), placed by a rigid map
  ``world = rot @ p_ear + shift`` exactly like the phantom's ears: inside/outside by VTK's
  ``vtkPolyDataToImageStencil`` (closed surface), the structure of each inside voxel by the nearest
  labelled triangle.

Run ``python benchmarks/real_labyrinths.py /work/main/.work/real/labyrinths`` for a per-subject
summary; without the folder it prints why it skips and exits 0.
"""
from __future__ import annotations

import argparse
import ast
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.spatial import cKDTree

from InnerEarSegLib.labels import Side, Structure
from InnerEarSegLib.phantom.raster import Grid
from InnerEarSegLib.phantom.shape_measures import anatomical_frame

SOURCE_REPOSITORY = "Daniel-Nicolae/Modelling-the-Human-Semicircular-Canals"
SOURCE_COMMIT = "a8343505728b90d38e4dc9e72f3409f0c8adff1d"
SOURCE_PATHS = ("cochlea_data/NN.ply", "cochlea_data/canonical_coloured.ply", "python/segmentations.py")
SOURCE = f"{SOURCE_REPOSITORY}@{SOURCE_COMMIT}, {', '.join(SOURCE_PATHS)}"
DEFAULT_FOLDER = Path("/work/main/.work/real/labyrinths")
ALLOWED_SUBJECTS = tuple(range(1, 41))  # 41-73 are held out: never opened here

#: RGB (0-255) of each part in canonical_coloured.ply (python/segmentations.py's col_dict x 255).
PART_COLOURS_RGB = {
    "cochlea": (255, 0, 0),
    "vestibule": (255, 217, 0),
    "superior": (0, 255, 5),  # "anterior" in the source
    "posterior": (0, 60, 255),
    "common_crus": (0, 255, 219),  # "anterior-posterior" in the source
    "lateral": (125, 132, 255),
}
_PART_STRUCTURE = {"cochlea": Structure.COCHLEA, "vestibule": Structure.VESTIBULE,
                   "superior": Structure.SUPERIOR_CANAL, "lateral": Structure.LATERAL_CANAL,
                   "posterior": Structure.POSTERIOR_CANAL}
_PLY_TYPES = {"char": "i1", "uchar": "u1", "int8": "i1", "uint8": "u1", "short": "i2", "ushort": "u2",
              "int16": "i2", "uint16": "u2", "int": "i4", "uint": "u4", "int32": "i4", "uint32": "u4",
              "float": "f4", "float32": "f4", "double": "f8", "float64": "f8"}


class RealDataMissing(FileNotFoundError):
    """The real-labyrinth folder (or a file in it) is absent; benchmarks skip with this message."""


@dataclass(frozen=True)
class PlyMesh:
    """A triangle mesh as read from a PLY file (scanner frame, mm)."""

    vertices_mm: np.ndarray  # (N, 3) float64
    triangles: np.ndarray  # (M, 3) int64
    colours_rgb: np.ndarray | None  # (N, 3) uint8, or None
    landmarks_mm: dict[str, np.ndarray]  # "comment LANDMARK" lines: name -> (3,)


@dataclass(frozen=True)
class RealLabyrinth:
    """One real labyrinth in the project's ear frame (left chirality, origin at the vestibule centroid).

    ``vertices_mm`` (N, 3) and ``triangles`` (M, 3, outward normals) describe the closed surface;
    ``vertex_structure`` (N,) and ``triangle_structure`` (M,) hold labels 1-5 (:class:`Structure`).
    ``side`` is the ear as acquired; ``mirrored`` says whether the scanner coordinates were mirrored
    to reach the ear frame (a right ear's are). ``ear_from_scanner`` (4, 4) maps scanner mm to ear mm.
    """

    subject: int
    side: Side
    mirrored: bool
    vertices_mm: np.ndarray
    triangles: np.ndarray
    vertex_structure: np.ndarray
    triangle_structure: np.ndarray
    ear_from_scanner: np.ndarray
    landmarks_mm: dict[str, np.ndarray]

    @property
    def volume_mm3(self) -> float:
        """Enclosed volume of the closed surface (divergence theorem)."""
        return mesh_volume_mm3(self.vertices_mm, self.triangles)

    def structure_centroids_mm(self) -> dict[Structure, np.ndarray]:
        """Mean vertex position of each structure (ear frame, mm)."""
        return {st: self.vertices_mm[self.vertex_structure == st].mean(axis=0) for st in Structure}

    def scanner_turn(self) -> np.ndarray:
        """Rotation (3, 3, det +1) from the ear frame to the axes of the subject's own scanner, as a left ear.

        ``ear_from_scanner`` inverted, and for a right ear mirrored across the scanner's x axis (the
        patient's left-right axis in these scans: every right ear's lateral axis points to -x), so that
        it turns the labyrinth as the same head would hold a left ear.

        The ear frame's axes come from structure centroids (``anatomical_frame``); in a head they are
        not the head's axes. In subjects 01-40 the ear frame lies 29 deg from the scanner's axes (median
        11 deg between subjects; ``benchmarks/compare_anatomy.py``, rows ``head_orientation_deg``), as
        the phantom's labyrinths lie in its heads. A labyrinth placed in a head with its ear frame on
        the head's axes is turned about 30 deg from any real or phantom ear: place it at
        ``rot @ scanner_turn()`` instead (``evaluate_generalisation.py --placement scanner``).
        """
        ear_to_scanner = self.ear_from_scanner[:3, :3].T
        return np.diag([-1.0, 1.0, 1.0]) @ ear_to_scanner if self.mirrored else ear_to_scanner


# --------------------------------------------------------------------------- reading
def read_ply(path: str | Path) -> PlyMesh:
    """Read a binary little-endian triangle PLY (vertex x, y, z [, others] [, red, green, blue]; faces as lists).

    Raises
    ------
    ValueError
        If the file is not a binary little-endian PLY of triangles.
    """
    path = Path(path)
    raw = path.read_bytes()
    end = raw.find(b"end_header\n")
    if not raw.startswith(b"ply") or end < 0:
        raise ValueError(f"{path}: not a PLY file (no 'ply' magic or 'end_header')")
    header = raw[:end].decode("ascii", errors="replace").splitlines()
    if "format binary_little_endian 1.0" not in header:
        raise ValueError(f"{path}: only binary_little_endian PLY is supported")
    elements, landmarks = _parse_header(header, path)
    offset = end + len(b"end_header\n")
    vert_name, (n_vert, vert_props) = next(iter(elements.items()))
    if vert_name != "vertex" or list(elements)[1:] != ["face"]:
        raise ValueError(f"{path}: expected elements 'vertex' then 'face', got {list(elements)}")
    vdtype = np.dtype([(name, "<" + typ) for name, typ in vert_props])
    n_face, face_props = elements["face"]
    (_, list_types), = face_props
    count_t, index_t = list_types
    fdtype = np.dtype([("n", "<" + count_t), ("i", "<" + index_t, (3,))])
    if offset + vdtype.itemsize * n_vert + fdtype.itemsize * n_face != len(raw):
        raise ValueError(f"{path}: file size does not match its header of {n_vert} vertices and {n_face} "
                         "triangles (truncated, extra data, or not all faces triangles)")
    verts = np.frombuffer(raw, vdtype, n_vert, offset)
    faces = np.frombuffer(raw, fdtype, n_face, offset + vdtype.itemsize * n_vert)
    if n_face and not np.all(faces["n"] == 3):
        raise ValueError(f"{path}: only triangle faces are supported")
    xyz = np.stack([verts["x"], verts["y"], verts["z"]], axis=1).astype(np.float64)
    names = vdtype.names
    rgb = (np.stack([verts["red"], verts["green"], verts["blue"]], axis=1).astype(np.uint8)
           if {"red", "green", "blue"} <= set(names) else None)
    return PlyMesh(xyz, faces["i"].astype(np.int64), rgb, landmarks)


def _parse_header(lines: list[str], path: Path):
    elements: dict[str, tuple[int, list]] = {}
    landmarks: dict[str, np.ndarray] = {}
    current = None
    for line in lines[1:]:
        words = line.split()
        if not words or words[0] in ("format", "obj_info"):
            continue
        if words[0] == "comment":
            if len(words) > 2 and words[1] == "LANDMARK" and '"' in line:
                name = line.split('"')[1]
                nums = line.rsplit('"', 1)[1].split()
                key = ("external " if words[2] == "EXTERNAL" else "") + name
                landmarks[key] = np.array([float(v) for v in nums[:3]])
            continue
        if words[0] == "element":
            current = words[1]
            elements[current] = (int(words[2]), [])
        elif words[0] == "property" and current is not None:
            if words[1] == "list":
                elements[current][1].append((words[4], (_PLY_TYPES[words[2]], _PLY_TYPES[words[3]])))
            else:
                elements[current][1].append((words[2], _PLY_TYPES[words[1]]))
        else:
            raise ValueError(f"{path}: unexpected header line {line!r}")
    return elements, landmarks


def read_subject_lists(segmentations_py: str | Path) -> tuple[frozenset[int], frozenset[int]]:
    """Left ears and invalid subjects, parsed as literals from the author's ``segmentations.py``.

    The file is read as text and only the assignments ``left = [...]`` and ``invalid = [...]`` are
    evaluated with :func:`ast.literal_eval`; nothing is imported or executed.
    """
    tree = ast.parse(Path(segmentations_py).read_text(encoding="utf-8"))
    found: dict[str, frozenset[int]] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            name = node.targets[0].id
            if name in ("left", "invalid"):
                found[name] = frozenset(int(v) for v in ast.literal_eval(node.value))
    missing = {"left", "invalid"} - set(found)
    if missing:
        raise ValueError(f"{segmentations_py}: no literal list for {sorted(missing)}")
    return found["left"], found["invalid"]


def canonical_vertex_parts(colours_rgb: np.ndarray) -> np.ndarray:
    """Part name per vertex (object array (N,)) from the canonical mesh's colours.

    Raises
    ------
    ValueError
        If a vertex has a colour that is not one of :data:`PART_COLOURS_RGB`.
    """
    names = np.array(list(PART_COLOURS_RGB), dtype=object)
    table = np.array(list(PART_COLOURS_RGB.values()), dtype=int)
    dist = np.abs(colours_rgb.astype(int)[:, None, :] - table[None, :, :]).sum(axis=2)
    best = dist.argmin(axis=1)
    bad = dist[np.arange(len(best)), best] > 3
    if bad.any():
        raise ValueError(f"{bad.sum()} vertices have colours outside the part table, e.g. "
                         f"{tuple(colours_rgb[np.argmax(bad)])}")
    return names[best]


def structure_per_vertex(parts: np.ndarray, vertices_mm: np.ndarray) -> np.ndarray:
    """Labels 1-5 per vertex; common-crus vertices take the canal (superior/posterior) of the nearest arc vertex."""
    out = np.zeros(len(parts), np.uint8)
    for name, st in _PART_STRUCTURE.items():
        out[parts == name] = int(st)
    crus = parts == "common_crus"
    if crus.any():
        arcs = np.flatnonzero((parts == "superior") | (parts == "posterior"))
        _, j = cKDTree(vertices_mm[arcs]).query(vertices_mm[crus])
        out[crus] = out[arcs[j]]
    return out


def triangle_structure(triangles: np.ndarray, vertex_structure: np.ndarray) -> np.ndarray:
    """Label of each triangle: the majority of its three vertices (the first vertex on a three-way tie)."""
    lab = vertex_structure[triangles]
    a, b, c = lab[:, 0], lab[:, 1], lab[:, 2]
    return np.where((b == c) & (a != b), b, a).astype(np.uint8)


def mesh_volume_mm3(vertices_mm: np.ndarray, triangles: np.ndarray) -> float:
    """Signed enclosed volume of a closed triangle surface (positive for outward normals)."""
    p = vertices_mm[triangles]
    return float(np.einsum("ij,ij->i", p[:, 0], np.cross(p[:, 1], p[:, 2])).sum() / 6.0)


# --------------------------------------------------------------------------- loading
def check_folder(folder: str | Path) -> Path:
    """The folder, if it holds ``canonical_coloured.ply`` and ``segmentations.py``; else :class:`RealDataMissing`."""
    folder = Path(folder)
    for name in ("canonical_coloured.ply", "segmentations.py"):
        if not (folder / name).is_file():
            raise RealDataMissing(
                f"real labyrinth data not found: {folder / name} is missing. Fetch {SOURCE} (subjects 01-40 only) "
                f"into an ignored folder such as .work/real/labyrinths and pass that folder.")
    return folder


@dataclass(frozen=True)
class _Canonical:
    parts: np.ndarray
    left: frozenset[int]
    invalid: frozenset[int]


def _canonical(folder: Path) -> _Canonical:
    mesh = read_ply(folder / "canonical_coloured.ply")
    if mesh.colours_rgb is None:
        raise ValueError(f"{folder / 'canonical_coloured.ply'} has no vertex colours")
    left, invalid = read_subject_lists(folder / "segmentations.py")
    return _Canonical(canonical_vertex_parts(mesh.colours_rgb), left, invalid)


def load_subject(folder: str | Path, subject: int, *, canonical: _Canonical | None = None) -> RealLabyrinth:
    """Subject `subject` (1-40) in the ear frame, with labels per vertex and triangle.

    Raises
    ------
    ValueError
        For a subject outside 01-40 (41-73 are held out), an invalid one, or a mesh whose vertex
        count differs from the canonical mesh.
    RealDataMissing
        If the folder or the subject's file is absent.
    """
    folder = check_folder(folder)
    subject = int(subject)
    if subject not in ALLOWED_SUBJECTS:
        raise ValueError(f"subject must be 1-40 (41-73 are held out and must not be opened), got {subject}")
    canonical = canonical or _canonical(folder)
    if subject in canonical.invalid:
        raise ValueError(f"subject {subject:02d} is listed invalid in segmentations.py")
    path = folder / f"{subject:02d}.ply"
    if not path.is_file():
        raise RealDataMissing(f"{path} is missing (expected subjects 01-40 of {SOURCE})")
    mesh = read_ply(path)
    if len(mesh.vertices_mm) != len(canonical.parts):
        raise ValueError(f"{path}: {len(mesh.vertices_mm)} vertices, the canonical mesh has {len(canonical.parts)}")
    labels = structure_per_vertex(canonical.parts, mesh.vertices_mm)
    cents = {st: mesh.vertices_mm[labels == st].mean(axis=0) for st in Structure}
    rot, origin, mirrored = anatomical_frame(cents)
    tris = mesh.triangles
    if mesh_volume_mm3(mesh.vertices_mm, tris) < 0:
        tris = tris[:, ::-1]
    if mirrored:
        tris = tris[:, ::-1]  # a mirror turns outward normals inward
    verts = (mesh.vertices_mm - origin) @ rot.T
    ear_from_scanner = np.eye(4)
    ear_from_scanner[:3, :3] = rot
    ear_from_scanner[:3, 3] = -rot @ origin
    side = Side.LEFT if subject in canonical.left else Side.RIGHT
    marks = {k: (v - origin) @ rot.T for k, v in mesh.landmarks_mm.items() if not k.startswith("external ")}
    return RealLabyrinth(subject, side, mirrored, verts, np.ascontiguousarray(tris), labels,
                         triangle_structure(tris, labels), ear_from_scanner, marks)


def load_subjects(folder: str | Path, subjects=ALLOWED_SUBJECTS) -> list[RealLabyrinth]:
    """All valid subjects among `subjects` (default 01-40), invalid ones left out."""
    folder = check_folder(folder)
    canonical = _canonical(folder)
    return [load_subject(folder, s, canonical=canonical) for s in subjects if int(s) not in canonical.invalid]


# --------------------------------------------------------------------------- voxelisation
def voxelise(labyrinth: RealLabyrinth, grid, rot=np.eye(3), shift=np.zeros(3)) -> np.ndarray:
    """uint8 labels 1-5 of `labyrinth` at the voxel centres of `grid` (array (z, y, x)).

    Parameters
    ----------
    labyrinth : RealLabyrinth
        Surface in the ear frame.
    grid : Grid or SimpleITK.Image
        Target grid (any spacing and direction).
    rot, shift : (3, 3), (3,)
        Rigid placement ``world = rot @ p_ear + shift`` (mm); ``rot`` may mirror (det -1), as the
        phantom's right ears do.

    A voxel is inside when its centre is inside the closed surface (``vtkPolyDataToImageStencil``,
    computed in the grid's index space, where the placement is affine); its structure is that of the
    nearest labelled triangle (centroid distance in mm).
    """
    if not isinstance(grid, Grid):
        grid = Grid.of_image(grid)
    m, b = grid.ear_to_index(np.asarray(rot, float), np.asarray(shift, float))
    idx_xyz = labyrinth.vertices_mm @ m.T + b
    inside = _inside_stencil(idx_xyz, labyrinth.triangles, grid.shape_zyx)
    out = np.zeros(grid.shape_zyx, np.uint8)
    if not inside.any():
        return out
    kz, ky, kx = np.nonzero(inside)
    p_ear = (np.stack([kx, ky, kz], axis=1) - b) @ np.linalg.inv(m).T
    tri_centre = labyrinth.vertices_mm[labyrinth.triangles].mean(axis=1)
    _, j = cKDTree(tri_centre).query(p_ear)
    out[kz, ky, kx] = labyrinth.triangle_structure[j]
    return out


def _inside_stencil(points_index_xyz: np.ndarray, triangles: np.ndarray, shape_zyx) -> np.ndarray:
    """Boolean (z, y, x): voxel centres (integer indices) inside the closed surface given in index space."""
    import vtk
    from vtk.util import numpy_support

    lo = np.maximum(np.floor(points_index_xyz.min(axis=0)).astype(int) - 1, 0)
    hi = np.minimum(np.ceil(points_index_xyz.max(axis=0)).astype(int) + 1, np.array(shape_zyx[::-1]) - 1)
    out = np.zeros(shape_zyx, bool)
    if np.any(hi < lo):
        return out
    pts = vtk.vtkPoints()
    pts.SetData(numpy_support.numpy_to_vtk(np.ascontiguousarray(points_index_xyz, np.float64), deep=True))
    cells = vtk.vtkCellArray()
    offsets = np.arange(0, 3 * len(triangles) + 1, 3, dtype=np.int64)
    cells.SetData(numpy_support.numpy_to_vtkIdTypeArray(offsets, deep=True),
                  numpy_support.numpy_to_vtkIdTypeArray(triangles.astype(np.int64).ravel(), deep=True))
    poly = vtk.vtkPolyData()
    poly.SetPoints(pts)
    poly.SetPolys(cells)
    stencil = vtk.vtkPolyDataToImageStencil()
    stencil.SetInputData(poly)
    stencil.SetOutputOrigin(0.0, 0.0, 0.0)
    stencil.SetOutputSpacing(1.0, 1.0, 1.0)
    stencil.SetOutputWholeExtent(int(lo[0]), int(hi[0]), int(lo[1]), int(hi[1]), int(lo[2]), int(hi[2]))
    stencil.SetTolerance(0.0)
    to_image = vtk.vtkImageStencilToImage()
    to_image.SetInputConnection(stencil.GetOutputPort())
    to_image.SetInsideValue(1)
    to_image.SetOutsideValue(0)
    to_image.SetOutputScalarTypeToUnsignedChar()
    to_image.Update()
    img = to_image.GetOutput()
    nx, ny, nz = (hi - lo + 1)
    block = numpy_support.vtk_to_numpy(img.GetPointData().GetScalars()).reshape(nz, ny, nx).astype(bool)
    out[lo[2]:hi[2] + 1, lo[1]:hi[1] + 1, lo[0]:hi[0] + 1] = block
    return out


def ear_grid(spacing_mm: float = 0.3, half_extent_mm: float = 11.0) -> Grid:
    """An isotropic, axis-aligned grid in the ear frame around a labyrinth (subjects 01-40 span
    x -4.2..5.8, y -8.8..9.5, z -7.1..9.4 mm about the vestibule centroid)."""
    n = int(round(2 * half_extent_mm / spacing_mm)) + 1
    centre = np.array([0.5, 0.5, 1.0])
    origin = centre - 0.5 * (n - 1) * spacing_mm
    return Grid((n, n, n), tuple(float(v) for v in origin), (spacing_mm,) * 3)


# --------------------------------------------------------------------------- CLI
def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("folder", nargs="?", default=str(DEFAULT_FOLDER), help="folder with NN.ply, "
                        "canonical_coloured.ply and segmentations.py (default: %(default)s)")
    parser.add_argument("--spacing-mm", type=float, default=0.2, metavar="MM", help="voxel size of the label maps")
    args = parser.parse_args(argv)
    try:
        labs = load_subjects(args.folder)
    except RealDataMissing as err:
        print(f"skipped: {err}")
        return 0
    grid = ear_grid(args.spacing_mm)
    vox = args.spacing_mm ** 3
    print(f"source: {SOURCE}")
    print("subject side mirrored  mesh_mm3  voxel_mm3  cochlea vestibule superior lateral posterior")
    for lab in labs:
        counts = np.bincount(voxelise(lab, grid).ravel(), minlength=6) * vox
        print(f"{lab.subject:7d} {lab.side.value:5s} {str(lab.mirrored):8s} {lab.volume_mm3:9.1f} "
              f"{counts[1:].sum():10.1f} " + " ".join(f"{c:7.1f}" for c in counts[1:]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
