"""Faults in the input: every byte and every voxel is checked, DICOM series are whole, options are in range."""
from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from InnerEarSegLib.cli.main import main
from InnerEarSegLib.errors import InputError
from InnerEarSegLib.imageio import read_image


def ct_image(size_xyz=(40, 36, 30), spacing=(0.5, 0.5, 0.6), dtype=np.float32) -> sitk.Image:
    rng = np.random.default_rng(7)
    array = rng.normal(0, 50, size_xyz[::-1]).astype(dtype)
    array[:, :, :5] = -1000
    array[10:20, 10:20, 10:20] = 1500
    image = sitk.GetImageFromArray(array)
    image.SetSpacing(spacing)
    return image


def test_one_nan_voxel_anywhere_is_refused_with_its_index(tmp_path):
    image = ct_image()
    array = sitk.GetArrayFromImage(image)
    array[13, 7, 31] = np.nan  # not on the every-third-voxel grid the old sample read
    bad = sitk.GetImageFromArray(array)
    bad.CopyInformation(image)
    path = tmp_path / "ct.nrrd"
    sitk.WriteImage(bad, str(path))
    with pytest.raises(InputError, match=r"1 non-finite voxels .*x, y, z = \(31, 7, 13\)"):
        read_image(path)


@pytest.mark.parametrize("value", [np.inf, -np.inf, np.nan])
def test_non_finite_nifti_voxels_are_refused_not_turned_into_zero(tmp_path, value, capsys):
    image = ct_image()
    array = sitk.GetArrayFromImage(image)
    array[20:25, 20:25, 20:25] = value
    bad = sitk.GetImageFromArray(array)
    bad.CopyInformation(image)
    path = tmp_path / "ct.nii.gz"
    sitk.WriteImage(bad, str(path))
    assert main(["segment", str(path), "-o", str(tmp_path / "out"), "--progress", "none"]) == 1
    err = capsys.readouterr().err
    assert "125 non-finite voxels" in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_a_truncated_nii_gz_is_refused_instead_of_zero_filled(tmp_path):
    path = tmp_path / "ct.nii.gz"
    sitk.WriteImage(ct_image(), str(path))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(InputError, match="truncated or corrupt"):
        read_image(path)


def test_a_gzip_crc_error_is_refused(tmp_path):
    path = tmp_path / "ct.nii.gz"
    path.write_bytes(gzip.compress(_nifti_bytes(tmp_path), mtime=0))
    data = bytearray(path.read_bytes())
    data[-8] ^= 0xFF  # the CRC-32 in the gzip trailer
    path.write_bytes(bytes(data))
    with pytest.raises(InputError, match="damaged"):
        read_image(path)


def test_a_nifti_shorter_than_its_header_says_is_refused_with_the_missing_share(tmp_path):
    path = tmp_path / "ct.nii"
    data = _nifti_bytes(tmp_path)
    path.write_bytes(data[: len(data) - 4000])
    with pytest.raises(InputError, match=r"is truncated: its header announces 43200 voxels"):
        read_image(path)


def _nifti_bytes(tmp_path: Path) -> bytes:
    raw = tmp_path / "raw.nii"
    sitk.WriteImage(ct_image(), str(raw))
    return raw.read_bytes()


def write_series(image: sitk.Image, folder: Path, uid: str, *, skip=(), tilt_slice=None) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    writer = sitk.ImageFileWriter()
    writer.KeepOriginalImageUIDOn()
    for k in range(image.GetDepth()):
        if k in skip:
            continue
        sl = sitk.Cast(image[:, :, k], sitk.sitkInt16)
        iop = (1, 0, 0, 0, 0.995, 0.0998) if k == tilt_slice else (1, 0, 0, 0, 1, 0)
        tags = {"0008|0060": "CT", "0020|000d": "1.2.3", "0020|000e": uid, "0020|0013": str(k + 1),
                "0020|0032": "\\".join(map(str, image.TransformIndexToPhysicalPoint((0, 0, k)))),
                "0020|0037": "\\".join(map(str, iop)), "0028|1052": "0", "0028|1053": "1",
                "0008|0018": f"{uid}.{k + 1}"}
        for key, value in tags.items():
            sl.SetMetaData(key, value)
        writer.SetFileName(str(folder / f"{k:03d}.dcm"))
        writer.Execute(sl)


def test_a_dicom_series_with_missing_slices_is_refused_with_where_they_are_missing(tmp_path):
    write_series(ct_image(), tmp_path / "d", "1.2.3.4", skip=(12, 13))
    with pytest.raises(InputError, match=r"not evenly spaced: the slices are 0.6 mm apart but jump by 1.80 mm "
                                         r".*about 2 slices missing"):
        read_image(tmp_path / "d")


def test_a_dicom_series_with_mixed_orientation_is_refused(tmp_path):
    write_series(ct_image(), tmp_path / "d", "1.2.3.4", tilt_slice=5)
    with pytest.raises(InputError, match="mixes slices of different orientation: 29 slices with .* 1 slices with"):
        read_image(tmp_path / "d")


@pytest.mark.parametrize("argv, message", [
    (["--sigma", "-1"], "between 0 (no Gaussian) and 10"),
    (["--sigma", "nan"], "finite number"),
    (["--sigma", "inf"], "finite number"),
    (["--sigma", "1e6"], "between 0 (no Gaussian) and 10"),
    (["--roi-center", "nan", "0", "0"], "finite number"),
])
def test_out_of_range_options_are_refused_when_parsed(tmp_path, capsys, argv, message):
    with pytest.raises(SystemExit) as exc:
        main(["segment", "ct.nrrd", "-o", str(tmp_path / "out"), *argv])
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


def test_sigma_zero_means_no_gaussian_as_documented():
    from InnerEarSegLib.cli.main import build_parser
    from InnerEarSegLib.cli.segment import options_from_args

    args = build_parser().parse_args(["segment", "ct.nrrd", "-o", "out", "--sigma", "0"])
    assert options_from_args(args).postprocess.gaussian is False
