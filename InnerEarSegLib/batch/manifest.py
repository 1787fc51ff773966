"""The study manifest: ``manifest.jsonl`` (a journal, one JSON object per finished attempt, appended and
fsynced) and ``manifest.csv`` (one row per case, the latest attempt, in input order, replaced atomically).

The journal is written only by the process that drives the study, after a case's folder is complete, so
a kill at any moment leaves every journalled case intact on disk; a torn last line (a kill during the
append) is ignored on reading. The CSV is derived from the journal and can always be rebuilt from it.
"""
from __future__ import annotations

import csv
import io
import json
import logging
import os
from pathlib import Path

from ..atomic_write import atomic_output_path

log = logging.getLogger(__name__)

JOURNAL_FILE = "manifest.jsonl"
CSV_FILE = "manifest.csv"
STATUSES = ("done", "failed", "refused")

#: Columns of manifest.csv, in order. Every journal record has these keys.
COLUMNS = ("case_id", "status", "reason", "path", "group", "out_dir", "model_name", "model_version",
           "model_sha256", "options_key", "right_likert", "left_likert", "right_trust", "left_trust",
           "read_s", "pipeline_s", "write_s", "total_s", "worker", "threads", "finished")


class StudyManifest:
    """Read and append the manifest of the study folder `study_dir`."""

    def __init__(self, study_dir: str | os.PathLike) -> None:
        self.study_dir = Path(study_dir)
        self.journal_path = self.study_dir / JOURNAL_FILE
        self.csv_path = self.study_dir / CSV_FILE

    def records(self) -> dict[str, dict]:
        """Case id -> its latest journalled record (empty when the study is new)."""
        latest: dict[str, dict] = {}
        if not self.journal_path.exists():
            return latest
        with self.journal_path.open(encoding="utf-8") as f:
            for n, line in enumerate(f, start=1):
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    log.warning("%s line %d is incomplete (interrupted write); ignored", self.journal_path, n)
                    continue
                if isinstance(record, dict) and record.get("case_id"):
                    latest[record["case_id"]] = record
        return latest

    def append(self, record: dict) -> None:
        """Journal one finished attempt (flushed and fsynced before returning)."""
        missing = [c for c in COLUMNS if c not in record]
        if missing:
            raise ValueError(f"manifest record lacks {missing}")
        if record["status"] not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, got {record['status']!r}")
        self.study_dir.mkdir(parents=True, exist_ok=True)
        self._repair_torn_tail()
        line = json.dumps(record, sort_keys=True) + "\n"
        with self.journal_path.open("a", encoding="utf-8") as f:
            f.write(line)
            f.flush()
            os.fsync(f.fileno())

    def _repair_torn_tail(self) -> None:
        """A kill during an append can leave a last line without its newline; end it so the next line parses."""
        if not self.journal_path.exists() or self.journal_path.stat().st_size == 0:
            return
        with self.journal_path.open("rb+") as f:
            f.seek(-1, os.SEEK_END)
            if f.read(1) != b"\n":
                f.write(b"\n")

    def write_csv(self, order: list[str]) -> Path:
        """Replace manifest.csv with the latest record of every case, `order` first, then any others."""
        latest = self.records()
        ids = [c for c in order if c in latest] + sorted(set(latest) - set(order))
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=COLUMNS, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        for case_id in ids:
            writer.writerow({k: ("" if latest[case_id].get(k) is None else latest[case_id][k]) for k in COLUMNS})
        self.study_dir.mkdir(parents=True, exist_ok=True)
        with atomic_output_path(self.csv_path) as tmp:
            tmp.write_text(buffer.getvalue(), encoding="utf-8")
        return self.csv_path


def read_manifest_table(path: str | os.PathLike) -> list[dict]:
    """Rows of a study manifest given as ``manifest.csv``, ``manifest.jsonl`` or the study folder."""
    p = Path(path)
    if p.is_dir():
        p = p / CSV_FILE if (p / CSV_FILE).exists() else p / JOURNAL_FILE
    if p.name.endswith(".jsonl"):
        manifest = StudyManifest(p.parent)
        manifest.journal_path = p
        return list(manifest.records().values())
    with p.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))
