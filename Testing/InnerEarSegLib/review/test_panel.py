import pytest

from InnerEarSegLib.review.panel import STATUS_COLORS, ReviewPanelState
from InnerEarSegLib.review.ratings import RatingStore


def _assessment(side, likert=2, lost=("superior",)):
    return {"side": side, "likert": likert,
            "structures": {k: {"status": "incomplete" if k in lost else "present"}
                           for k in ("cochlea", "vestibule", "superior", "lateral", "posterior")}}


@pytest.fixture
def study(tmp_path):
    for i in range(3):
        (tmp_path / f"case{i:02d}.nii.gz").write_bytes(b"")
    (tmp_path / "case00_labels.nii.gz").write_bytes(b"")  # not a CT: skipped
    return tmp_path


def test_panel_shows_both_ears_by_five_structures_with_colours_and_the_suggestion(study):
    panel = ReviewPanelState(reader_id="JL")
    panel.open_case(study / "case00.nii.gz")
    panel.set_assessments([_assessment("right", 1, ()), _assessment("left", 2)])
    rows = panel.rows()
    assert len(rows) == 10
    sup_left = [r for r in rows if r.side == "left" and r.structure == "superior"][0]
    assert sup_left.auto_status == "incomplete" and sup_left.color == STATUS_COLORS["incomplete"]
    assert panel.suggested_score("left") == 2 and panel.suggested_score("right") == 1


def test_blinded_reader_sees_no_suggestion_and_no_status_but_both_are_saved(study):
    panel = ReviewPanelState(reader_id="JL", blinded=True)
    panel.open_case(study / "case00.nii.gz")
    panel.set_assessments([_assessment("left", 2)])
    assert panel.suggested_score("left") is None
    assert all(r.auto_status is None for r in panel.rows())
    with pytest.raises(ValueError, match="blinded"):
        panel.accept_suggestion("left")
    panel.set_score("left", 3)
    panel.save()
    rec = RatingStore.for_case(study / "case00.nii.gz").get("case00", "left")
    assert rec.likert == 3 and rec.suggested_likert == 2 and rec.blinded and rec.reader_id == "JL"


def test_reader_changes_make_the_panel_dirty_and_saving_clears_it_with_callbacks(study):
    events = []
    panel = ReviewPanelState()
    panel.changed.connect(events.append)
    panel.open_case(study / "case01.nii.gz")
    assert not panel.dirty
    panel.set_comment("right", "fine")
    panel.set_reader_status("right", "lateral", "missing")
    assert panel.dirty
    panel.save()
    assert not panel.dirty and events == ["case", "reader", "reader", "saved"]
    with pytest.raises(ValueError, match="score"):
        panel.set_score("right", 0)


def test_reopening_a_case_restores_its_ratings(study):
    panel = ReviewPanelState()
    panel.open_case(study / "case02.nii.gz")
    panel.set_assessments([_assessment("left", 2)])
    panel.set_score("left", 2)
    panel.set_comment("left", "SSCC top lost")
    panel.save()
    again = ReviewPanelState()
    again.open_case(study / "case02.nii.gz")
    assert again.scores["left"] == 2 and again.comments["left"] == "SSCC top lost"
    assert again.auto_status["left"]["superior"] == "incomplete" and again.suggested_score("left") == 2


def test_study_mode_walks_the_folder_autosaves_and_resumes_where_the_reader_stopped(study, tmp_path):
    state = tmp_path / "study_state.json"
    panel = ReviewPanelState(state_path=state, reader_id="VD")
    panel.open_study(study)
    assert panel.progress_text == "1 of 3" and panel.case_id == "case00"
    assert not panel.previous()
    panel.set_score("right", 1)
    assert panel.next() and panel.progress_text == "2 of 3"
    assert RatingStore.for_case(study / "case00.nii.gz").get("case00", "right").likert == 1  # autosaved
    assert panel.next() and not panel.next() and panel.progress_text == "3 of 3"
    panel.previous()
    resumed = ReviewPanelState.resume(state)
    assert resumed.progress_text == "2 of 3" and resumed.case_id == "case01" and resumed.reader_id == "VD"
