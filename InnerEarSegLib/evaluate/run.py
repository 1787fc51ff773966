"""One call for a whole study: match, resample, measure, score, summarise, write the report."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from ..progress import CancelToken, ProgressCallback, no_progress
from .report import write_report
from .study import (LikertAnalysis, evaluate_case, likert_analysis, match_cases, read_groups_csv,
                    subgroup_table, subgroups)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StudyResult:
    """Rows per case, Table-3 rows, the Likert analysis and the written files."""

    rows: list
    subgroup_rows: list
    likert: LikertAnalysis
    outputs: dict


def _auto_likert(pred: sitk.Image) -> int | None:
    from ..assess import assess_label_image

    values = set(np.unique(sitk.GetArrayViewFromImage(pred)).tolist()) - {0}
    if not values:
        return 4
    ears = assess_label_image(pred, binary=values == {1})
    return max(e.likert for e in ears)


def _reader_likert(ratings_csv) -> dict[str, int]:
    """Worst reader Likert score per case; ValueError when the file is not a ratings CSV."""
    import csv

    from ..review.ratings import read_ratings_csv

    try:
        with open(ratings_csv, newline="", encoding="utf-8") as handle:
            header = next(csv.reader(handle), [])
        lacking = [c for c in ("case_id", "side", "likert") if c not in header]
        if lacking:
            raise ValueError(f"it lacks the columns {lacking} (found {header[:8]})")
        records = read_ratings_csv(ratings_csv)
    except (UnicodeDecodeError, csv.Error, KeyError, ValueError) as exc:
        raise ValueError(f"ratings file {str(ratings_csv)!r} is not a ratings CSV: {exc}; give the CSV the "
                         f"review panel writes (columns case_id, side, likert)") from None
    worst: dict[str, int] = {}
    for rec in records:
        if rec.likert is not None:
            worst[rec.case_id] = max(worst.get(rec.case_id, 0), rec.likert)
    return worst


def join_reader_likert(case_ids: list[str], reader: dict[str, int], ratings_csv) -> dict[str, int]:
    """The reader's score of each evaluated case; cases and ratings are joined by the one case id.

    Raises
    ------
    ValueError : when no evaluated case has a rating (Tables 4-5 would be empty): names both sides.
    """
    joined = {cid: reader[cid] for cid in case_ids if cid in reader}
    if not joined:
        raise ValueError(f"none of the {len(case_ids)} evaluated cases ({', '.join(case_ids[:5])}"
                         f"{', ...' if len(case_ids) > 5 else ''}) has a reader score in {str(ratings_csv)!r}, "
                         f"which scores {len(reader)} case(s) ({', '.join(sorted(reader)[:5]) or 'none'}); "
                         "the reader-Likert tables would be empty. Case ids come from file names "
                         "(InnerEarSegLib.cases.case_id_from_path): check that the ratings belong to these cases")
    unrated = [cid for cid in case_ids if cid not in joined]
    if unrated:
        log.warning("%d of %d cases have no reader score in %s and are left out of the Likert tables: %s",
                    len(unrated), len(case_ids), ratings_csv, ", ".join(unrated))
    return joined


def run_study(pred_dir, ref_dir, out_dir, *, ratings_csv=None, groups_csv=None, auto_likert: bool = True,
              progress: ProgressCallback = no_progress, cancel: CancelToken | None = None) -> StudyResult:
    """Evaluate every case found in both folders and write the report into `out_dir`.

    The Likert score per case is the reader's (worst ear) from `ratings_csv` when given, else the
    automatic suggestion of :func:`InnerEarSegLib.assess.assess_label_image` on the prediction.
    """
    cases = match_cases(pred_dir, ref_dir)
    reader = _reader_likert(ratings_csv) if ratings_csv else {}
    groups = read_groups_csv(groups_csv) if groups_csv else {}
    if ratings_csv:
        reader = join_reader_likert([c for c, _, _ in cases], reader, ratings_csv)
    rows = []
    for i, (case_id, pred_path, ref_path) in enumerate(cases):
        if cancel is not None:
            cancel.raise_if_cancelled()
        progress("evaluate", i / len(cases), f"case {case_id} ({i + 1} of {len(cases)})")
        pred, ref = sitk.ReadImage(str(pred_path)), sitk.ReadImage(str(ref_path))
        row = {"case_id": case_id, **evaluate_case(pred, ref)}
        if auto_likert:
            row["auto_likert"] = _auto_likert(sitk.Resample(pred, ref, sitk.Transform(), sitk.sitkNearestNeighbor,
                                                            0, pred.GetPixelID()))
        row["likert"] = reader.get(case_id, None) if ratings_csv else row.get("auto_likert")
        rows.append(row)
    table = subgroup_table(rows, groups)
    pairs = [(r["likert"], r["labyrinth_dice"]) for r in rows if r.get("likert") is not None]
    likert = likert_analysis(pairs, source="reader" if ratings_csv else "automatic")
    members = subgroups([r["case_id"] for r in rows], groups)
    outputs = write_report(out_dir, rows, table, likert, members, pairs)
    progress("evaluate", 1.0, f"report written to {Path(out_dir) / 'report.md'}")
    return StudyResult(rows, table, likert, outputs)
