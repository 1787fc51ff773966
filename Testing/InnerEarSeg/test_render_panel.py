"""scripts/render_panel.py still renders the current .ui (skipped where PySide6 is not installed)."""
from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

pytest.importorskip("PySide6.QtUiTools", reason="the panel render needs PySide6 (pip install PySide6-Essentials)")
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

REPO = Path(__file__).resolve().parents[2]


def test_the_panel_renders_a_runs_report_with_every_structure_row_and_the_trust_flags(tmp_path):
    spec = importlib.util.spec_from_file_location("render_panel", REPO / "scripts" / "render_panel.py")
    render_panel = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(render_panel)
    report = {"device": "cpu", "timings_s": {"total": 4.0}, "ears": [
        {"side": "right", "assessment": {"likert": 1, "structures": {"cochlea": {"status": "present"}}}},
        {"side": "left", "trust": {"flag": "doubtful", "reasons": ["small cochlea"]}, "assessment": {"likert": 2}}]}
    log = render_panel.progress_log(['{"stage": "read", "message": "reading"}', "a warning"])
    assert log == ["read: reading", "a warning"]
    from PySide6.QtWidgets import QGridLayout, QLabel, QPlainTextEdit

    from InnerEarSegLib.labels import STRUCTURES

    panel = render_panel.render(tmp_path / "panel.png", report, log)
    assert (tmp_path / "panel.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    grid = panel.findChild(QGridLayout, "reviewGridLayout")
    names = {grid.itemAtPosition(row, 0).widget().text() for row in range(1, len(STRUCTURES) + 1)}
    assert names == {s.display_name.capitalize() for s in STRUCTURES}
    assert "not assessed" in panel.findChild(QLabel, "rightTrustLabel").text()
    assert "doubtful" in panel.findChild(QLabel, "leftTrustLabel").text()
    assert panel.findChild(QPlainTextEdit, "logTextEdit").toPlainText() == "read: reading\na warning"
    assert "Trust flag" in panel.findChild(QLabel, "modelInfoLabel").text()
