import csv

import pytest

from InnerEarSegLib.review import ratings as ratings_mod
from InnerEarSegLib.review.ratings import RatingRecord, RatingStore, read_ratings_csv


def _record(**kw):
    base = dict(case_id="case007", side="left", likert=2, suggested_likert=2,
                auto_status={"superior": "incomplete", "cochlea": "present"},
                reader_status={"superior": "missing"}, comment="upper SSCC lost, élan", reader_id="JL",
                time_iso="2026-11-26T20:00:00+00:00", model_version="1.0.0", blinded=True)
    base.update(kw)
    return RatingRecord(**base)


def test_ratings_saved_to_csv_and_json_next_to_the_case_reload_identically(tmp_path):
    store = RatingStore.for_case(tmp_path / "case007.nii.gz")
    records = [_record(), _record(side="right", likert=1, comment="")]
    store.save(records)
    assert (tmp_path / "case007_ratings.csv").exists() and (tmp_path / "case007_ratings.json").exists()
    assert RatingStore.for_case(tmp_path / "case007.nii.gz").load() == records
    assert read_ratings_csv(store.csv_path) == records
    assert store.csv_path.stat().st_mode & 0o777 == ratings_mod.default_file_mode()  # not mkstemp 0600
    with open(store.csv_path, newline="", encoding="utf-8") as fh:
        row = next(csv.DictReader(fh))
    assert row["likert"] == "2" and row["auto_superior"] == "incomplete" and row["reader_superior"] == "missing"


def test_upsert_replaces_the_same_ear_and_stamps_the_time(tmp_path):
    store = RatingStore(tmp_path)
    store.upsert(_record(time_iso=""))
    store.upsert(_record(likert=3, time_iso=""))
    loaded = store.load()
    assert len(loaded) == 1 and loaded[0].likert == 3 and loaded[0].time_iso.startswith("20")


def test_a_crash_in_the_middle_of_a_write_leaves_the_previous_file_intact(tmp_path, monkeypatch):
    store = RatingStore(tmp_path)
    store.save([_record()])
    before_json, before_csv = store.json_path.read_bytes(), store.csv_path.read_bytes()

    def crash(fd):
        raise OSError("simulated power loss during fsync")

    monkeypatch.setattr(ratings_mod.os, "fsync", crash)
    with pytest.raises(OSError, match="simulated"):
        store.save([_record(likert=4, comment="x" * 10000)])
    monkeypatch.undo()
    assert store.json_path.read_bytes() == before_json
    assert store.csv_path.read_bytes() == before_csv
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []
    assert store.load() == [_record()]


def test_a_likert_outside_table_1_is_refused_with_a_clear_message():
    with pytest.raises(ValueError, match="1, 2, 3 or 4"):
        _record(likert=5)
    with pytest.raises(ValueError, match="side"):
        _record(side="both")
