"""Render the InnerEarSeg module panel (``InnerEarSeg/Resources/UI/InnerEarSeg.ui``) offscreen to a PNG.

No Slicer is needed: the .ui is loaded with PySide6's ``QUiLoader`` and the CTK/qMRML classes it uses
are replaced by look-alike stand-ins (``QUiLoader.registerCustomWidget``). The panel is then filled
the way the module fills it after a run (a report.json from ``innerear-seg segment`` gives the
statuses and scores; without one, an illustrative state is shown), and grabbed.

Usage::

    pip install PySide6-Essentials      # only for this script
    QT_QPA_PLATFORM=offscreen python scripts/render_panel.py -o Resources/Screenshots/panel.png \
        [--report demo_output/report.json]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import Property, QFile, Qt  # noqa: E402
from PySide6.QtGui import QFont, QPalette, QColor  # noqa: E402
from PySide6.QtUiTools import QUiLoader  # noqa: E402
from PySide6.QtWidgets import (QApplication, QComboBox, QDoubleSpinBox, QFrame, QHBoxLayout,  # noqa: E402
                               QLineEdit, QSlider, QToolButton, QVBoxLayout, QWidget, QPushButton)

REPO = Path(__file__).resolve().parents[1]
UI_PATH = REPO / "InnerEarSeg" / "Resources" / "UI" / "InnerEarSeg.ui"
STATUS_COLORS = {"present": "#009E73", "incomplete": "#E69F00", "missing": "#D55E00", None: "#999999"}
STRUCTURES = ("cochlea", "vestibule", "superior", "lateral", "posterior")


# ------------------------------------------------------------------------------------------ stand-ins
class qMRMLWidget(QWidget):
    pass


class ctkCollapsibleButton(QFrame):
    """Header button with an arrow above a framed body, like CTK's collapsible button."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self._text, self._collapsed = "", False
        self.setObjectName("collapsible")
        self.setStyleSheet("ctkCollapsibleButton { border: 1px solid #b8b8b8; border-radius: 3px;"
                           " background: #fbfbfb; }")

    def getText(self):
        return self._text

    def setText(self, text):
        self._text = text

    def getCollapsed(self):
        return self._collapsed

    def setCollapsed(self, value):
        self._collapsed = bool(value)

    text = Property(str, getText, setText)
    collapsed = Property(bool, getCollapsed, setCollapsed)

    def finish(self):
        """After loading: move the loaded layout into a body under a header; hide the body if collapsed."""
        body = QWidget()
        if self.layout() is not None:
            body.setLayout(self.layout())  # re-parents the layout and its widgets to `body`
        outer = QVBoxLayout(self)
        outer.setContentsMargins(3, 3, 3, 3)
        outer.setSpacing(2)
        header = QPushButton(("▸  " if self._collapsed else "▾  ") + self._text)
        header.setStyleSheet("QPushButton { text-align: left; padding: 5px 8px; font-weight: bold;"
                             " background: qlineargradient(x1:0, y1:0, x2:0, y2:1, stop:0 #f7f7f7, stop:1 #dedede);"
                             " border: 1px solid #a9a9a9; border-radius: 3px; }")
        outer.addWidget(header)
        outer.addWidget(body)
        body.setVisible(not self._collapsed)


class qMRMLNodeComboBox(QComboBox):
    def __init__(self, parent=None):
        super().__init__(parent)
        self._props = {}

    def _get(name, default=None):
        return lambda self: self._props.get(name, default)

    def _set(name):
        def setter(self, value):
            self._props[name] = value
        return setter

    nodeTypes = Property("QStringList", _get("nodeTypes", []), _set("nodeTypes"))
    showChildNodeTypes = Property(bool, _get("showChildNodeTypes", True), _set("showChildNodeTypes"))
    noneEnabled = Property(bool, _get("noneEnabled", False), _set("noneEnabled"))
    addEnabled = Property(bool, _get("addEnabled", True), _set("addEnabled"))
    removeEnabled = Property(bool, _get("removeEnabled", True), _set("removeEnabled"))
    renameEnabled = Property(bool, _get("renameEnabled", False), _set("renameEnabled"))
    noneDisplay = Property(str, _get("noneDisplay", "None"), _set("noneDisplay"))


class ctkPathLineEdit(QWidget):
    def __init__(self, parent=None):
        super().__init__(parent)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.lineEdit = QLineEdit()
        button = QToolButton()
        button.setText("…")
        layout.addWidget(self.lineEdit)
        layout.addWidget(button)
        self._nameFilters = []

    def getNameFilters(self):
        return self._nameFilters

    def setNameFilters(self, value):
        self._nameFilters = value

    nameFilters = Property("QStringList", getNameFilters, setNameFilters)


class ctkSliderWidget(QWidget):
    def __init__(self, parent=None):
        super().__init__(parent)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.slider = QSlider(Qt.Horizontal)
        self.spin = QDoubleSpinBox()
        self.spin.setDecimals(1)
        layout.addWidget(self.slider, 1)
        layout.addWidget(self.spin)
        self._min, self._max, self._step, self._page = 0.0, 100.0, 1.0, 10.0

    def _sync(self):
        self.spin.setRange(self._min, self._max)
        self.spin.setSingleStep(self._step)
        self.slider.setRange(int(self._min * 10), int(self._max * 10))
        self.slider.setValue(int(round(self.spin.value() * 10)))

    def getMinimum(self):
        return self._min

    def setMinimum(self, v):
        self._min = v
        self._sync()

    def getMaximum(self):
        return self._max

    def setMaximum(self, v):
        self._max = v
        self._sync()

    def getValue(self):
        return self.spin.value()

    def setValue(self, v):
        self.spin.setValue(v)
        self._sync()

    def getSingleStep(self):
        return self._step

    def setSingleStep(self, v):
        self._step = v
        self._sync()

    def getPageStep(self):
        return self._page

    def setPageStep(self, v):
        self._page = v

    minimum = Property(float, getMinimum, setMinimum)
    maximum = Property(float, getMaximum, setMaximum)
    value = Property(float, getValue, setValue)
    singleStep = Property(float, getSingleStep, setSingleStep)
    pageStep = Property(float, getPageStep, setPageStep)


# ------------------------------------------------------------------------------------------- filling
ILLUSTRATIVE = {
    "device": "cpu", "timings_s": {"total": 14.2},
    "ears": [
        {"side": "right", "assessment": {"likert": 1, "structures": {k: {"status": "present"} for k in STRUCTURES}}},
        {"side": "left", "assessment": {"likert": 2, "structures": {
            **{k: {"status": "present"} for k in STRUCTURES}, "superior": {"status": "missing"},
            "posterior": {"status": "incomplete"}}}},
    ],
}


def fill(panel: QWidget, report: dict, volume_name: str) -> None:
    """Put the panel in the state the module shows after a finished run."""
    find = panel.findChild
    find(QComboBox, "inputVolumeSelector").addItem(volume_name)
    out = find(QComboBox, "outputSegmentationSelector")
    out.addItem(f"{volume_name} inner ear")
    apply = find(QPushButton, "applyButton")
    apply.setEnabled(True)
    apply.setStyleSheet("QPushButton { background: #2d7fc1; color: white; border-radius: 4px; }")
    bar = panel.findChild(QWidget, "progressBar")
    bar.setVisible(True)
    bar.setValue(100)
    bar.setFormat("done: %p%")
    total = float(report.get("timings_s", {}).get("total", sum(report.get("timings_s", {}).values()) or 0))
    ears = report.get("ears", [])
    panel.findChild(QWidget, "statusLabel").setText(  # the text InnerEarSegWidget._showResult writes
        f"Done in {total:.1f} s on {str(report.get('device', 'cpu')).upper()}: {len(ears)} ear(s) found, "
        f"{5 * len(ears)} segments.")
    panel.findChild(QLineEdit, "readerLineEdit").setText("JL")
    scores = {"right": 1, "left": 2}
    for ear in ears:
        side, assessment = ear["side"], ear.get("assessment") or {}
        for key in STRUCTURES:
            status = (assessment.get("structures", {}).get(key) or {}).get("status")
            button = find(QPushButton, f"{side}_{key}Button")
            button.setEnabled(True)
            button.setText(status or "—")
            button.setStyleSheet(f"QPushButton {{ background: {STATUS_COLORS.get(status, '#999999')}; color: white;"
                                 f" font-weight: bold; border-radius: 3px; padding: 3px; }}")
        find(QWidget, f"{side}SuggestedLabel").setText(f"<b>{assessment.get('likert', '–')}</b>")
        find(QComboBox, f"{side}ScoreComboBox").setCurrentIndex(int(assessment.get("likert") or scores[side]))
    find(QLineEdit, "leftCommentLineEdit").setText("superior canal not seen")
    find(QPushButton, "saveRatingsButton").setEnabled(True)
    panel.findChild(QWidget, "studyPathLineEdit").lineEdit.setText("/data/study_external")
    find(QWidget, "studyProgressLabel").setText("12 of 70")
    find(QPushButton, "previousCaseButton").setEnabled(True)
    find(QPushButton, "nextCaseButton").setEnabled(True)


def render(output: Path, report: dict, *, width: int = 440, volume_name: str = "InnerEarPhantom") -> Path:
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setStyle("Fusion")
    font = QFont("DejaVu Sans", 9)
    app.setFont(font)
    palette = app.palette()
    palette.setColor(QPalette.Window, QColor("#f3f3f3"))
    app.setPalette(palette)
    loader = QUiLoader()
    for cls in (qMRMLWidget, ctkCollapsibleButton, qMRMLNodeComboBox, ctkPathLineEdit, ctkSliderWidget):
        loader.registerCustomWidget(cls)
    ui_file = QFile(str(UI_PATH))
    if not ui_file.open(QFile.ReadOnly):
        raise SystemExit(f"cannot open {UI_PATH}")
    panel = loader.load(ui_file)
    ui_file.close()
    if panel is None:
        raise SystemExit(f"QUiLoader could not load {UI_PATH}: {loader.errorString()}")
    for button in panel.findChildren(ctkCollapsibleButton):
        button.finish()
    fill(panel, report, volume_name)
    panel.setAutoFillBackground(True)
    panel.resize(width, 100)
    panel.resize(width, panel.minimumSizeHint().height() + 8)
    panel.layout().activate()
    output.parent.mkdir(parents=True, exist_ok=True)
    if not panel.grab().save(str(output)):
        raise SystemExit(f"could not write {output}")
    return output


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", type=Path, default=REPO / "Resources" / "Screenshots" / "panel.png")
    parser.add_argument("--report", type=Path, help="report.json of a run (default: an illustrative state)")
    parser.add_argument("--width", type=int, default=440, help="panel width in pixels")
    args = parser.parse_args(argv)
    report = json.loads(args.report.read_text()) if args.report else ILLUSTRATIVE
    print(render(args.output, report, width=args.width))
    return 0


if __name__ == "__main__":
    sys.exit(main())
