"""Check that an input file is whole before it is used: every byte, every voxel, every slice.

- :func:`check_file_integrity`: a gzip stream is decompressed to its end (the CRC and length in its
  trailer are verified by :mod:`gzip`), and a NIfTI file's payload is as long as its header says
  (SimpleITK zero-fills a truncated ``.nii.gz`` silently);
- :func:`check_finite`: every voxel of a floating-point image is finite (no sampling);
- :func:`choose_series` / :func:`check_series_geometry`: a DICOM folder with several series names them
  instead of guessing, and a series with missing slices or mixed geometry is refused with what was found.

Each raises :class:`~InnerEarSegLib.errors.InputError` with the problem and the remedy.
"""
from __future__ import annotations

import gzip
import struct
import zlib
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from .errors import InputError

__all__ = ["check_file_integrity", "check_finite", "choose_series", "check_series_geometry"]

_GZIP_MAGIC = b"\x1f\x8b"
_CHUNK = 1 << 22


# ------------------------------------------------------------------------------------------ file bytes
def check_file_integrity(path: Path) -> None:
    """Read all of `path`: verify a gzip stream to its trailer and a NIfTI payload's length.

    Raises
    ------
    InputError
        The gzip data are truncated or fail their CRC, or a NIfTI file holds fewer voxel bytes than its
        header announces.
    """
    with open(path, "rb") as handle:
        compressed = handle.read(2) == _GZIP_MAGIC
    if compressed:
        head, n_bytes = _read_gzip_fully(path)
    else:
        with open(path, "rb") as handle:
            head = handle.read(544)
        n_bytes = path.stat().st_size
    if path.name.lower().endswith((".nii", ".nii.gz")):
        _check_nifti_payload(path, head, n_bytes)


def _read_gzip_fully(path: Path) -> tuple[bytes, int]:
    """(first 544 decompressed bytes, decompressed length); the gzip module checks CRC and length at EOF."""
    head, total = b"", 0
    try:
        with gzip.open(path, "rb") as stream:
            while chunk := stream.read(_CHUNK):
                if len(head) < 544:
                    head += chunk[: 544 - len(head)]
                total += len(chunk)
    except (EOFError, gzip.BadGzipFile, zlib.error, OSError) as exc:
        raise InputError(f"'{path}' is damaged: its gzip data are truncated or corrupt ({exc}). The file was cut "
                         f"short or altered in a copy or download; copy or export it again.") from None
    return head, total


def _check_nifti_payload(path: Path, head: bytes, n_bytes: int) -> None:
    layout = _nifti_layout(head)
    if layout is None:
        return  # not a header we know; SimpleITK reports it
    n_voxels, bitpix, vox_offset = layout
    expected = vox_offset + n_voxels * bitpix // 8
    if n_bytes < expected:
        raise InputError(f"'{path}' is truncated: its header announces {n_voxels} voxels of {bitpix} bits "
                         f"({expected} bytes with the header) but the file holds {n_bytes} bytes, so "
                         f"{100 * (expected - n_bytes) / max(expected, 1):.1f} % of the image is missing. Copy or "
                         f"export the file again.")


def _nifti_layout(head: bytes) -> tuple[int, int, int] | None:
    """(voxels, bits per voxel, data offset) from a NIfTI-1 or NIfTI-2 header, or None."""
    for order in "<>":
        if len(head) >= 348 and struct.unpack(order + "i", head[:4])[0] == 348:
            dim = struct.unpack(order + "8h", head[40:56])
            bitpix = struct.unpack(order + "h", head[72:74])[0]
            vox_offset = int(struct.unpack(order + "f", head[108:112])[0])
            break
        if len(head) >= 540 and struct.unpack(order + "i", head[:4])[0] == 540:
            bitpix = struct.unpack(order + "h", head[14:16])[0]
            dim = struct.unpack(order + "8q", head[16:80])
            vox_offset = struct.unpack(order + "q", head[168:176])[0]
            break
    else:
        return None
    n_dim = int(dim[0])
    if not 1 <= n_dim <= 7 or bitpix <= 0:
        return None
    n_voxels = int(np.prod([max(int(d), 1) for d in dim[1:n_dim + 1]], dtype=np.int64))
    return n_voxels, int(bitpix), max(int(vox_offset), 352 if len(head) >= 348 else 0)


# ---------------------------------------------------------------------------------------------- voxels
def check_finite(image: sitk.Image, *, where: str = "the image") -> None:
    """Refuse NaN or infinite voxels anywhere in `image` (all voxels are checked; integers always pass).

    Raises
    ------
    InputError
        With the number of non-finite voxels and the index (x, y, z) of the first one.
    """
    array = sitk.GetArrayViewFromImage(image)
    if not np.issubdtype(array.dtype, np.floating):
        return
    bad = 0
    first = None
    for z0 in range(0, array.shape[0], 16):  # slabs: no full-size temporary
        slab = ~np.isfinite(array[z0:z0 + 16])
        n = int(np.count_nonzero(slab))
        if n and first is None:
            idx = np.argwhere(slab)[0]
            first = (int(idx[-1]), int(idx[-2]), int(idx[0]) + z0) if slab.ndim >= 3 else tuple(map(int, idx))
        bad += n
    if bad:
        raise InputError(f"{where} holds {bad} non-finite voxels (NaN or infinity; the first at index x, y, z = "
                         f"{first}); they are not CT values. Repair or re-export the volume (e.g. replace them by "
                         f"-1000 HU) before segmenting it.")


# ---------------------------------------------------------------------------------------------- DICOM
def _series_label(names: list[str]) -> str:
    reader = sitk.ImageFileReader()
    reader.SetFileName(names[0])
    try:
        reader.ReadImageInformation()
    except RuntimeError:
        return ""
    tags = {"0008|0060": "", "0008|103e": ""}
    for key in tags:
        if reader.HasMetaDataKey(key):
            tags[key] = reader.GetMetaData(key).strip()
    return " ".join(v for v in (tags["0008|0060"], repr(tags["0008|103e"]) if tags["0008|103e"] else "") if v)


def choose_series(folder: Path, files: dict[str, list[str]], *, member: Path | None = None,
                  series_uid: str | None = None) -> str:
    """The series to read: the one holding `member`, the one named `series_uid`, or the only one.

    Raises
    ------
    InputError
        `member` is in no series, `series_uid` is not there, or several series and no choice: the
        message lists each series (UID, files, modality, description) and how to pick one.
    """
    if member is not None:
        for sid, names in files.items():
            if any(Path(n).resolve() == member.resolve() for n in names):
                return sid
        raise InputError(f"'{member}' is not a readable DICOM image (no series in its folder holds it).")
    if series_uid is not None and series_uid in files:
        return series_uid
    if series_uid is None and len(files) == 1:
        return next(iter(files))
    listing = "; ".join(f"{sid} ({len(names)} files{', ' + _series_label(names) if _series_label(names) else ''})"
                        for sid, names in sorted(files.items(), key=lambda kv: -len(kv[1])))
    found = (f"series {series_uid} is not in '{folder}'" if series_uid is not None
             else f"'{folder}' holds {len(files)} DICOM series")
    raise InputError(f"{found}: {listing}. Choose one with --series UID, or give one file of the series "
                     f"instead of the folder.")


def check_series_geometry(names: list[str], *, where: str) -> None:
    """Refuse a series whose slices differ in orientation, size or spacing, or have gaps or duplicates.

    Reads each file's header (not its pixels): orientation, in-plane size and spacing, position.

    Raises
    ------
    InputError
        What differs (with counts) or where slices are missing (positions and the usual step).
    """
    reader = sitk.ImageFileReader()
    rows = []
    for name in names:
        reader.SetFileName(name)
        try:
            reader.ReadImageInformation()
        except RuntimeError:
            raise InputError(f"{where}: cannot read the header of '{name}'; the series is damaged.") from None
        rows.append((np.round(reader.GetDirection(), 4), reader.GetSize()[:2],
                     tuple(np.round(reader.GetSpacing()[:2], 4)), np.asarray(reader.GetOrigin(), dtype=float)))
    if len(rows) < 2:
        return
    for what, key in (("orientation", lambda r: tuple(r[0])), ("image size", lambda r: tuple(r[1])),
                      ("pixel spacing (mm)", lambda r: r[2])):
        values: dict = {}
        for r in rows:
            values.setdefault(key(r), 0)
            values[key(r)] += 1
        if len(values) > 1:
            found = ", ".join(f"{n} slices with {v}" for v, n in values.items())
            raise InputError(f"{where} mixes slices of different {what}: {found}. These are several scans in "
                             f"one series; export the one you want on its own.")
    direction = rows[0][0].reshape(3, 3)
    normal = np.cross(direction[:, 0], direction[:, 1])
    offsets_mm = np.sort([float(np.dot(r[3], normal)) for r in rows])
    steps_mm = np.diff(offsets_mm)
    step_mm = float(np.median(steps_mm))
    if np.any(steps_mm < 1e-3):
        raise InputError(f"{where} has {int(np.sum(steps_mm < 1e-3))} slices at the same position as another: "
                         f"duplicated files or two scans in one series. Export the series again.")
    gaps = np.flatnonzero(np.abs(steps_mm - step_mm) > 0.1 * step_mm + 1e-3)
    if gaps.size:
        places = ", ".join(f"{steps_mm[i]:.2f} mm after {offsets_mm[i]:.2f} mm" for i in gaps[:5])
        missing = int(round(sum(steps_mm[i] / step_mm - 1 for i in gaps)))
        raise InputError(f"{where} is not evenly spaced: the slices are {step_mm:.3g} mm apart but jump by "
                         f"{places}{' ...' if gaps.size > 5 else ''} (about {max(missing, 1)} slices missing). "
                         f"Reading it would distort the anatomy; export the complete series again.")
