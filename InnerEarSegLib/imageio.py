"""Read CT volumes (NIfTI, NRRD, MHA/MHD, DICOM series), check that they are usable CT, write atomically.

Everything here raises :class:`~InnerEarSegLib.errors.InputError` for problems a user can fix, with a
message that names the problem, what was found and what to do.

Examples
--------
>>> image = read_image("case01.nii.gz")            # doctest: +SKIP
>>> summary = validate_ct(image)                    # doctest: +SKIP
>>> write_image_atomic(labels, "labels.nii.gz")     # doctest: +SKIP
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from .atomic_write import atomic_output_path
from .errors import InputError
from .gate import check_modality
from .integrity import check_file_integrity, check_finite, check_series_geometry, choose_series

log = logging.getLogger(__name__)

__all__ = ["read_image", "read_image_with_source", "validate_ct", "write_image_atomic", "atomic_output_path",
           "ValidationLimits", "ImageSource", "DicomReferences", "CTSummary", "SUPPORTED_SUFFIXES"]

#: File name endings SimpleITK reads that we support, longest first.
SUPPORTED_SUFFIXES: tuple[str, ...] = (".nii.gz", ".nii", ".nrrd", ".nhdr", ".mha", ".mhd", ".dcm")
_DETACHED_HEADER_SUFFIXES = (".mhd", ".nhdr", ".hdr")


@dataclass(frozen=True)
class ValidationLimits:
    """Limits that :func:`validate_ct` enforces. Defaults fit clinical temporal-bone and head CT."""

    min_spacing_mm: float = 0.05
    max_spacing_mm: float = 10.0  # a header-unit sanity bound; the resolution policy is gate.MAX_SPACING_MM
    max_voxels: int = 1024**3
    max_bytes: int = 4 * 1024**3
    min_slices: int = 8
    min_extent_mm: float = 12.0


#: DICOM tags (SimpleITK "gggg|eeee" keys) of the study and patient that a derived object (DICOM SEG) repeats.
DICOM_STUDY_TAGS: dict[str, str] = {
    "StudyInstanceUID": "0020|000d", "SeriesInstanceUID": "0020|000e", "FrameOfReferenceUID": "0020|0052",
    "SOPClassUID": "0008|0016", "PatientName": "0010|0010", "PatientID": "0010|0020",
    "PatientBirthDate": "0010|0030", "PatientSex": "0010|0040", "StudyDate": "0008|0020",
    "StudyTime": "0008|0030", "StudyID": "0020|0010", "AccessionNumber": "0008|0050",
    "ReferringPhysicianName": "0008|0090", "Modality": "0008|0060",
}


@dataclass(frozen=True)
class DicomReferences:
    """What a DICOM input was, kept through the pipeline so that results can refer back to it.

    ``attributes`` holds the study/patient tags of :data:`DICOM_STUDY_TAGS` as found in the first slice
    (missing tags are absent); ``sop_instance_uids`` and ``files`` list the slices in the order read.
    """

    attributes: dict
    sop_instance_uids: tuple[str, ...]
    files: tuple[str, ...]

    @property
    def study_uid(self) -> str | None:
        return self.attributes.get("StudyInstanceUID")

    @property
    def series_uid(self) -> str | None:
        return self.attributes.get("SeriesInstanceUID")

    @property
    def frame_of_reference_uid(self) -> str | None:
        return self.attributes.get("FrameOfReferenceUID")

    def summary(self) -> dict:
        """JSON-able, without the per-slice lists: the attributes and the number of instances."""
        return {**self.attributes, "n_instances": len(self.sop_instance_uids)}


@dataclass(frozen=True)
class ImageSource:
    """Where an image came from: format, and for DICOM the series chosen among those found and its references."""

    path: str
    format: str
    series_uid: str | None = None
    n_series_found: int = 1
    n_files: int = 1
    description: str = ""
    dicom: DicomReferences | None = None

    def summary(self) -> dict:
        """JSON-able description for a report (the DICOM references without their per-slice lists)."""
        out = {"path": self.path, "format": self.format, "series_uid": self.series_uid,
               "n_series_found": self.n_series_found, "n_files": self.n_files, "description": self.description}
        if self.dicom is not None:
            out["dicom"] = self.dicom.summary()
        return out


@dataclass(frozen=True)
class CTSummary:
    """What :func:`validate_ct` found: size (x, y, z), spacing (x, y, z) in mm and intensity percentiles in HU."""

    size_xyz: tuple[int, int, int]
    spacing_mm: tuple[float, float, float]
    extent_mm: tuple[float, float, float]
    p01_hu: float
    p99_hu: float
    max_hu: float


# ----------------------------------------------------------------------------------------------- read
def read_image(path: str | os.PathLike, *, series_uid: str | None = None) -> sitk.Image:
    """Read a CT volume in HU from a NIfTI/NRRD/MHA file or a DICOM folder, checking all of the file.

    Parameters
    ----------
    path : str or PathLike
        A file (``.nii``, ``.nii.gz``, ``.nrrd``, ``.nhdr``, ``.mha``, ``.mhd``, a ``.dcm`` of a series)
        or a folder holding one DICOM series.
    series_uid : str, optional
        The DICOM series to read when the folder holds several (they are listed in the error otherwise).

    Returns
    -------
    sitk.Image
        3-D scalar image, int16 or float32, HU (DICOM rescale slope/intercept applied), LPS geometry.

    Raises
    ------
    InputError
        Missing path, empty folder, unreadable or unknown format, a truncated or corrupt file (gzip CRC,
        payload shorter than the header says), NaN or infinite voxels, a DICOM series with missing
        slices or mixed geometry, several series without `series_uid`, too large to load, not scalar.
    """
    return read_image_with_source(path, series_uid=series_uid)[0]


def read_image_with_source(path: str | os.PathLike, *, limits: ValidationLimits = ValidationLimits(),
                           series_uid: str | None = None) -> tuple[sitk.Image, ImageSource]:
    """Like :func:`read_image`, and also return an :class:`ImageSource` saying what was read."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"input not found: '{p}' does not exist. Check the path (a CT file or a DICOM folder).")
    if p.is_dir():
        image, source = _read_dicom_folder(p, limits, series_uid=series_uid)
    elif _suffix(p) == ".dcm":
        image, source = _read_dicom_folder(p.parent, limits, member=p, series_uid=series_uid)
    else:
        check_file_integrity(p)
        image, source = _read_file(p, limits)
    check_finite(image, where=str(p))
    return _to_hu_pixel_type(image), source


def _suffix(path: Path) -> str:
    name = path.name.lower()
    for suffix in SUPPORTED_SUFFIXES + (".hdr", ".img"):
        if name.endswith(suffix):
            return suffix
    return path.suffix.lower()


def _read_file(path: Path, limits: ValidationLimits) -> tuple[sitk.Image, ImageSource]:
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    try:
        reader.ReadImageInformation()
    except RuntimeError as exc:
        raise InputError(
            f"cannot read '{path}': unknown or corrupt image format ({_first_line(exc)}). "
            f"Supported: NIfTI (.nii, .nii.gz), NRRD (.nrrd, .nhdr), MetaImage (.mha, .mhd) and DICOM "
            f"(a folder or one .dcm of the series).") from None
    _check_header_size(reader.GetSize(), reader.GetNumberOfComponents(), reader.GetPixelID(), str(path), limits)
    try:
        image = reader.Execute()
    except RuntimeError as exc:
        raise InputError(f"cannot read the voxels of '{path}' (file truncated or corrupt?): {_first_line(exc)}") from None
    fmt = reader.GetImageIO().replace("ImageIO", "") or _suffix(path).lstrip(".")
    return image, ImageSource(str(path), fmt, description=f"{fmt} file")


def _read_dicom_folder(folder: Path, limits: ValidationLimits, member: Path | None = None,
                       series_uid: str | None = None) -> tuple[sitk.Image, ImageSource]:
    series_ids = sitk.ImageSeriesReader.GetGDCMSeriesIDs(str(folder))
    if not series_ids:
        what = "holds no DICOM series" if any(folder.iterdir()) else "is empty"
        raise InputError(f"folder '{folder}' {what}. Give a folder of DICOM slices or a NIfTI/NRRD/MHA file.")
    files = {sid: sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(folder), sid) for sid in series_ids}
    chosen = choose_series(folder, files, member=member, series_uid=series_uid)
    names = files[chosen]
    probe = sitk.ImageFileReader()
    probe.SetFileName(names[0])
    try:
        probe.ReadImageInformation()
    except RuntimeError as exc:
        raise InputError(f"cannot read DICOM file '{names[0]}': {_first_line(exc)}") from None
    size = (probe.GetSize()[0], probe.GetSize()[1], len(names))
    _check_header_size(size, probe.GetNumberOfComponents(), probe.GetPixelID(), str(folder), limits)
    check_series_geometry(names, where=f"DICOM series {chosen} in '{folder}'")
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(names)
    reader.MetaDataDictionaryArrayUpdateOn()
    try:
        image = reader.Execute()
    except RuntimeError as exc:
        raise InputError(f"cannot read DICOM series {chosen} in '{folder}': {_first_line(exc)}") from None
    source = ImageSource(str(folder), "DICOM", series_uid=chosen, n_series_found=len(series_ids),
                         n_files=len(names),
                         description=f"DICOM series {chosen} ({len(names)} files; {len(series_ids)} series found)",
                         dicom=_dicom_references(reader, names))
    return image, source


def _dicom_references(reader: sitk.ImageSeriesReader, names) -> DicomReferences:
    """Study/patient attributes of the first slice and every slice's SOP instance UID, as read."""
    attributes = {key: reader.GetMetaData(0, tag).strip() for key, tag in DICOM_STUDY_TAGS.items()
                  if reader.HasMetaDataKey(0, tag)}
    uids = tuple(reader.GetMetaData(i, "0008|0018").strip() if reader.HasMetaDataKey(i, "0008|0018") else ""
                 for i in range(len(names)))
    return DicomReferences(attributes=attributes, sop_instance_uids=uids, files=tuple(str(n) for n in names))


def _check_header_size(size, n_components: int, pixel_id: int, where: str, limits: ValidationLimits) -> None:
    n_voxels = int(np.prod(size, dtype=np.int64))
    n_bytes = n_voxels * max(n_components, 1) * _bytes_per_pixel(pixel_id)
    if n_voxels > limits.max_voxels or n_bytes > limits.max_bytes:
        raise InputError(
            f"'{where}' is too large: {' x '.join(map(str, size))} voxels ({n_bytes / 1024**3:.1f} GB); the limit is "
            f"{limits.max_voxels} voxels and {limits.max_bytes / 1024**3:.0f} GB. Crop it to the temporal bones "
            f"or resample it to a coarser grid first.")


def _bytes_per_pixel(pixel_id: int) -> int:
    try:
        return max(1, sitk.Image([1, 1], pixel_id).GetSizeOfPixelComponent())
    except (RuntimeError, TypeError):
        return 4


def _to_hu_pixel_type(image: sitk.Image) -> sitk.Image:
    """Keep int16/float32 as they are, cast other scalar types to float32 (HU values unchanged)."""
    if image.GetNumberOfComponentsPerPixel() != 1:
        return image  # validate_ct explains the problem
    if image.GetPixelID() in (sitk.sitkInt16, sitk.sitkFloat32):
        return image
    return sitk.Cast(image, sitk.sitkFloat32)


def _first_line(exc: Exception) -> str:
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    useful = [ln for ln in lines if "Description:" in ln] or lines
    return (useful[-1].split("Description:")[-1].strip() if useful else type(exc).__name__)[:300]


# ------------------------------------------------------------------------------------------- validate
def validate_ct(image: sitk.Image, *, limits: ValidationLimits = ValidationLimits()) -> CTSummary:
    """Check that `image` is a 3-D CT in HU that can hold an inner ear; raise :class:`InputError` if not.

    Checks, in order: scalar voxels; 3-D (not 2-D, not 4-D, not a single slice); geometry (finite,
    positive spacing within ``[min_spacing_mm, max_spacing_mm]``, invertible direction matrix); size
    (at most ``max_voxels`` and ``max_bytes``; at least ``min_slices`` voxels and ``min_extent_mm`` in
    every axis); intensities (finite; not constant; a CT's air, soft-tissue and bone populations,
    :func:`InnerEarSegLib.gate.check_modality`). The resolution policy (slice thickness) is
    :func:`InnerEarSegLib.gate.check_resolution`, applied by :func:`InnerEarSegLib.segment`.

    Returns
    -------
    CTSummary
        Size, spacing, extent and intensity percentiles, for the report.

    Raises
    ------
    TypeError
        `image` is not a SimpleITK image.
    InputError
        The message names the failed check, the value found and what to do.
    """
    if not isinstance(image, sitk.Image):
        raise TypeError(f"image must be a SimpleITK.Image, got {type(image).__name__}")
    if image.GetNumberOfComponentsPerPixel() != 1:
        raise InputError(f"the image has {image.GetNumberOfComponentsPerPixel()} components per voxel (colour or "
                         f"vector image); a CT has one grey value per voxel. Export the CT itself, not a screenshot.")
    _check_dimension(image)
    spacing = np.asarray(image.GetSpacing(), dtype=float)
    _check_geometry(image, spacing, limits)
    size = np.asarray(image.GetSize(), dtype=np.int64)
    extent = size * spacing
    _check_size(size, extent, image, limits)
    p01, p99, vmax = _check_intensities(image, limits)
    return CTSummary(tuple(int(s) for s in size), tuple(float(s) for s in spacing),
                     tuple(float(e) for e in extent), p01, p99, vmax)


def _check_dimension(image: sitk.Image) -> None:
    dim = image.GetDimension()
    if dim == 2 or (dim == 3 and min(image.GetSize()) == 1):
        raise InputError(f"the image is 2-D (size {image.GetSize()}): a single slice cannot be segmented. "
                         f"Give the whole 3-D volume (the DICOM series folder, or a 3-D NIfTI/NRRD).")
    if dim == 4:
        raise InputError(f"the image is 4-D (size {image.GetSize()}), e.g. a time series or several volumes; "
                         f"extract one 3-D CT volume first (e.g. `image[:, :, :, 0]` in SimpleITK).")
    if dim != 3:
        raise InputError(f"the image has {dim} dimensions; a 3-D CT volume is needed.")


def _check_geometry(image: sitk.Image, spacing: np.ndarray, limits: ValidationLimits) -> None:
    if not np.all(np.isfinite(spacing)) or np.any(spacing <= 0):
        raise InputError(f"the voxel spacing {tuple(spacing)} mm is not finite and positive; the file's header "
                         f"is broken. Fix the spacing in the header (e.g. in 3D Slicer, Volumes > Volume Information).")
    if np.any(spacing > limits.max_spacing_mm) or np.any(spacing < limits.min_spacing_mm):
        raise InputError(f"the voxel spacing {tuple(round(float(s), 4) for s in spacing)} mm is outside "
                         f"[{limits.min_spacing_mm}, {limits.max_spacing_mm}] mm: too coarse to show an inner ear or "
                         f"a wrong unit in the header (e.g. cm or m instead of mm). Check the spacing in the header.")
    direction = np.asarray(image.GetDirection(), dtype=float).reshape(3, 3)
    if not np.all(np.isfinite(direction)) or abs(np.linalg.det(direction)) < 1e-3:
        raise InputError(f"the direction matrix {tuple(np.round(direction.ravel(), 3))} is degenerate; the file's "
                         f"orientation header is broken. Re-export the image with a valid orientation.")
    if not np.all(np.isfinite(image.GetOrigin())):
        raise InputError(f"the image origin {image.GetOrigin()} is not finite; re-export the image.")


def _check_size(size: np.ndarray, extent: np.ndarray, image: sitk.Image, limits: ValidationLimits) -> None:
    n_voxels = int(np.prod(size))
    n_bytes = n_voxels * image.GetSizeOfPixelComponent()
    if n_voxels == 0:
        raise InputError("the image is empty (no voxels). Check the file.")
    if n_voxels > limits.max_voxels or n_bytes > limits.max_bytes:
        raise InputError(f"the image is too large: {' x '.join(map(str, size))} voxels ({n_bytes / 1024**3:.1f} GB); "
                         f"the limit is {limits.max_voxels} voxels and {limits.max_bytes / 1024**3:.0f} GB. Crop it to "
                         f"the temporal bones or resample it to a coarser grid first.")
    if np.any(size < limits.min_slices) or np.any(extent < limits.min_extent_mm):
        raise InputError(f"the image is too small to hold an inner ear: {' x '.join(map(str, size))} voxels, "
                         f"{' x '.join(f'{e:.1f}' for e in extent)} mm; at least {limits.min_slices} voxels and "
                         f"{limits.min_extent_mm:g} mm are needed along every axis. Give the full temporal-bone scan.")


def _intensity_sample(image: sitk.Image, max_samples: int = 2_000_000) -> np.ndarray:
    array = sitk.GetArrayViewFromImage(image)
    step = max(1, int(np.ceil((array.size / max_samples) ** (1 / 3))))
    return np.asarray(array[::step, ::step, ::step], dtype=np.float32).ravel()


def _check_intensities(image: sitk.Image, limits: ValidationLimits) -> tuple[float, float, float]:
    sample = _intensity_sample(image)
    finite = np.isfinite(sample)
    if not np.all(finite):
        raise InputError(f"the image holds non-finite values (NaN or infinity) in {100 * (1 - finite.mean()):.1f} % "
                         f"of the voxels checked; it is not a usable CT. Re-export or repair the volume.")
    vmin, vmax = float(sample.min()), float(sample.max())
    if vmin == vmax:
        raise InputError(f"the image is constant (every voxel checked is {vmin:g}): it holds no anatomy. Check that "
                         f"the right file or series was exported.")
    p01, p99 = (float(v) for v in np.percentile(sample, [1, 99]))
    check_modality(image)
    return p01, p99, vmax


# ---------------------------------------------------------------------------------------------- write
def write_image_atomic(image: sitk.Image, path: str | os.PathLike, *, compress: bool = True) -> Path:
    """Write `image` to `path` so that `path` is either the complete new file or untouched.

    The image goes to a temporary file in the same folder, which then replaces `path` with
    ``os.replace``. Formats with a detached header (``.mhd``, ``.nhdr``, ``.hdr``) are refused because
    their header names the data file; use ``.mha``, ``.nrrd`` or ``.nii.gz``.

    Returns
    -------
    pathlib.Path
        The written path.
    """
    target = Path(path)
    if _suffix(target) in _DETACHED_HEADER_SUFFIXES:
        raise ValueError(f"path {str(target)!r}: formats with a detached header ({', '.join(_DETACHED_HEADER_SUFFIXES)})"
                         f" cannot be written atomically; use .mha, .nrrd or .nii.gz")
    with atomic_output_path(target) as tmp:
        sitk.WriteImage(image, str(tmp), useCompression=compress)
    return target
