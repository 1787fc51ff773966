"""Which CTs a study holds: files, DICOM series folders, folders to scan, or a CSV ``case_id,path[,group]``."""
from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import SimpleITK as sitk

from ..errors import InputError
from ..imageio import SUPPORTED_SUFFIXES
from ..cases import case_id_from_path

#: Files a folder scan passes over: label maps and segmentations beside the CTs, reports, previews.
_NOT_CT_ENDINGS = ("_labels.nii.gz", "_labels.nii", "_labels.nrrd", "_label.nii.gz", ".seg.nrrd")


@dataclass(frozen=True)
class CaseInput:
    """One CT of a study: its id (the case folder's name), its path, and an optional subgroup."""

    case_id: str
    path: str
    group: str = ""


def discover_cases(inputs) -> list[CaseInput]:
    """The cases named by `inputs`, in the order given (a folder's entries sorted by name).

    Each input is a CT file, a DICOM series folder, a folder to scan (its CT files and DICOM sub-folders,
    one level deep) or a ``.csv`` with the columns ``case_id,path[,group]`` (relative paths are relative
    to the CSV's folder).

    Raises
    ------
    InputError : an input does not exist, a CSV lacks its columns, nothing was found, or two cases share an id.
    """
    cases: list[CaseInput] = []
    for item in inputs:
        p = Path(item)
        if not p.exists():
            raise InputError(f"batch input '{p}' does not exist; give CT files, DICOM folders, a folder to scan "
                             f"or a CSV of case_id,path[,group].")
        if p.is_file() and p.suffix.lower() == ".csv":
            cases.extend(_from_csv(p))
        elif p.is_file() or _is_dicom_folder(p):
            cases.append(CaseInput(case_id_from_path(p), str(p.resolve())))
        else:
            cases.extend(_scan(p))
    if not cases:
        raise InputError(f"no CT found in {', '.join(map(str, inputs))}: expected files ending in "
                         f"{', '.join(SUPPORTED_SUFFIXES)} or DICOM series folders.")
    _check_unique(cases)
    return cases


def _is_dicom_folder(folder: Path) -> bool:
    return folder.is_dir() and bool(sitk.ImageSeriesReader.GetGDCMSeriesIDs(str(folder)))


def _is_ct_file(path: Path) -> bool:
    name = path.name.lower()
    return (path.is_file() and not name.startswith(".") and name.endswith(SUPPORTED_SUFFIXES)
            and not name.endswith(_NOT_CT_ENDINGS) and not name.endswith(".dcm"))


def _scan(folder: Path) -> list[CaseInput]:
    found = []
    for entry in sorted(folder.iterdir()):
        if _is_ct_file(entry) or _is_dicom_folder(entry):
            found.append(CaseInput(case_id_from_path(entry), str(entry.resolve())))
    return found


def _from_csv(path: Path) -> list[CaseInput]:
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        fields = [c.strip() for c in (reader.fieldnames or [])]
        if "case_id" not in fields or "path" not in fields:
            raise InputError(f"'{path}' must have a header with the columns case_id,path[,group]; found {fields}.")
        rows = [{k.strip(): (v or "").strip() for k, v in row.items() if k} for row in reader]
    cases = []
    for n, row in enumerate(rows, start=2):
        if not row.get("case_id") or not row.get("path"):
            raise InputError(f"'{path}' line {n}: case_id and path must not be empty.")
        target = Path(row["path"])
        target = target if target.is_absolute() else path.parent / target
        cases.append(CaseInput(row["case_id"], str(target.resolve()), row.get("group", "")))
    return cases


def _check_unique(cases: list[CaseInput]) -> None:
    seen: dict[str, str] = {}
    for c in cases:
        if c.case_id in seen:
            raise InputError(f"two inputs have the case id '{c.case_id}': '{seen[c.case_id]}' and '{c.path}'. "
                             f"Case ids name the output folders; rename one, or give a CSV with explicit case ids.")
        if c.case_id in (".", "..") or "/" in c.case_id or "\\" in c.case_id:
            raise InputError(f"case id '{c.case_id}' cannot name a folder; use letters, digits, '-', '_' or '.'.")
        seen[c.case_id] = c.path
