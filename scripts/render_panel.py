"""Render the InnerEarSeg module panel (``InnerEarSeg/Resources/UI/InnerEarSeg.ui``) offscreen to a PNG.

No Slicer is needed: the .ui is loaded with PySide6's ``QUiLoader`` and the CTK/qMRML classes it uses
are replaced by look-alike stand-ins (``QUiLoader.registerCustomWidget``). The panel is then filled the
way the module fills it after a run, from that run's own files: ``report.json`` of ``innerear-seg
segment`` (statuses, suggested scores, trust flags, device, time) and its ``--progress json`` lines (the
log box); the structure rows come from ``InnerEarSegLib.labels``, the Model section from the model
manifest and the Dependencies section from the packages installed where this script runs. Nothing a
reader would type (initials, scores, comments) is filled in.

Usage::

    pip install PySide6-Essentials      # only for this script
    innerear-seg segment Resources/SampleData/InnerEarPhantom_ct.nrrd -o run --device cpu \
        --progress json --no-meshes > run.jsonl
    QT_QPA_PLATFORM=offscreen python scripts/render_panel.py --run run --progress-log run.jsonl \
        -o Resources/Screenshots/panel.png
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
from PySide6.QtWidgets import (QApplication, QComboBox, QDoubleSpinBox, QFrame, QGridLayout,  # noqa: E402
                               QHBoxLayout, QLabel, QLineEdit, QPlainTextEdit, QPushButton, QSlider,
                               QToolButton, QVBoxLayout, QWidget)

REPO = Path(__file__).resolve().parents[1]
UI_PATH = REPO / "InnerEarSeg" / "Resources" / "UI" / "InnerEarSeg.ui"
sys.path[:0] = [str(REPO), str(REPO / "InnerEarSeg")]

from InnerEarSegLib.labels import SIDES, STRUCTURES  # noqa: E402
from InnerEarSegLib.review.panel import STATUS_COLORS  # noqa: E402
from InnerEarSegMRML.dependencies import packageStatuses  # noqa: E402
from InnerEarSegMRML.modelInfo import modelInformation, resultSummary, trustOfEar  # noqa: E402

REQUIREMENTS = REPO / "InnerEarSeg" / "Resources" / "requirements.txt"


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


class qMRMLSegmentationShow3DButton(QPushButton):
    """Slicer's checkable "Show 3D" button of a segmentation."""

    def __init__(self, parent=None):
        super().__init__("Show 3D", parent)
        self.setCheckable(True)


# ------------------------------------------------------------------------------------------- filling
def progress_log(lines: list[str]) -> list[str]:
    """The log box's lines for a run's ``--progress json`` output (what InnerEarSegWidget._onProgress writes)."""
    out = []
    for line in lines:
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            event = None
        out.append(f"{event['stage']}: {event.get('message', '')}" if isinstance(event, dict) and "stage" in event
                   else line)
    return out


def fill(panel: QWidget, report: dict, log: list[str], volume_name: str) -> None:
    """Put the panel in the state the module shows after the run that wrote `report`."""
    find = panel.findChild
    find(QComboBox, "inputVolumeSelector").addItem(volume_name)
    find(QComboBox, "outputSegmentationSelector").addItem(f"{volume_name} inner ear")
    show3d = find(QPushButton, "show3DButton")
    show3d.setChecked(True)
    find(QPushButton, "applyButton").setEnabled(True)
    bar = panel.findChild(QWidget, "progressBar")
    bar.setVisible(True)
    bar.setValue(100)
    bar.setFormat("done: %p%")
    timings = report.get("timings_s", {})
    total = float(timings.get("total", sum(timings.values()) or 0))
    ears = report.get("ears", [])
    from InnerEarSegLib.report import SegmentationReport

    panel.findChild(QWidget, "statusLabel").setText(resultSummary(SegmentationReport.from_dict(report), total,
                                                                  str(report["device"]).upper(),
                                                                  len(ears) * len(STRUCTURES)))
    panel.findChild(QPlainTextEdit, "logTextEdit").setPlainText("\n".join(log))
    find(QLabel, "modelInfoLabel").setText(modelInformation(None))
    find(QLabel, "dependenciesLabel").setText("\n".join(s.describe() for s in packageStatuses(REQUIREMENTS)))
    grid = panel.findChild(QGridLayout, "reviewGridLayout")
    by_side = {ear.get("side"): ear for ear in ears}
    for row, structure in enumerate(STRUCTURES, start=1):  # as InnerEarSegWidget._buildStructureRows
        grid.addWidget(QLabel(structure.display_name.capitalize()), row, 0)
        for column, side in enumerate(SIDES, start=1):
            assessment = (by_side.get(side.value) or {}).get("assessment") or {}
            status = (assessment.get("structures", {}).get(structure.key) or {}).get("status")
            button = QPushButton(status or "—")
            button.setStyleSheet(f"QPushButton {{ background: {STATUS_COLORS.get(status, '#999999')}; color: white; }}")
            grid.addWidget(button, row, column)
    for side in SIDES:
        ear = by_side.get(side.value) or {}
        likert = (ear.get("assessment") or {}).get("likert")
        find(QLabel, f"{side.value}SuggestedLabel").setText(str(likert) if likert else "–")
        trust = trustOfEar(ear)  # as InnerEarSegWidget.showTrustFlag
        reasons = "; ".join(trust.reasons)
        find(QLabel, f"{side.value}TrustLabel").setText(
            f"<b style='color:{trust.colour}'>{trust.level}</b>" + (f"<br>{reasons}" if reasons else ""))


def load_panel() -> QWidget:
    """The .ui loaded with the stand-ins (a QApplication is made if there is none)."""
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setStyle("Fusion")
    app.setFont(QFont("DejaVu Sans", 9))
    palette = app.palette()
    palette.setColor(QPalette.Window, QColor("#f3f3f3"))
    app.setPalette(palette)
    loader = QUiLoader()
    for cls in (qMRMLWidget, ctkCollapsibleButton, qMRMLNodeComboBox, ctkPathLineEdit, ctkSliderWidget,
                qMRMLSegmentationShow3DButton):
        loader.registerCustomWidget(cls)
    ui_file = QFile(str(UI_PATH))
    if not ui_file.open(QFile.ReadOnly):
        raise SystemExit(f"cannot open {UI_PATH}")
    panel = loader.load(ui_file)
    ui_file.close()
    if panel is None:
        raise SystemExit(f"QUiLoader could not load {UI_PATH}: {loader.errorString()}")
    return panel


def render(output: Path, report: dict, log: list[str], *, width: int = 460, volume_name: str = "InnerEarPhantom",
           expand: tuple[str, ...] = ("modelCollapsibleButton", "dependenciesCollapsibleButton")) -> QWidget:
    """Fill the panel from a run, grab it into `output` (PNG) and return the panel."""
    panel = load_panel()
    fill(panel, report, log, volume_name)
    for button in panel.findChildren(ctkCollapsibleButton):
        if button.objectName() in expand:
            button.setCollapsed(False)
        button.finish()
    panel.setAutoFillBackground(True)
    panel.resize(width, 100)
    panel.layout().activate()
    panel.resize(width, max(panel.sizeHint().height(), panel.minimumSizeHint().height()) + 8)
    panel.layout().activate()
    output.parent.mkdir(parents=True, exist_ok=True)
    if not panel.grab().save(str(output)):
        raise SystemExit(f"could not write {output}")
    return panel


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", type=Path, default=REPO / "Resources" / "Screenshots" / "panel.png")
    parser.add_argument("--run", type=Path, required=True, help="output folder of innerear-seg segment (report.json)")
    parser.add_argument("--progress-log", type=Path, help="that run's --progress json standard output")
    parser.add_argument("--width", type=int, default=460, help="panel width in pixels")
    args = parser.parse_args(argv)
    report_path = args.run / "report.json"
    if not report_path.is_file():
        parser.error(f"{report_path} not found: run innerear-seg segment first (see --help)")
    report = json.loads(report_path.read_text(encoding="utf-8"))
    log = progress_log(args.progress_log.read_text(encoding="utf-8").splitlines()) if args.progress_log else []
    render(args.output, report, log, width=args.width)
    print(args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
