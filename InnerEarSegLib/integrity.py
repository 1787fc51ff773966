"""Check that an input file is whole before it is used: every byte, every voxel, every slice.

- :func:`check_file_integrity`: a gzip stream is decompressed to its end (the CRC and length in its
  trailer are verified by :mod:`gzip`), and a NIfTI file's payload is as long as its header says
  (SimpleITK zero-fills a truncated ``.nii.gz`` silently) and finite (SimpleITK reads NaN/Inf as 0);
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
    """Read all of `path`: verify a gzip stream to its trailer, a NIfTI payload's length and its values.

    A NIfTI file's floating-point voxels are checked here, on the file's own bytes, because
    SimpleITK's NIfTI reader turns NaN and infinity into 0 (an infinite block would silently become
    water).

    Raises
    ------
    InputError
        The gzip data are truncated or fail their CRC, a NIfTI file holds fewer voxel bytes than its
        header announces, or its voxels are NaN or infinite.
    """
    with open(path, "rb") as handle:
        compressed = handle.read(2) == _GZIP_MAGIC
    is_nifti = path.name.lower().endswith((".nii", ".nii.gz"))
    scanner = _NiftiScanner(path) if is_nifti else None
    if compressed:
        n_bytes = _read_gzip_fully(path, scanner)
    else:
        if scanner is not None:
            with open(path, "rb") as handle:
                while chunk := handle.read(_CHUNK):
                    scanner.feed(chunk)
        n_bytes = path.stat().st_size
    if scanner is not None:
        scanner.finish(n_bytes)


def _read_gzip_fully(path: Path, scanner) -> int:
    """Decompressed length; the gzip module checks the CRC and the length in the trailer at EOF."""
    total = 0
    try:
        with gzip.open(path, "rb") as stream:
            while chunk := stream.read(_CHUNK):
                if scanner is not None:
                    scanner.feed(chunk)
                total += len(chunk)
    except (EOFError, gzip.BadGzipFile, zlib.error, OSError) as exc:
        raise InputError(f"'{path}' is damaged: its gzip data are truncated or corrupt ({exc}). The file was cut "
                         f"short or altered in a copy or download; copy or export it again.") from None
    return total


_NIFTI_FLOATS = {16: "f4", 64: "f8"}


class _NiftiScanner:
    """Fed the file's bytes in order: reads the header, then counts non-finite float voxels."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.head = b""
        self.layout = None
        self.dtype = None
        self.position = 0  # bytes of the file seen
        self.carry = b""
        self.n_bad = 0
        self.first_bad: int | None = None

    def feed(self, chunk: bytes) -> None:
        if len(self.head) < 544:
            self.head += chunk[: 544 - len(self.head)]
            if len(self.head) >= 348 and self.layout is None:
                self.layout = _nifti_layout(self.head)
                if self.layout is not None:
                    self.dtype = self.layout[3]
        start = self.position
        self.position += len(chunk)
        if self.dtype is None or self.layout is None:
            return
        n_voxels, _, vox_offset, _ = self.layout
        end_payload = vox_offset + n_voxels * self.dtype.itemsize
        lo, hi = max(start, vox_offset), min(self.position, end_payload)
        if hi <= lo:
            return
        data = self.carry + chunk[lo - start: hi - start]
        usable = len(data) - len(data) % self.dtype.itemsize
        values = np.frombuffer(data[:usable], dtype=self.dtype)
        bad = ~np.isfinite(values)
        n = int(np.count_nonzero(bad))
        if n and self.first_bad is None:
            already = (lo - vox_offset - len(self.carry)) // self.dtype.itemsize
            self.first_bad = already + int(np.argmax(bad))
        self.n_bad += n
        self.carry = data[usable:]

    def finish(self, n_bytes: int) -> None:
        if self.layout is None:
            return  # not a header we know; SimpleITK reports it
        n_voxels, bitpix, vox_offset, _ = self.layout
        expected = vox_offset + n_voxels * bitpix // 8
        if n_bytes < expected:
            raise InputError(f"'{self.path}' is truncated: its header announces {n_voxels} voxels of {bitpix} bits "
                             f"({expected} bytes with the header) but the file holds {n_bytes} bytes, so "
                             f"{100 * (expected - n_bytes) / max(expected, 1):.1f} % of the image is missing. Copy "
                             f"or export the file again.")
        if self.n_bad:
            raise InputError(f"'{self.path}' holds {self.n_bad} non-finite voxels (NaN or infinity; the first is "
                             f"voxel {self.first_bad} in file order); they are not CT values. Repair or re-export "
                             f"the volume (e.g. replace them by -1000 HU) before segmenting it.")


def _nifti_layout(head: bytes):
    """(voxels, bits per voxel, data offset, float dtype or None) from a NIfTI-1 or -2 header, or None."""
    for order in "<>":
        if struct.unpack(order + "i", head[:4])[0] == 348:
            dim = struct.unpack(order + "8h", head[40:56])
            datatype, bitpix = struct.unpack(order + "2h", head[70:74])
            vox_offset = max(int(struct.unpack(order + "f", head[108:112])[0]), 352)
            break
        if len(head) >= 540 and struct.unpack(order + "i", head[:4])[0] == 540:
            datatype, bitpix = struct.unpack(order + "2h", head[12:16])
            dim = struct.unpack(order + "8q", head[16:80])
            vox_offset = struct.unpack(order + "q", head[168:176])[0]
            break
    else:
        return None
    n_dim = int(dim[0])
    if not 1 <= n_dim <= 7 or bitpix <= 0:
        return None
    n_voxels = int(np.prod([max(int(d), 1) for d in dim[1:n_dim + 1]], dtype=np.int64))
    dtype = np.dtype(order + _NIFTI_FLOATS[datatype]) if datatype in _NIFTI_FLOATS else None
    return n_voxels, int(bitpix), int(vox_offset), dtype


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
