"""Every pathology does to the image and labels what its sidecar record says."""
import numpy as np
import pytest
import SimpleITK as sitk

from InnerEarSegLib.labels import Side, Structure
from InnerEarSegLib.phantom import PATHOLOGIES, generate_roi, measure
from InnerEarSegLib.phantom.pathology import likert_score, parse_pathology

SEED = 21
SIDE = Side.LEFT
SP = (0.3, 0.3, 0.3)


def _roi(*pathologies, seed=SEED, side=SIDE, protocol="mdct"):
    ct, lab, meta = generate_roi(seed, side, pathologies=pathologies, protocol=protocol, centre_offset_mm=(0, 0, 0))
    return ct, sitk.GetArrayFromImage(ct), sitk.GetArrayFromImage(lab), meta


@pytest.fixture(scope="module")
def normal():
    return _roi()


def _mean_hu_in_sphere(ct_img, arr, centre_lps, radius_mm):
    idx = np.array(ct_img.TransformPhysicalPointToContinuousIndex(centre_lps))[::-1]
    zz, yy, xx = np.indices(arr.shape)
    d2 = ((zz - idx[0]) ** 2 + (yy - idx[1]) ** 2 + (xx - idx[2]) ** 2) * 0.09
    return float(arr[d2 <= radius_mm**2].mean())


def test_likert_follows_the_seed_papers_table():
    assert likert_score({}) == 1
    assert likert_score({"lateral": "missing"}) == 2
    assert likert_score({"lateral": "missing", "superior": "incomplete"}) == 3
    assert likert_score({"lateral": "missing", "superior": "missing", "posterior": "missing"}) == 4
    assert likert_score({"superior": "dehiscent", "cochlea": "hypoplastic"}) == 1
    assert likert_score({}, disorganised=True) == 4


def test_unknown_pathology_names_are_refused_with_the_list_of_names():
    with pytest.raises(ValueError, match="unknown pathology 'fluid'"):
        parse_pathology("fluid")
    with pytest.raises(ValueError, match="superior"):
        parse_pathology("missing_canal:cochlea")


@pytest.mark.parametrize("canal", ["superior", "lateral", "posterior"])
def test_missing_canal_removes_exactly_that_canal_and_scores_two(canal):
    _, _, lab, meta = _roi(f"missing_canal:{canal}")
    st = Structure.from_key(canal)
    assert not (lab == st).any()
    others = [s for s in Structure if s is not st]
    assert all((lab == s).sum() > 100 for s in others)
    assert meta["structures_present"][canal] == "missing" and meta["likert"] == 2
    assert meta["pathologies"][0]["likert_effect"].startswith("+1")


def test_two_missing_canals_score_three():
    _, _, lab, meta = _roi("missing_canal:lateral", "missing_canal:posterior")
    assert meta["likert"] == 3
    assert not (lab == Structure.LATERAL_CANAL).any() and not (lab == Structure.POSTERIOR_CANAL).any()


def test_hypoplastic_canal_is_smaller_than_the_same_ears_normal_canal(normal):
    _, _, lab, meta = _roi("hypoplastic_canal:lateral")
    small = measure.volumes_mm3(lab, SP)["lateral"]
    full = measure.volumes_mm3(normal[2], SP)["lateral"]
    assert 0 < small < 0.75 * full
    assert measure.fit_canal(lab, Structure.LATERAL_CANAL, SP)[1] < measure.fit_canal(
        normal[2], Structure.LATERAL_CANAL, SP)[1]
    assert meta["structures_present"]["lateral"] == "hypoplastic" and meta["likert"] == 1


def test_fewer_turns_and_incomplete_partition_shorten_the_measured_spiral(normal):
    turns_normal = measure.cochlear_turns(normal[2], SP)
    _, _, few, meta_few = _roi("fewer_turns")
    _, _, ip, meta_ip = _roi("incomplete_partition")
    assert measure.cochlear_turns(few, SP) < turns_normal
    assert measure.cochlear_turns(few, SP) <= 2.0
    assert measure.volumes_mm3(ip, SP)["vestibule"] > 1.2 * measure.volumes_mm3(normal[2], SP)["vestibule"]
    assert meta_few["likert"] == 1 and meta_ip["likert"] == 1


def test_common_cavity_has_no_cochlea_and_no_canals_and_scores_four():
    _, _, lab, meta = _roi("common_cavity")
    assert set(np.unique(lab)) == {0, int(Structure.VESTIBULE)}
    assert meta["likert"] == 4 and meta["disorganised"]
    assert 100 < measure.volumes_mm3(lab, SP)["vestibule"] < 400


def test_superior_canal_dehiscence_removes_the_bony_roof_but_keeps_likert_one(normal):
    ct_n, arr_n, _, meta_n = normal
    ct_d, arr_d, lab_d, meta_d = _roi("scd")
    top = np.array(meta_d["landmarks_lps_mm"]["superior_canal_top"])
    roof = top + np.array([0.0, 0.0, 1.0])  # just above the canal lumen, in world z
    hu_normal = _mean_hu_in_sphere(ct_n, arr_n, roof, 0.45)
    hu_scd = _mean_hu_in_sphere(ct_d, arr_d, roof, 0.45)
    assert hu_normal > 1000 and hu_scd < 600, (hu_normal, hu_scd)
    assert (lab_d == Structure.SUPERIOR_CANAL).any()
    assert meta_d["structures_present"]["superior"] == "dehiscent" and meta_d["likert"] == 1


def test_otosclerotic_foci_lower_the_otic_capsule_below_2000_hu(normal):
    ct_o, arr_o, _, meta = _roi("otosclerosis")
    foci = meta["ct_effects"]["otosclerosis_foci"]
    assert foci
    for f in foci:
        assert _mean_hu_in_sphere(ct_o, arr_o, f["centre_lps_mm"], 0.6) < \
            _mean_hu_in_sphere(normal[0], normal[1], f["centre_lps_mm"], 0.6)
    assert meta["likert"] == 1


def test_implant_puts_metal_inside_the_cochlea_with_streaks(normal):
    from scipy import ndimage

    ct_i, arr_i, lab, meta = _roi("implant")
    pts = meta["ct_effects"]["electrode"]["points_lps_mm"]
    assert len(pts) >= 5
    idx = np.array([np.rint(ct_i.TransformPhysicalPointToContinuousIndex(p))[::-1] for p in pts]).astype(int)
    cochlea = ndimage.binary_dilation(lab == Structure.COCHLEA, iterations=1)
    assert cochlea[tuple(idx.T)].mean() >= 0.9  # the electrode runs inside the cochlea
    assert np.median(arr_i[tuple(idx.T)]) >= 2500  # and is metal-bright
    # streaks: same seed, same noise, so the difference to the normal ear away from the metal is streaks
    metal = arr_i >= 3000
    ring = ndimage.binary_dilation(metal, iterations=25) & ~ndimage.binary_dilation(metal, iterations=8)
    assert np.abs(arr_i - normal[1])[ring].mean() > 30.0
    assert meta["structures_present"]["cochlea"] == "present" and meta["likert"] == 1


def test_incomplete_field_of_view_cuts_the_superior_canal_top_and_scores_two(normal):
    ct, arr, lab, meta = _roi("incomplete_fov")
    z_top = meta["fov_top_z_mm"]
    zs = np.array([ct.TransformIndexToPhysicalPoint((0, 0, int(k)))[2] for k in range(arr.shape[0])])
    assert not lab[zs > z_top].any()
    assert np.all(arr[zs > z_top + 0.5] == -1000.0)
    sup = measure.volumes_mm3(lab, SP)["superior"]
    assert 0 < sup < measure.volumes_mm3(normal[2], SP)["superior"]
    assert meta["structures_present"]["superior"] == "incomplete" and meta["likert"] == 2


def test_otitis_media_fills_the_middle_ear_air_with_effusion(normal):
    ct_n, arr_n, lab_n, _ = normal
    ct_o, arr_o, lab_o, meta = _roi("otitis_media")
    assert np.array_equal(lab_o, lab_n)  # the labyrinth is untouched
    # the box holds less air (middle ear, antrum, mastoid cells) but the same labyrinth
    assert (arr_o < -500).sum() < 0.5 * (arr_n < -500).sum()
    assert meta["ct_effects"]["middle_ear_fill_hu"] > 0 and meta["likert"] == 1


def test_every_listed_pathology_is_covered_here():
    assert set(PATHOLOGIES) == {"scd", "otosclerosis", "fewer_turns", "incomplete_partition", "hypoplastic_canal",
                                "missing_canal", "common_cavity", "implant", "incomplete_fov", "otitis_media"}


def test_cone_beam_protocol_has_lower_bone_values_than_multidetector(normal):
    _, arr_c, lab_c, _ = _roi(protocol="cbct")
    from scipy import ndimage
    shell = lambda lab: ndimage.binary_dilation(lab > 0, iterations=3) & ~ndimage.binary_dilation(lab > 0)
    assert np.median(arr_c[shell(lab_c)]) < np.median(normal[1][shell(normal[2])]) - 300
    assert np.median(arr_c[shell(lab_c)]) < 1700


def test_drawn_training_pathologies_are_valid_and_reproducible():
    from InnerEarSegLib.phantom.pathology import draw_pathologies

    draws = [draw_pathologies(np.random.default_rng(k), probability=0.5) for k in range(200)]
    assert draws == [draw_pathologies(np.random.default_rng(k), probability=0.5) for k in range(200)]
    share_abnormal = np.mean([bool(d) for d in draws])
    assert 0.4 < share_abnormal < 0.6
    for d in draws:
        for spec in d:
            parse_pathology(spec)
    assert draw_pathologies(np.random.default_rng(0), probability=0.0) == ()
    with pytest.raises(ValueError, match="probability"):
        draw_pathologies(np.random.default_rng(0), probability=1.5)
