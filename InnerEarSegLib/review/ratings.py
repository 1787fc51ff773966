"""Reader ratings per case and ear, saved atomically to CSV and JSON next to the case.

A write goes to a temporary file in the same folder, is flushed and fsync'ed, then atomically
renamed over the old file (``os.replace``): a crash at any moment leaves either the previous file or
the new one, never a half-written one. Every read-modify-write holds a file lock (``.<stem>.lock``),
so concurrent writers (two Slicer sessions, a script) never lose a rating; a corrupt JSON file is
moved aside and recovered from the CSV; a CSV left behind by a kill is brought up to date on the
next access, and temporary files of killed writers are removed.

>>> store = RatingStore.for_case("/data/case007.nii.gz")          # doctest: +SKIP
>>> store.upsert(RatingRecord("case007", "left", likert=2, reader_id="JL"))  # doctest: +SKIP
"""
from __future__ import annotations

import csv
import io
import json
import logging
import os
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path

from ..atomic_write import default_file_mode, remove_stale_temporaries, write_text_atomic  # noqa: F401 (re-exported)
from ..cases import case_id_from_path
from ..labels import STRUCTURE_KEYS

log = logging.getLogger(__name__)

_CSV_FIELDS = (["case_id", "side", "likert", "suggested_likert"] + [f"auto_{k}" for k in STRUCTURE_KEYS]
               + [f"reader_{k}" for k in STRUCTURE_KEYS]
               + ["comment", "reader_id", "time_iso", "model_version", "blinded"])


def now_iso() -> str:
    """Current UTC time as ISO 8601 with seconds."""
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


@dataclass(frozen=True)
class RatingRecord:
    """A reader's rating of one ear of one case.

    Attributes
    ----------
    case_id, side : str
        Case identifier and "right" / "left".
    likert : int or None
        Final Likert score 1-4 chosen by the reader (None: not rated yet).
    suggested_likert : int or None
        The automatic suggestion at the time of rating (kept even when the reader was blinded).
    auto_status, reader_status : dict
        Structure key -> "present" / "incomplete" / "missing" (automatic, and as the reader saw it).
    comment, reader_id, time_iso, model_version : str
    blinded : bool
        Whether suggestions were hidden from the reader.
    """

    case_id: str
    side: str
    likert: int | None = None
    suggested_likert: int | None = None
    auto_status: dict = field(default_factory=dict)
    reader_status: dict = field(default_factory=dict)
    comment: str = ""
    reader_id: str = ""
    time_iso: str = ""
    model_version: str = ""
    blinded: bool = False

    def __post_init__(self):
        if self.side not in ("right", "left"):
            raise ValueError(f"side must be 'right' or 'left', got {self.side!r}")
        for name in ("likert", "suggested_likert"):
            v = getattr(self, name)
            if v is not None and v not in (1, 2, 3, 4):
                raise ValueError(f"{name} must be 1, 2, 3 or 4 (Table 1) or None, got {v!r}")

    @property
    def key(self) -> tuple[str, str]:
        return (self.case_id, self.side)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "RatingRecord":
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        return cls(**known)

    def to_row(self) -> dict:
        row = {"case_id": self.case_id, "side": self.side, "likert": "" if self.likert is None else self.likert,
               "suggested_likert": "" if self.suggested_likert is None else self.suggested_likert,
               "comment": self.comment, "reader_id": self.reader_id, "time_iso": self.time_iso,
               "model_version": self.model_version, "blinded": int(self.blinded)}
        for k in STRUCTURE_KEYS:
            row[f"auto_{k}"] = self.auto_status.get(k, "")
            row[f"reader_{k}"] = self.reader_status.get(k, "")
        return row

    @classmethod
    def from_row(cls, row: dict) -> "RatingRecord":
        def opt_int(v):
            return int(v) if str(v).strip() else None

        return cls(case_id=row["case_id"], side=row["side"], likert=opt_int(row.get("likert", "")),
                   suggested_likert=opt_int(row.get("suggested_likert", "")),
                   auto_status={k: row[f"auto_{k}"] for k in STRUCTURE_KEYS if row.get(f"auto_{k}")},
                   reader_status={k: row[f"reader_{k}"] for k in STRUCTURE_KEYS if row.get(f"reader_{k}")},
                   comment=row.get("comment", ""), reader_id=row.get("reader_id", ""),
                   time_iso=row.get("time_iso", ""), model_version=row.get("model_version", ""),
                   blinded=str(row.get("blinded", "0")).strip().lower() in ("1", "true", "yes"))


def records_to_csv(records) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=_CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    for r in records:
        writer.writerow(r.to_row())
    return buf.getvalue()


def read_ratings_csv(path: str | os.PathLike) -> list[RatingRecord]:
    """Read ratings written by :class:`RatingStore` (or a hand-made CSV with at least case_id, side, likert)."""
    with open(path, newline="", encoding="utf-8") as handle:
        return [RatingRecord.from_row(row) for row in csv.DictReader(handle)]


class RatingStore:
    """Ratings of one case (or a whole study) kept in ``<stem>.csv`` and ``<stem>.json`` in `directory`.

    The JSON file is the one read back (it keeps types); the CSV is for spreadsheets and `evaluate`.
    """

    def __init__(self, directory: str | os.PathLike, *, stem: str = "ratings") -> None:
        self.directory = Path(directory)
        self.stem = stem
        self.last_recovery: str | None = None

    @classmethod
    def for_case(cls, case_path: str | os.PathLike) -> "RatingStore":
        """The store next to a case file or folder: ``<case>_ratings.csv/.json`` in the same folder."""
        p = Path(case_path)
        return cls(p.parent, stem=f"{case_id_from_path(p)}_ratings")

    @property
    def csv_path(self) -> Path:
        return self.directory / f"{self.stem}.csv"

    @property
    def json_path(self) -> Path:
        return self.directory / f"{self.stem}.json"

    @property
    def lock_path(self) -> Path:
        return self.directory / f".{self.stem}.lock"

    def _lock(self):
        """A file lock that serialises every reader-modify-writer of this store (other processes too)."""
        from filelock import FileLock

        self.directory.mkdir(parents=True, exist_ok=True)
        return FileLock(self.lock_path, timeout=60)

    def load(self) -> list[RatingRecord]:
        """All saved records ([] when nothing was saved yet); falls back to the CSV if the JSON is absent.

        A corrupt JSON file is moved aside (``<stem>.corrupt-<time>.json``, never deleted), the records
        are recovered from the CSV, and :attr:`last_recovery` says so (also logged as a warning).
        """
        with self._lock():
            records = self._load_locked()
            self._repair_csv(records)
            return records

    def _load_locked(self) -> list[RatingRecord]:
        if self.json_path.exists():
            try:
                data = json.loads(self.json_path.read_text(encoding="utf-8"))
                return [RatingRecord.from_dict(d) for d in data.get("ratings", [])]
            except (ValueError, TypeError, AttributeError, KeyError) as exc:
                return self._recover(exc)
        if self.csv_path.exists():
            return read_ratings_csv(self.csv_path)
        return []

    def _recover(self, exc: Exception) -> list[RatingRecord]:
        aside = self.json_path.with_name(f"{self.stem}.corrupt-{datetime.now():%Y%m%dT%H%M%S%f}.json")
        os.replace(self.json_path, aside)
        try:
            records = read_ratings_csv(self.csv_path) if self.csv_path.exists() else []
            source = f"{len(records)} ratings were restored from {self.csv_path.name}"
        except (ValueError, KeyError, csv.Error, OSError):
            records, source = [], f"{self.csv_path.name} is unreadable too, so no ratings were restored"
        self.last_recovery = (f"ratings file {self.json_path} was corrupt ({exc}); it was moved aside to "
                              f"{aside.name} (nothing deleted) and {source}.")
        log.warning("%s", self.last_recovery)
        self._write_locked(records)
        return records

    def _repair_csv(self, records) -> None:
        """After a kill between the JSON and the CSV write, bring the CSV up to date with the JSON."""
        if self.json_path.exists():
            text = records_to_csv(records)
            try:
                current = self.csv_path.read_text(encoding="utf-8")
            except FileNotFoundError:
                current = None
            if current != text:
                write_text_atomic(self.csv_path, text)

    def _write_locked(self, records) -> None:
        for name in (self.json_path.name, self.csv_path.name):
            remove_stale_temporaries(self.directory, name)  # left by killed writers; we hold the lock
        payload = {"format": "innerear-seg ratings", "version": 1, "ratings": [r.to_dict() for r in records]}
        write_text_atomic(self.json_path, json.dumps(payload, indent=2, ensure_ascii=False) + "\n")
        write_text_atomic(self.csv_path, records_to_csv(records))

    def save(self, records) -> None:
        """Replace the stored records (JSON first, then CSV; each write is atomic; under the store's lock)."""
        records = list(records)
        with self._lock():
            self._write_locked(records)

    def upsert(self, record: RatingRecord) -> None:
        """Add or replace the record of (case_id, side), stamping the time if it has none.

        Read, modify and write happen under one lock, so concurrent writers never lose a rating.
        """
        if not record.time_iso:
            record = replace(record, time_iso=now_iso())
        with self._lock():
            kept = [r for r in self._load_locked() if r.key != record.key]
            self._write_locked(kept + [record])

    def get(self, case_id: str, side: str) -> RatingRecord | None:
        for r in self.load():
            if r.key == (case_id, side):
                return r
        return None
