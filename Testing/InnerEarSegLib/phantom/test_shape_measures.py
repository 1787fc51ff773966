"""shape_measures on label maps with known geometry, and on the phantom against its drawn parameters."""
import numpy as np
import pytest

from InnerEarSegLib.labels import Side, Structure
from InnerEarSegLib.phantom.case import build_scene
from InnerEarSegLib.phantom.raster import Grid, rasterise_labels
from InnerEarSegLib.phantom.shape_measures import (NEAR_VESTIBULE_MM, ampulla_measures, anatomical_frame,
                                                   canal_cross_section, common_crus_mm, lumen_diameters_mm,
                                                   measure_labyrinth, vestibule_axes_mm)

SP = (0.1, 0.1, 0.1)


def _coords(shape, spacing=SP):
    z, y, x = np.meshgrid(*(np.arange(n) * s for n, s in zip(shape, spacing)), indexing="ij")
    return x, y, z


def test_the_vestibule_axes_of_a_solid_ellipsoid_are_its_full_axes():
    x, y, z = _coords((60, 80, 50))
    inside = ((x - 2.5) / 1.5) ** 2 + ((y - 4.0) / 3.0) ** 2 + ((z - 3.0) / 2.2) ** 2 <= 1
    labels = np.where(inside, Structure.VESTIBULE, 0).astype(np.uint8)
    np.testing.assert_allclose(vestibule_axes_mm(labels, SP), (6.0, 4.4, 3.0), rtol=0.03)


def test_the_lumen_of_a_straight_tube_is_its_diameter():
    x, y, z = _coords((40, 40, 80))
    labels = np.where((y - 2.0) ** 2 + (z - 2.0) ** 2 <= 0.45**2, Structure.LATERAL_CANAL, 0).astype(np.uint8)
    d = lumen_diameters_mm(labels, Structure.LATERAL_CANAL, SP)
    assert np.median(d) == pytest.approx(0.9, abs=0.1)


def test_a_canal_opening_into_the_vestibule_has_its_first_2_mm_and_its_width_there_measured():
    x, y, z = _coords((60, 60, 120))
    labels = np.zeros(x.shape, np.uint8)
    labels[x < 3.0] = Structure.VESTIBULE  # a wall of vestibule, the canal leaves it along +x
    bulb = np.where((x >= 3.4) & (x < 5.4), 0.9, 0.5)  # a 1.8 mm wide, 2 mm long ampulla by the vestibule
    labels[(x >= 3.0) & (x < 11.0) & ((y - 3.0) ** 2 + (z - 3.0) ** 2 <= bulb**2)] = Structure.LATERAL_CANAL
    near, widest = ampulla_measures(labels, SP)
    assert NEAR_VESTIBULE_MM == 2.0
    assert near["lateral"] == pytest.approx(np.pi * (0.5**2 * 0.4 + 0.9**2 * 1.6), rel=0.08)  # x 3.0-5.0 mm
    assert widest["lateral"] == pytest.approx(1.8, abs=0.15)
    assert near["superior"] == 0.0 and widest["superior"] == 0.0  # absent canal


def test_the_cross_section_of_a_flattened_canal_has_its_two_axes_and_area():
    x, y, z = _coords((60, 90, 90))
    labels = np.zeros(x.shape, np.uint8)
    labels[(x - 4.5) ** 2 + (y - 1.0) ** 2 <= 1.0] = Structure.VESTIBULE  # a vestibule beside the arc
    radial = np.hypot(x - 4.5, y - 4.5) - 2.5  # a torus of arc radius 2.5 mm in the x-y plane
    ellipse = (radial / 0.5) ** 2 + ((z - 3.0) / 0.35) ** 2 <= 1.0  # lumen 1.0 mm wide, 0.7 mm high
    labels[ellipse & (labels == 0)] = Structure.LATERAL_CANAL
    area, width, height = canal_cross_section(labels, Structure.LATERAL_CANAL, SP)
    assert width == pytest.approx(1.0, abs=0.06) and height == pytest.approx(0.7, abs=0.06)
    assert area == pytest.approx(np.pi * 0.5 * 0.35, rel=0.06)


def test_the_common_crus_is_as_long_as_the_canals_run_side_by_side():
    labels = np.zeros((80, 40, 40), np.uint8)
    labels[10:50, 15:20, 10:20] = Structure.SUPERIOR_CANAL  # 4 mm side by side along z
    labels[10:50, 20:25, 10:20] = Structure.POSTERIOR_CANAL
    labels[50:70, 15:20, 10:20] = Structure.SUPERIOR_CANAL  # the arcs part above
    assert common_crus_mm(labels, SP) == pytest.approx(3.9, abs=0.15)


def test_the_anatomical_frame_of_a_left_ear_layout_is_the_ear_frame_and_a_mirror_is_flagged():
    cent = {Structure.VESTIBULE: [0, 0, 0], Structure.SUPERIOR_CANAL: [0, 0, 5], Structure.COCHLEA: [-1, -4, -3],
            Structure.POSTERIOR_CANAL: [-1, 4, 1], Structure.LATERAL_CANAL: [3, 1, 1]}
    rot, origin, mirrored = anatomical_frame({k: np.array(v, float) + 7 for k, v in cent.items()})
    np.testing.assert_allclose(rot, np.eye(3), atol=1e-12)
    np.testing.assert_allclose(origin, [7, 7, 7])
    assert not mirrored
    flip = {k: np.array([-v[0], v[1], v[2]], float) for k, v in cent.items()}
    rot_m, _, mirrored_m = anatomical_frame(flip)
    assert mirrored_m and np.linalg.det(rot_m) == pytest.approx(-1.0)


@pytest.mark.slow
def test_measures_of_phantom_ears_agree_with_the_parameters_they_were_drawn_from():
    grid = Grid((111, 111, 111), (-10.5, -10.5, -10.0), (0.2, 0.2, 0.2))
    for seed in (11, 12):
        side = Side.LEFT if seed % 2 else Side.RIGHT
        scene, _ = build_scene(seed, {side: ()})
        lab = scene.ears[0].labyrinth
        shape = measure_labyrinth(rasterise_labels(grid, lab, np.eye(3), np.zeros(3)), (0.2, 0.2, 0.2))
        p = lab.params
        assert shape.cochlea_basal_diameter_mm == pytest.approx(p["cochlea_a_value_mm"], abs=0.6)
        # the spiral's height along its axis, and its width across the A-value chord (not a canal's lumen)
        assert shape.cochlea_height_mm == pytest.approx(p["cochlea_height_mm"], abs=0.5)
        assert 0.7 * shape.cochlea_basal_diameter_mm < shape.cochlea_width_mm <= shape.cochlea_basal_diameter_mm
        assert shape.canal_radius_mm["superior"] == pytest.approx(p["superior_radius_mm"], abs=0.3)
        assert shape.canal_radius_mm["lateral"] == pytest.approx(p["lateral_radius_mm"], abs=0.3)
        assert all(70.0 <= a <= 90.0 for a in shape.canal_angle_deg.values())
        # the cochlea lies anterior, medial and inferior of the vestibule, the lateral canal lateral
        cx, cy, cz = shape.centroid_mm["cochlea"]
        assert cx < 0 and cy < 0 and cz < 0
        assert shape.centroid_mm["lateral"][0] > 1.0
        # each canal's arc centre lies on its own side of the vestibule: above, lateral, behind
        assert shape.canal_centre_mm["superior"][2] > 2.0
        assert shape.canal_centre_mm["lateral"][0] > 1.5
        assert shape.canal_centre_mm["posterior"][1] > 2.0
