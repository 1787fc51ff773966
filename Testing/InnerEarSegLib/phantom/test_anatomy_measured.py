"""Measured on the labels the generator produced (not on its parameters), over several seeds."""
import numpy as np
import pytest

from InnerEarSegLib.labels import Structure
from InnerEarSegLib.phantom import measure

SPACING = (0.3, 0.3, 0.3)


def test_labyrinth_and_cochlea_volumes_lie_in_the_published_ranges(normal_roi_samples):
    for seed, side, _, lab, _ in normal_roi_samples:
        v = measure.volumes_mm3(lab, SPACING)
        assert 150.0 <= v["labyrinth"] <= 220.0, (seed, side, v)
        assert 60.0 <= v["cochlea"] <= 90.0, (seed, side, v)
        assert 35.0 <= v["vestibule"] <= 80.0, (seed, side, v)
        for key in ("superior", "lateral", "posterior"):
            assert 5.0 <= v[key] <= 30.0, (seed, side, key, v)


def test_every_normal_ear_has_all_five_structures_and_likert_one(normal_roi_samples):
    for seed, side, _, lab, meta in normal_roi_samples:
        assert set(np.unique(lab)) == {0, 1, 2, 3, 4, 5}, (seed, side)
        assert meta["likert"] == 1
        assert set(meta["structures_present"].values()) == {"present"}


def test_cochlea_shows_two_to_three_turns_counted_along_its_centre_line(normal_roi_samples):
    turns = [measure.cochlear_turns(lab, SPACING) for *_, lab, _ in normal_roi_samples]
    assert min(turns) >= 1.5, turns  # anatomy.md: >= 1.5 turns on a normal mask
    assert max(turns) <= 3.3, turns
    assert 1.9 <= float(np.mean(turns)) <= 2.9, turns  # published 2.6 +- 0.3, merging turns count once


def test_canal_radii_fitted_from_the_labels_match_published_values(normal_roi_samples):
    radii = {k: [] for k in ("superior", "lateral", "posterior")}
    for *_, lab, _ in normal_roi_samples:
        for st in (Structure.SUPERIOR_CANAL, Structure.LATERAL_CANAL, Structure.POSTERIOR_CANAL):
            radii[st.key].append(measure.fit_canal(lab, st, SPACING)[1])
    mean = {k: float(np.mean(v)) for k, v in radii.items()}
    # published: superior ~3.2, posterior ~3.1, lateral 2.3-2.5 mm. The posterior arc's fit reads low
    # (~2.6 mm): part of its arc runs next to the vestibule and the crus and is left out of the fit.
    assert 2.9 <= mean["superior"] <= 3.5, radii
    assert 2.3 <= mean["posterior"] <= 3.4, radii
    assert 2.1 <= mean["lateral"] <= 2.7, radii
    assert mean["lateral"] < 0.85 * mean["superior"], radii  # ~20 % smaller
    assert mean["lateral"] <= mean["posterior"], radii


def test_canal_planes_fitted_from_the_labels_are_mutually_near_perpendicular(normal_roi_samples):
    angles = []
    for *_, lab, _ in normal_roi_samples:
        n = {st: measure.fit_canal(lab, st, SPACING)[0] for st in
             (Structure.SUPERIOR_CANAL, Structure.LATERAL_CANAL, Structure.POSTERIOR_CANAL)}
        keys = list(n)
        angles += [measure.plane_angle_deg(n[a], n[b]) for i, a in enumerate(keys) for b in keys[i + 1:]]
    assert min(angles) >= 76.0, angles  # published 90 +- 6 (SD) on CT
    assert 82.0 <= float(np.mean(angles)) <= 92.0, angles


def test_every_canal_closes_a_loop_through_the_vestibule(normal_roi_samples):
    for seed, side, _, lab, _ in normal_roi_samples:
        loops = measure.canal_loops(lab)
        assert all(n >= 1 for n in loops.values()), (seed, side, loops)


def test_lateral_canal_is_pitched_nose_up_and_vertical_canals_stand_upright(normal_roi_samples):
    for seed, side, _, lab, meta in normal_roi_samples:
        n_lat = measure.fit_canal(lab, Structure.LATERAL_CANAL, SPACING)[0]  # (z, y, x)
        tilt = np.degrees(np.arccos(abs(n_lat[0])))  # angle of the plane to the axial plane
        assert 5.0 <= tilt <= 50.0, (seed, side, tilt)  # 15-35 deg pitch plus head pose up to 15 deg
        for st in (Structure.SUPERIOR_CANAL, Structure.POSTERIOR_CANAL):
            n = measure.fit_canal(lab, st, SPACING)[0]
            assert abs(n[0]) < 0.75, (seed, side, st, n)  # closer to vertical than to horizontal


def test_cochlea_lies_anterior_and_medial_to_the_vestibule_in_the_box(normal_roi_samples):
    # box arrays: x lateral for both sides (right ears mirrored), y posterior, z superior
    for seed, side, _, lab, _ in normal_roi_samples:
        c = np.argwhere(lab == Structure.COCHLEA).mean(axis=0)
        v = np.argwhere(lab == Structure.VESTIBULE).mean(axis=0)
        lat = np.argwhere(lab == Structure.LATERAL_CANAL).mean(axis=0)
        assert c[1] < v[1] - 5, (seed, side)  # anterior (smaller y) by > 1.5 mm
        assert c[2] < v[2], (seed, side)  # medial
        assert lat[2] > v[2], (seed, side)  # lateral canal lateral of the vestibule


@pytest.mark.parametrize("spacing", [0.3])
def test_labels_are_evaluated_on_the_box_grid_itself(normal_roi_samples, spacing):
    for *_, lab, meta in normal_roi_samples:
        assert lab.shape == (96, 96, 96) and lab.dtype == np.uint8
        assert meta["box"]["spacing_mm"] == spacing
