"""Faults in the model package and the ratings store: edited settings refused, no rating lost or destroyed."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from InnerEarSegLib.errors import ModelError
from InnerEarSegLib.model.package import load_model_package
from InnerEarSegLib.review.ratings import RatingRecord, RatingStore


def edited_copy(tiny_model: Path, tmp_path: Path, field: str, value) -> Path:
    for src in (tiny_model, tiny_model.with_suffix(".json")):
        shutil.copy(src, tmp_path / src.name)
    manifest = tmp_path / tiny_model.with_suffix(".json").name
    data = json.loads(manifest.read_text())
    data[field] = value
    manifest.write_text(json.dumps(data))
    return tmp_path / tiny_model.name


@pytest.mark.parametrize("field, value", [("spacing_mm", 3.0), ("box_size_vox", 64),
                                          ("labels", {"0": "background", "1": "vestibule", "2": "cochlea",
                                                      "3": "superior", "4": "lateral", "5": "posterior"}),
                                          ("normalisation", {"method": "clip_zscore", "clip_hu": [0, 1]})])
def test_a_manifest_setting_edited_with_untouched_weights_is_refused_naming_it(tiny_model, tmp_path, field, value):
    with pytest.raises(ModelError, match=f"edited after the package was made: {field} no longer matches"):
        load_model_package(edited_copy(tiny_model, tmp_path, field, value))


def test_provenance_fields_that_do_not_change_the_result_may_be_edited(tiny_model, tmp_path):
    loaded = load_model_package(edited_copy(tiny_model, tmp_path, "accuracy", {"note": "remeasured"}))
    assert loaded.manifest.accuracy == {"note": "remeasured"}


def test_the_bundled_model_passes_its_settings_checksum():
    from InnerEarSegLib.model import default_model_path

    assert load_model_package(default_model_path()).manifest.settings_sha256


_WRITER = """
import sys
from InnerEarSegLib.review.ratings import RatingRecord, RatingStore
store = RatingStore(sys.argv[1])
for i in range(10):
    store.upsert(RatingRecord(f"case{sys.argv[2]}_{i}", "left", likert=1 + i % 4, reader_id="r"))
"""


def test_four_concurrent_writers_lose_no_rating(tmp_path):
    procs = [subprocess.Popen([sys.executable, "-c", _WRITER, str(tmp_path), str(k)]) for k in range(4)]
    assert [p.wait(timeout=120) for p in procs] == [0, 0, 0, 0]
    store = RatingStore(tmp_path)
    assert len(store.load()) == 40
    assert len((tmp_path / "ratings.csv").read_text().splitlines()) == 41
    assert not list(tmp_path.glob("*.tmp*"))


def test_a_corrupt_ratings_json_is_kept_aside_and_the_ratings_recovered_from_the_csv(tmp_path):
    store = RatingStore(tmp_path)
    store.upsert(RatingRecord("case01", "left", likert=2))
    store.json_path.write_text('{"ratings": [{"case_id": "case01", ')  # a crash of some other tool
    records = store.load()
    assert [r.key for r in records] == [("case01", "left")]
    aside = list(tmp_path.glob("ratings.corrupt-*.json"))
    assert len(aside) == 1 and aside[0].read_text() == '{"ratings": [{"case_id": "case01", '
    assert "moved aside" in store.last_recovery
    store.upsert(RatingRecord("case01", "right", likert=1))  # saving is not blocked
    assert len(RatingStore(tmp_path).load()) == 2


def test_a_csv_left_behind_by_a_kill_is_brought_up_to_date_and_stale_temporaries_removed(tmp_path):
    store = RatingStore(tmp_path)
    store.upsert(RatingRecord("case01", "left", likert=2))
    old_csv = store.csv_path.read_text()
    store.upsert(RatingRecord("case02", "left", likert=3))
    store.csv_path.write_text(old_csv)  # as if killed between the JSON and the CSV write
    stale = tmp_path / ".ratings.json.0123456789ab.tmp.json"
    stale.write_text("half")
    assert len(store.load()) == 2
    assert "case02" in store.csv_path.read_text()
    store.upsert(RatingRecord("case03", "left", likert=1))
    assert not stale.exists()
