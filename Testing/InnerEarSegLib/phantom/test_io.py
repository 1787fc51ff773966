"""Case files: names, round trip, byte-identical for the same seed and options."""
import hashlib
import json

import numpy as np
import SimpleITK as sitk

from InnerEarSegLib.phantom import generate
from InnerEarSegLib.phantom.io import case_id, write_case


def _digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _case(seed, out, **kw):
    ct, lab, meta = generate(seed, matrix=96, slices=24, fov="left", **kw)
    return write_case(ct, lab, meta, out, case_id(seed, fov="left", **kw)), ct, lab


def test_same_seed_and_options_give_byte_identical_files(tmp_path):
    first, *_ = _case(3, tmp_path / "a", pathologies=("scd",))
    second, *_ = _case(3, tmp_path / "b", pathologies=("scd",))
    for key in ("ct", "labels", "json"):
        assert _digest(first[key]) == _digest(second[key]), key


def test_another_seed_gives_another_image(tmp_path):
    a, *_ = _case(3, tmp_path / "a")
    b, *_ = _case(4, tmp_path / "b")
    assert _digest(a["ct"]) != _digest(b["ct"])


def test_written_files_read_back_with_their_geometry_and_sidecar(tmp_path):
    paths, ct, lab = _case(5, tmp_path)
    assert paths["ct"].name == "phantom_00005_left_ct.nii.gz"
    ct2, lab2 = sitk.ReadImage(str(paths["ct"])), sitk.ReadImage(str(paths["labels"]))
    assert np.array_equal(sitk.GetArrayViewFromImage(ct2), sitk.GetArrayViewFromImage(ct))
    assert np.array_equal(sitk.GetArrayViewFromImage(lab2), sitk.GetArrayViewFromImage(lab))
    assert np.allclose(ct2.GetSpacing(), ct.GetSpacing()) and np.allclose(ct2.GetOrigin(), ct.GetOrigin())
    meta = json.loads(paths["json"].read_text())
    assert meta["case_id"] == "phantom_00005_left" and meta["seed"] == 5
    assert not list(tmp_path.glob(".*tmp*"))  # no temporary files left behind


def test_case_ids_name_protocol_pathologies_and_field_of_view():
    assert case_id(42) == "phantom_00042"
    assert case_id(42, protocol="cbct", pathologies=("scd@left", "missing_canal:lateral"), fov="right") == \
        "phantom_00042_cbct_scd+left-missing_canal+lateral_right"
