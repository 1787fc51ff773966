"""The study manifest survives a kill: a torn last journal line is ignored, the CSV is rebuilt in input order."""
from __future__ import annotations

import csv

import pytest

from InnerEarSegLib.batch.manifest import COLUMNS, StudyManifest, read_manifest_table


def _record(case_id, status="done", reason=""):
    r = {c: None for c in COLUMNS}
    r.update(case_id=case_id, status=status, reason=reason)
    return r


def test_the_latest_record_of_a_case_wins_and_the_csv_follows_the_input_order(tmp_path):
    m = StudyManifest(tmp_path)
    m.append(_record("b", "failed", reason="boom"))
    m.append(_record("a"))
    m.append(_record("b"))
    m.write_csv(["b", "a"])
    rows = list(csv.DictReader((tmp_path / "manifest.csv").open()))
    assert [(r["case_id"], r["status"]) for r in rows] == [("b", "done"), ("a", "done")]
    assert read_manifest_table(tmp_path) == rows


def test_a_torn_last_line_is_ignored_and_the_next_append_still_parses(tmp_path):
    m = StudyManifest(tmp_path)
    m.append(_record("a"))
    with m.journal_path.open("a") as f:
        f.write('{"case_id": "b", "sta')  # a kill during an append
    assert set(m.records()) == {"a"}
    m.append(_record("c"))
    assert set(m.records()) == {"a", "c"}


def test_a_record_with_an_unknown_status_or_missing_fields_is_refused(tmp_path):
    m = StudyManifest(tmp_path)
    with pytest.raises(ValueError, match="status"):
        m.append(_record("a", "maybe"))
    with pytest.raises(ValueError, match="lacks"):
        m.append({"case_id": "a", "status": "done"})
