"""benchmarks/real_labyrinths.py on a synthetic data set written here (the real surfaces are never needed).

The synthetic "labyrinth" is six disjoint spheres, one per part colour of the source's canonical mesh,
laid out like a left ear in the ear frame; subject 01 is a mirrored, rotated and shifted copy (a right
ear in some scanner frame), subject 13 an unmirrored copy (a left ear), as in the real data set.
"""
import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
import vtk
from vtk.util import numpy_support

from InnerEarSegLib.labels import Side, Structure
from InnerEarSegLib.phantom.anatomy import rotation_xyz_deg
from InnerEarSegLib.phantom.raster import Grid

REPO = Path(__file__).resolve().parents[3]


def _module():
    path = REPO / "benchmarks" / "real_labyrinths.py"
    spec = importlib.util.spec_from_file_location("innerear_real_labyrinths", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up there
    spec.loader.exec_module(mod)
    return mod


rl = _module()

# part -> (centre in a left ear frame, radius), mm
PARTS = {
    "vestibule": ((0.0, 0.0, 0.0), 1.6),
    "superior": ((0.0, -1.3, 5.0), 1.0),  # with the crus its vertex centroid is (0, 0, 5)
    "common_crus": ((0.0, 1.3, 5.0), 0.5),
    "posterior": ((0.0, 4.5, 0.0), 1.0),
    "lateral": ((4.0, 0.0, 0.0), 0.9),
    "cochlea": ((0.0, -4.5, -1.0), 1.8),
}


def _spheres():
    verts, tris, cols = [], [], []
    for part, (centre, radius) in PARTS.items():
        src = vtk.vtkSphereSource()
        src.SetCenter(*centre)
        src.SetRadius(radius)
        src.SetThetaResolution(64)
        src.SetPhiResolution(64)
        src.Update()
        poly = src.GetOutput()
        v = numpy_support.vtk_to_numpy(poly.GetPoints().GetData()).astype(float)
        t = numpy_support.vtk_to_numpy(poly.GetPolys().GetConnectivityArray()).reshape(-1, 3)
        tris.append(t + sum(len(x) for x in verts))
        verts.append(v)
        cols.append(np.tile(rl.PART_COLOURS_RGB[part], (len(v), 1)))
    return np.concatenate(verts), np.concatenate(tris), np.concatenate(cols).astype(np.uint8)


def _write_ply(path, verts, tris, cols, *, double=False, comment=""):
    t = "double" if double else "float"
    header = ["ply", "format binary_little_endian 1.0"] + ([comment] if comment else []) + [
        f"element vertex {len(verts)}", f"property {t} x", f"property {t} y", f"property {t} z",
        f"property {t} nx", f"property {t} ny", f"property {t} nz",
        "property uchar red", "property uchar green", "property uchar blue",
        f"element face {len(tris)}", "property list uchar uint vertex_indices", "end_header"]
    f = "<f8" if double else "<f4"
    vd = np.dtype([(n, f) for n in ("x", "y", "z", "nx", "ny", "nz")] + [(c, "u1") for c in ("red", "green", "blue")])
    v = np.zeros(len(verts), vd)
    v["x"], v["y"], v["z"] = verts.T
    v["red"], v["green"], v["blue"] = cols.T
    fd = np.dtype([("n", "u1"), ("i", "<u4", (3,))])
    fa = np.zeros(len(tris), fd)
    fa["n"], fa["i"] = 3, tris
    path.write_bytes(("\n".join(header) + "\n").encode() + v.tobytes() + fa.tobytes())


SCANNER_ROT = rotation_xyz_deg([20.0, -35.0, 70.0])
SCANNER_SHIFT = np.array([-40.0, -150.0, 1000.0])


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("labyrinths")
    verts, tris, cols = _spheres()
    _write_ply(root / "canonical_coloured.ply", verts, tris, cols, double=True)
    (root / "segmentations.py").write_text("import pickle\nleft = [13, 52, 70]\ninvalid = [59, 64]\n"
                                           "right = [i for i in range(1, 74) if i not in left + invalid]\n")
    grey = np.full_like(cols, 200)
    mirror = np.diag([-1.0, 1.0, 1.0])
    right = verts @ (SCANNER_ROT @ mirror).T + SCANNER_SHIFT
    _write_ply(root / "01.ply", right, tris[:, ::-1], grey,
               comment='comment LANDMARK "fitted cochlear apex" 1.0 2.0 3.0 0.1 0.2 0.3')
    _write_ply(root / "13.ply", verts @ SCANNER_ROT.T + SCANNER_SHIFT, tris, grey)
    return root


def test_the_reader_returns_the_vertices_triangles_colours_and_landmarks_it_was_given(folder):
    verts, tris, cols = _spheres()
    mesh = rl.read_ply(folder / "canonical_coloured.ply")
    np.testing.assert_allclose(mesh.vertices_mm, verts)
    np.testing.assert_array_equal(mesh.triangles, tris)
    np.testing.assert_array_equal(mesh.colours_rgb, cols)
    np.testing.assert_allclose(rl.read_ply(folder / "01.ply").landmarks_mm["fitted cochlear apex"], [1, 2, 3])


def test_a_truncated_ply_is_refused_with_a_message_naming_it(folder, tmp_path):
    bad = tmp_path / "bad.ply"
    bad.write_bytes((folder / "13.ply").read_bytes()[:-7])
    with pytest.raises(ValueError, match="truncated"):
        rl.read_ply(bad)


def test_subject_lists_are_read_as_text_without_running_the_file(tmp_path):
    src = tmp_path / "segmentations.py"
    src.write_text("raise SystemExit('must not run')\nleft = [13, 52]\ninvalid = [59]\n")
    assert rl.read_subject_lists(src) == (frozenset({13, 52}), frozenset({59}))


def test_a_right_ear_is_mirrored_into_the_left_ear_frame_and_a_left_ear_is_not(folder):
    right, left = rl.load_subject(folder, 1), rl.load_subject(folder, 13)
    assert (right.side, right.mirrored) == (Side.RIGHT, True)
    assert (left.side, left.mirrored) == (Side.LEFT, False)
    verts, _, _ = _spheres()
    for lab in (right, left):  # both land on the ear-frame layout they were made from
        np.testing.assert_allclose(lab.vertices_mm, verts, atol=1e-3)
        assert lab.volume_mm3 > 0  # outward normals after the mirror
        assert np.isclose(np.linalg.det(lab.ear_from_scanner[:3, :3]), -1.0 if lab.mirrored else 1.0)
    np.testing.assert_allclose(right.landmarks_mm["fitted cochlear apex"],
                               right.ear_from_scanner[:3, :3] @ [1, 2, 3] + right.ear_from_scanner[:3, 3])


def test_the_scanner_turn_lays_a_left_ear_as_it_was_scanned_and_a_right_ear_as_its_mirror_image(folder):
    # what a head placement of a real labyrinth uses: its turn in its own scanner, not its centroid frame's axes
    verts, _, _ = _spheres()  # the ear-frame layout, vestibule centroid at 0
    left, right = rl.load_subject(folder, 13), rl.load_subject(folder, 1)
    mirror = np.diag([-1.0, 1.0, 1.0])
    np.testing.assert_allclose(left.vertices_mm @ left.scanner_turn().T, verts @ SCANNER_ROT.T, atol=1e-3)
    np.testing.assert_allclose(right.vertices_mm @ right.scanner_turn().T, verts @ (mirror @ SCANNER_ROT @ mirror).T,
                               atol=1e-3)
    for lab in (left, right):
        assert np.linalg.det(lab.scanner_turn()) == pytest.approx(1.0)  # a turn: the chirality is kept


def test_the_common_crus_joins_the_nearer_canal_arc(folder):
    lab = rl.load_subject(folder, 13)
    crus = np.linalg.norm(lab.vertices_mm - PARTS["common_crus"][0], axis=1) < 0.6
    assert set(lab.vertex_structure[crus]) == {int(Structure.SUPERIOR_CANAL)}


@pytest.mark.parametrize("mirror", [False, True])
def test_voxelised_structure_volumes_match_the_spheres(folder, mirror):
    lab = rl.load_subject(folder, 1)
    spacing = 0.1
    grid = Grid((140, 150, 110), (-5.5, -7.0, -3.5), (spacing, spacing, 0.12))
    rot = np.diag([-1.0, 1.0, 1.0]) if mirror else np.eye(3)
    labels = rl.voxelise(lab, grid, rot, np.zeros(3))
    vol = np.bincount(labels.ravel(), minlength=6) * spacing * spacing * 0.12
    sphere = {k: 4 / 3 * np.pi * r**3 for k, (_, r) in PARTS.items()}
    expected = {Structure.COCHLEA: sphere["cochlea"], Structure.VESTIBULE: sphere["vestibule"],
                Structure.SUPERIOR_CANAL: sphere["superior"] + sphere["common_crus"],
                Structure.LATERAL_CANAL: sphere["lateral"], Structure.POSTERIOR_CANAL: sphere["posterior"]}
    for st, v in expected.items():
        assert vol[int(st)] == pytest.approx(v, rel=0.04), st


def test_the_voxelised_map_lies_where_the_placement_puts_it(folder):
    lab = rl.load_subject(folder, 13)
    shift = np.array([10.0, 20.0, 30.0])
    grid = Grid((80, 80, 80), tuple(shift - 4.0), (0.1, 0.1, 0.1))
    labels = rl.voxelise(lab, grid, np.eye(3), shift)
    kz, ky, kx = np.nonzero(labels == Structure.VESTIBULE)
    centre = np.array([kx.mean(), ky.mean(), kz.mean()]) * 0.1 + grid.origin_lps_mm
    np.testing.assert_allclose(centre, shift, atol=0.05)


def test_held_out_subjects_are_refused_before_any_file_is_read(folder):
    with pytest.raises(ValueError, match="held out"):
        rl.load_subject(folder, 41)


def test_an_absent_folder_skips_with_a_message_that_says_what_to_fetch(tmp_path, capsys):
    with pytest.raises(rl.RealDataMissing, match="Modelling-the-Human-Semicircular-Canals"):
        rl.load_subjects(tmp_path / "nowhere")
    assert rl.main([str(tmp_path / "nowhere")]) == 0
    assert capsys.readouterr().out.startswith("skipped:")
