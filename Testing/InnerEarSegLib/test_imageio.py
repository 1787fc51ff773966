"""Reading CT in every supported format with its geometry, refusing bad input clearly, writing atomically."""
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from InnerEarSegLib.errors import InputError
from InnerEarSegLib.imageio import (
    ValidationLimits,
    atomic_output_path,
    read_image,
    read_image_with_source,
    validate_ct,
    write_image_atomic,
)

OBLIQUE = tuple(sitk.VersorTransform((0.3, 0.2, 0.9), 0.4).GetMatrix())


def small_ct(size_xyz=(24, 22, 16), spacing=(0.8, 0.7, 1.0), direction=OBLIQUE, dtype=np.int16) -> sitk.Image:
    """Air around a soft-tissue block holding a bone block: a minimal CT in HU."""
    z, y, x = size_xyz[::-1]
    array = np.full((z, y, x), -1000, dtype=np.float32)
    array[2:-2, 3:-3, 3:-3] = 40
    array[5:-5, 8:-8, 8:-8] = 1600
    array[z // 2, y // 2, x // 2] = 20
    image = sitk.GetImageFromArray(array.astype(dtype))
    image.SetSpacing(spacing)
    image.SetOrigin((-12.5, 30.25, 7.0))
    image.SetDirection(direction)
    return image


def assert_same_image(a: sitk.Image, b: sitk.Image, atol=1e-4):
    assert a.GetSize() == b.GetSize()
    np.testing.assert_allclose(a.GetSpacing(), b.GetSpacing(), atol=atol)
    np.testing.assert_allclose(a.GetOrigin(), b.GetOrigin(), atol=atol)
    np.testing.assert_allclose(a.GetDirection(), b.GetDirection(), atol=atol)
    np.testing.assert_allclose(sitk.GetArrayFromImage(a), sitk.GetArrayFromImage(b))


def write_dicom_series(image: sitk.Image, folder: Path, series_uid: str, *, n_slices=None) -> None:
    """Write `image` (int16, HU) as a CT DICOM series, one file per slice, with the geometry tags."""
    folder.mkdir(parents=True, exist_ok=True)
    writer = sitk.ImageFileWriter()
    writer.KeepOriginalImageUIDOn()
    direction = image.GetDirection()
    n = image.GetDepth() if n_slices is None else n_slices
    for k in range(n):
        sl = image[:, :, k]
        tags = {
            "0008|0060": "CT",
            "0008|0008": "ORIGINAL\\PRIMARY\\AXIAL",
            "0010|0010": "Phantom^Test",
            "0020|000d": "1.2.826.0.1.3680043.2.1125.1",
            "0020|000e": series_uid,
            "0020|0013": str(k + 1),
            "0020|0032": "\\".join(map(str, image.TransformIndexToPhysicalPoint((0, 0, k)))),
            "0020|0037": "\\".join(map(str, (direction[0], direction[3], direction[6],
                                             direction[1], direction[4], direction[7]))),
            "0018|0050": str(image.GetSpacing()[2]),
            "0028|1052": "0",
            "0028|1053": "1",
            "0008|0018": f"{series_uid}.{k + 1}",
        }
        for key, value in tags.items():
            sl.SetMetaData(key, value)
        writer.SetFileName(str(folder / f"{series_uid[-6:]}_{k:03d}.dcm"))
        writer.Execute(sl)


# ---------------------------------------------------------------------------------------------- read
@pytest.mark.parametrize("name", ["ct.nii.gz", "ct.nii", "ct.nrrd", "ct.mha"])
def test_nifti_nrrd_and_mha_round_trips_keep_voxels_and_oblique_geometry(tmp_path, name):
    image = small_ct()
    path = write_image_atomic(image, tmp_path / name)
    back = read_image(path)
    assert_same_image(image, back, atol=1e-4)
    assert back.GetPixelID() == sitk.sitkInt16


def test_dicom_series_folder_is_read_in_hu_with_its_geometry(tmp_path):
    image = small_ct(direction=(1, 0, 0, 0, 0, -1, 0, 1, 0))  # coronal slices
    write_dicom_series(image, tmp_path / "dicom", "1.2.826.0.1.3680043.2.1125.77")
    back, source = read_image_with_source(tmp_path / "dicom")
    assert source.format == "DICOM" and source.n_series_found == 1 and source.n_files == image.GetDepth()
    assert_same_image(image, back, atol=1e-3)


def test_a_folder_with_several_dicom_series_lists_them_and_reads_the_one_chosen(tmp_path):
    image = small_ct(direction=(1, 0, 0, 0, 1, 0, 0, 0, 1))
    write_dicom_series(image, tmp_path / "d", "1.2.826.0.1.3680043.2.1125.100001")
    write_dicom_series(image, tmp_path / "d", "1.2.826.0.1.3680043.2.1125.200002", n_slices=9)
    with pytest.raises(InputError, match="holds 2 DICOM series") as info:
        read_image_with_source(tmp_path / "d")
    message = str(info.value)
    assert "100001 (16 files" in message and "200002 (9 files" in message and "--series" in message
    back, source = read_image_with_source(tmp_path / "d", series_uid="1.2.826.0.1.3680043.2.1125.200002")
    assert source.n_series_found == 2 and source.series_uid.endswith("200002")
    assert "200002" in source.description
    assert back.GetDepth() == 9


def test_one_dicom_file_reads_its_whole_series(tmp_path):
    image = small_ct(direction=(1, 0, 0, 0, 1, 0, 0, 0, 1))
    write_dicom_series(image, tmp_path / "d", "1.2.826.0.1.3680043.2.1125.5")
    back = read_image(sorted((tmp_path / "d").iterdir())[3])
    assert back.GetDepth() == image.GetDepth()


def test_float64_and_unsigned_inputs_are_read_as_float32_hu(tmp_path):
    image = sitk.Cast(small_ct(), sitk.sitkFloat64)
    back = read_image(write_image_atomic(image, tmp_path / "f64.nrrd"))
    assert back.GetPixelID() == sitk.sitkFloat32
    assert float(sitk.GetArrayViewFromImage(back).min()) == -1000.0


def test_missing_file_is_refused_with_its_path(tmp_path):
    with pytest.raises(InputError, match=r"not found: .*nope\.nii\.gz.* does not exist"):
        read_image(tmp_path / "nope.nii.gz")


def test_unknown_or_corrupt_format_is_refused_with_the_supported_list(tmp_path):
    bad = tmp_path / "scan.nii.gz"
    bad.write_bytes(b"this is not an image at all" * 10)
    with pytest.raises(InputError, match=r"unknown or corrupt image format.*Supported: NIfTI"):
        read_image(bad)
    other = tmp_path / "notes.txt"
    other.write_text("hello")
    with pytest.raises(InputError, match="unknown or corrupt image format"):
        read_image(other)


def test_folder_without_dicom_is_refused(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="is empty"):
        read_image(tmp_path / "empty")
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "a.txt").write_text("x")
    with pytest.raises(InputError, match="holds no DICOM series"):
        read_image(tmp_path / "junk")


def test_too_large_file_is_refused_from_its_header_before_loading(tmp_path):
    path = write_image_atomic(small_ct(), tmp_path / "ct.nrrd")
    with pytest.raises(InputError, match=r"too large: 24 x 22 x 16 voxels.*Crop"):
        read_image_with_source(path, limits=ValidationLimits(max_voxels=1000))


# ------------------------------------------------------------------------------------------ validate
def test_a_small_oblique_ct_passes_validation_with_a_summary():
    summary = validate_ct(small_ct())
    assert summary.size_xyz == (24, 22, 16)
    assert summary.max_hu == 1600 and summary.p01_hu == -1000


def _with_array(array: np.ndarray, spacing=(0.8, 0.8, 0.8)) -> sitk.Image:
    image = sitk.GetImageFromArray(array)
    image.SetSpacing(spacing[: image.GetDimension()] + (0.8,) * (image.GetDimension() - len(spacing)))
    return image


def test_two_dimensional_image_is_refused():
    with pytest.raises(InputError, match="2-D .*single slice"):
        validate_ct(_with_array(np.zeros((30, 30), np.int16)))
    with pytest.raises(InputError, match="2-D"):
        validate_ct(_with_array(np.zeros((1, 30, 30), np.int16)))


def test_four_dimensional_image_is_refused():
    image = sitk.JoinSeries([small_ct(direction=(1, 0, 0, 0, 1, 0, 0, 0, 1))] * 2)
    with pytest.raises(InputError, match="4-D .*extract one 3-D"):
        validate_ct(image)


def test_colour_image_is_refused():
    image = sitk.Compose([small_ct()] * 3)
    with pytest.raises(InputError, match="3 components per voxel"):
        validate_ct(image)


@pytest.mark.parametrize("spacing, message", [
    ((0.8, 0.8, 0.0), "not finite and positive"),
    ((0.8, 0.8, float("nan")), "not finite and positive"),
    ((0.8, 0.8, 12.0), r"outside \[0.05, 10.0\] mm"),
    ((0.01, 0.01, 0.01), r"outside \[0.05, 10.0\] mm"),
])
def test_absurd_spacing_is_refused(spacing, message):
    image = small_ct()
    # SimpleITK refuses to set zero/NaN spacing directly; a broken header arrives through a file.
    if spacing[2] > 0:
        image.SetSpacing(spacing)
        with pytest.raises(InputError, match=message):
            validate_ct(image)
    else:
        from InnerEarSegLib import imageio
        with pytest.raises(InputError, match=message):
            imageio._check_geometry(image, np.asarray(spacing), ValidationLimits())


def test_constant_and_empty_looking_images_are_refused():
    with pytest.raises(InputError, match=r"constant \(every voxel checked is 0\)"):
        validate_ct(_with_array(np.zeros((20, 20, 20), np.int16)))


def test_nan_voxels_are_refused():
    array = sitk.GetArrayFromImage(small_ct(dtype=np.float32))
    array[3, 3, 3] = np.nan
    with pytest.raises(InputError, match="non-finite values"):
        validate_ct(_with_array(array))


def test_mr_like_intensities_are_refused():
    rng = np.random.default_rng(0)
    mr = rng.uniform(0, 250, (20, 20, 20)).astype(np.float32)
    with pytest.raises(InputError, match="MR image"):
        validate_ct(_with_array(mr))
    mr_bright = rng.uniform(50, 600, (20, 20, 20)).astype(np.float32)
    with pytest.raises(InputError, match="no air .*MR image"):
        validate_ct(_with_array(mr_bright))


def test_raw_unsigned_values_without_intercept_are_refused_with_the_fix():
    raw = sitk.GetArrayFromImage(small_ct()).astype(np.int32) + 1024
    with pytest.raises(InputError, match="subtract 1024"):
        validate_ct(_with_array(raw))


def test_too_small_field_of_view_is_refused():
    with pytest.raises(InputError, match="too small to hold an inner ear"):
        validate_ct(small_ct(size_xyz=(24, 22, 6)))
    with pytest.raises(InputError, match="too small to hold an inner ear"):
        validate_ct(small_ct(size_xyz=(24, 22, 10), spacing=(0.8, 0.8, 0.5)))


def test_too_large_image_is_refused():
    with pytest.raises(InputError, match="too large"):
        validate_ct(small_ct(), limits=ValidationLimits(max_voxels=5000))
    with pytest.raises(InputError, match="too large"):
        validate_ct(small_ct(), limits=ValidationLimits(max_bytes=1000))


def test_degenerate_direction_matrix_is_refused():
    image = small_ct()
    image.SetDirection((1, 0, 0, 0.99999, 1e-4, 0, 0, 0, 1))  # determinant 1e-4: nearly singular
    with pytest.raises(InputError, match="direction matrix .* degenerate"):
        validate_ct(image)


# --------------------------------------------------------------------------------------------- write
def test_failed_image_write_leaves_no_file_and_keeps_the_old_one(tmp_path, monkeypatch):
    target = tmp_path / "labels.nii.gz"
    target.write_bytes(b"old")

    def broken_write(image, path, useCompression=True):
        Path(path).write_bytes(b"half")
        raise RuntimeError("disk full")

    monkeypatch.setattr(sitk, "WriteImage", broken_write)
    with pytest.raises(RuntimeError, match="disk full"):
        write_image_atomic(small_ct(), target)
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["labels.nii.gz"]


def test_detached_header_formats_are_refused_for_atomic_writes(tmp_path):
    with pytest.raises(ValueError, match="detached header"):
        write_image_atomic(small_ct(), tmp_path / "ct.mhd")


def test_atomic_output_path_replaces_the_file_only_on_success(tmp_path):
    target = tmp_path / "report.json"
    with atomic_output_path(target) as tmp:
        assert tmp.parent == tmp_path and tmp.name.endswith(".json") and not target.exists()
        tmp.write_text("{}")
    assert target.read_text() == "{}"
    with pytest.raises(KeyboardInterrupt):
        with atomic_output_path(target) as tmp:
            tmp.write_text('{"half": ')
            raise KeyboardInterrupt
    assert target.read_text() == "{}"
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]
