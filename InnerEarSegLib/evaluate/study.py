"""Study evaluation as in the seed paper: Dice per case and subgroup (Table 3), Likert distribution and
mean Dice per Likert level with Spearman's rho (Tables 4-5).

Predictions and references are matched by case id from file names (``<case>_labels.nii.gz``,
``<case>.nii.gz`` or ``<case>/labels.nii.gz``). A prediction on another grid is resampled onto the
reference grid (nearest neighbour, world space) before any metric.
"""
from __future__ import annotations

import csv
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from ..cases import case_id_from_path, file_role
from ..labels import STRUCTURES
from .metrics import case_metrics

log = logging.getLogger(__name__)
LABEL_SUFFIXES = (".nii.gz", ".nii", ".nrrd", ".mha", ".mhd")
METRIC_KEYS = ("labyrinth",) + tuple(s.key for s in STRUCTURES)
#: Files of a case that are not label maps (``<case>_ct.nii.gz`` beside ``<case>_labels.nii.gz``).
NOT_LABEL_ROLES = ("ct", "image")
_TRUE = {"1", "true", "yes", "y", "x"}
_FALSE = {"0", "false", "no", "n", ""}


def case_id_of(path: Path) -> str | None:
    """Case id of a label file (:func:`~InnerEarSegLib.cases.case_id_from_path`), None for other files.

    ``case7_labels.nii.gz``, ``case7.nii.gz``, ``case7/labels.nii.gz`` -> case7.
    """
    low = path.name.lower()
    if low.endswith(".seg.nrrd") or not low.endswith(LABEL_SUFFIXES) or file_role(path) in NOT_LABEL_ROLES:
        return None
    return case_id_from_path(path)


def find_label_files(folder: str | Path) -> dict[str, Path]:
    """Case id -> label file in `folder` (files directly inside, or ``<case>/labels.*``), or of the cases
    done in a study manifest (``manifest.csv`` / ``manifest.jsonl`` of ``innerear-seg batch``)."""
    folder = Path(folder)
    if folder.is_file() and folder.name.lower().endswith((".csv", ".jsonl")):
        return _labels_from_study_manifest(folder)
    if not folder.is_dir():
        raise ValueError(f"{str(folder)!r} is not a folder of label maps")
    found: dict[str, Path] = {}
    for p in sorted(folder.iterdir()):
        candidates = [p] if p.is_file() else sorted(c for c in p.iterdir() if c.is_file()
                                                    and c.name.lower().startswith(("labels", "label.")))
        for c in candidates:
            cid = case_id_of(c)
            if cid and cid not in found:
                found[cid] = c
    return found


def _labels_from_study_manifest(path: Path) -> dict[str, Path]:
    from ..batch.manifest import read_manifest_table

    rows = read_manifest_table(path)
    if not rows or "status" not in rows[0]:
        raise ValueError(f"{str(path)!r} is not a study manifest of innerear-seg batch (no status column)")
    found = {r["case_id"]: path.parent / (r.get("out_dir") or r["case_id"]) / "labels.nii.gz"
             for r in rows if r["status"] == "done"}
    for r in rows:
        if r["status"] != "done":
            log.warning("case %s is %s in the study manifest; not evaluated", r["case_id"], r["status"])
    return {c: p for c, p in found.items() if p.is_file()}


def match_cases(pred_dir: str | Path, ref_dir: str | Path) -> list[tuple[str, Path, Path]]:
    """(case id, prediction, reference) for every case present in both folders, sorted by id.

    Raises
    ------
    ValueError
        If no case id appears in both folders.
    """
    pred, ref = find_label_files(pred_dir), find_label_files(ref_dir)
    common = sorted(set(pred) & set(ref))
    if not common:
        raise ValueError(f"no case id is in both {str(pred_dir)!r} ({len(pred)} files) and {str(ref_dir)!r} "
                         f"({len(ref)} files); name files <case>_labels.nii.gz or <case>/labels.nii.gz")
    for missing in sorted(set(ref) - set(pred)):
        log.warning("case %s has a reference but no prediction; skipped", missing)
    for missing in sorted(set(pred) - set(ref)):
        log.warning("case %s has a prediction but no reference in %s; skipped", missing, ref_dir)
    return [(c, pred[c], ref[c]) for c in common]


def resample_to_reference(pred: sitk.Image, ref: sitk.Image) -> sitk.Image:
    """Nearest-neighbour resampling of `pred` onto `ref`'s grid in world space (outside -> 0)."""
    same = (pred.GetSize() == ref.GetSize() and np.allclose(pred.GetSpacing(), ref.GetSpacing())
            and np.allclose(pred.GetOrigin(), ref.GetOrigin()) and np.allclose(pred.GetDirection(), ref.GetDirection()))
    if same:
        return pred
    return sitk.Resample(pred, ref, sitk.Transform(), sitk.sitkNearestNeighbor, 0, pred.GetPixelID())


def evaluate_case(pred: sitk.Image, ref: sitk.Image) -> dict:
    """One row: ``<metric key>_dice``, ``_hd95_mm``, ``_msd_mm`` for the labyrinth and each structure."""
    moved = resample_to_reference(pred, ref)
    p = sitk.GetArrayFromImage(moved)
    r = sitk.GetArrayFromImage(ref)
    spacing_zyx = tuple(float(v) for v in ref.GetSpacing()[::-1])
    row: dict = {}
    for key, m in case_metrics(p, r, spacing_zyx).items():
        row[f"{key}_dice"] = m.dice
        row[f"{key}_hd95_mm"] = m.hd95_mm
        row[f"{key}_msd_mm"] = m.msd_mm
    row["labyrinth_pred_volume_mm3"] = case_metrics(p, r, spacing_zyx, per_structure=False)["labyrinth"].pred_volume_mm3
    return row


@dataclass(frozen=True)
class Summary:
    """n, mean (SD), median, min, max of a set of values (NaN-free), as in Table 3."""

    n: int
    mean: float
    sd: float
    median: float
    min: float
    max: float

    @classmethod
    def of(cls, values) -> "Summary":
        v = np.asarray([x for x in values if x is not None and not math.isnan(x)], float)
        if v.size == 0:
            nan = float("nan")
            return cls(0, nan, nan, nan, nan, nan)
        sd = float(v.std(ddof=1)) if v.size > 1 else 0.0
        return cls(int(v.size), float(v.mean()), sd, float(np.median(v)), float(v.min()), float(v.max()))


def read_groups_csv(path: str | Path) -> dict[str, dict[str, str]]:
    """case_id -> {column: value}. The first column named ``case_id`` (or ``case``) identifies the case."""
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    if not rows:
        return {}
    key = next((k for k in ("case_id", "case", "id") if k in rows[0]), None)
    if key is None:
        raise ValueError(f"groups file {str(path)!r} needs a 'case_id' column; it has {list(rows[0])}")
    return {r[key]: {k: (v or "").strip() for k, v in r.items() if k != key} for r in rows}


def subgroups(case_ids, groups: dict[str, dict[str, str]]) -> dict[str, list[str]]:
    """Subgroup name -> member case ids: "Overall", every yes/no column (members: yes), and every
    value of other columns (e.g. ``group=normal`` is named "normal")."""
    out = {"Overall": list(case_ids)}
    columns = list(dict.fromkeys(c for g in groups.values() for c in g))  # the file's column order
    for col in columns:
        values = {groups.get(cid, {}).get(col, "").lower() for cid in case_ids}
        if values <= (_TRUE | _FALSE):
            out[col] = [cid for cid in case_ids if groups.get(cid, {}).get(col, "").lower() in _TRUE]
        else:
            for val in sorted({groups.get(cid, {}).get(col, "") for cid in case_ids} - {""}):
                out[val] = [cid for cid in case_ids if groups.get(cid, {}).get(col, "") == val]
    return out


def subgroup_table(rows: list[dict], groups: dict[str, dict[str, str]], *, metric: str = "labyrinth_dice") -> list[dict]:
    """Table 3: per subgroup n, mean (SD), median, min, max of `metric` over its cases."""
    by_case = {r["case_id"]: r for r in rows}
    table = []
    for name, members in subgroups(list(by_case), groups).items():
        s = Summary.of(by_case[c].get(metric, float("nan")) for c in members)
        table.append({"subgroup": name, **s.__dict__})
    return table


@dataclass(frozen=True)
class LikertAnalysis:
    """Tables 4-5: count, share and mean Dice per Likert level 1-4, Spearman rho and p."""

    levels: dict = field(default_factory=dict)  # level -> {"n", "percent", "mean_dice"}
    rho: float = float("nan")
    p_value: float = float("nan")
    n: int = 0
    source: str = "reader"


def likert_analysis(pairs: list[tuple[int, float]], *, source: str = "reader") -> LikertAnalysis:
    """Analyse (likert, dice) pairs: distribution, mean Dice per level, Spearman correlation (scipy)."""
    from scipy.stats import spearmanr

    pairs = [(int(l), float(d)) for l, d in pairs if l is not None and d is not None and not math.isnan(d)]
    n = len(pairs)
    levels = {}
    for level in (1, 2, 3, 4):
        ds = [d for l, d in pairs if l == level]
        levels[level] = {"n": len(ds), "percent": 100.0 * len(ds) / n if n else 0.0,
                         "mean_dice": float(np.mean(ds)) if ds else float("nan")}
    rho = p = float("nan")
    if n >= 3 and len({l for l, _ in pairs}) > 1 and len({d for _, d in pairs}) > 1:
        res = spearmanr([l for l, _ in pairs], [d for _, d in pairs])
        rho, p = float(res.statistic), float(res.pvalue)
    return LikertAnalysis(levels, rho, p, n, source)
