"""The module widget's Review section and parameter node, driven without Slicer's GUI.

``InnerEarSeg.py`` is imported with small stand-ins for Qt and for the Slicer GUI helpers that the
``slicer-core`` wheel does not have; the MRML scene, the review state (``InnerEarSegLib.review``) and
the ratings table are real. The widgets are plain objects with the attributes the widget code sets.
"""
from __future__ import annotations

import json
import sys
import types
from pathlib import Path

import pytest

slicer = pytest.importorskip("slicer", reason="needs the slicer-core wheel")

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "InnerEarSeg"))
STRUCTURES = ("cochlea", "vestibule", "superior", "lateral", "posterior")


class FakeWidget:
    """Any Qt widget: records the properties the widget code sets; connect() keeps the slot."""

    def __init__(self, **props):
        self.text, self.enabled, self.currentIndex, self.checked, self.toolTip = "", True, 0, False, ""
        self.currentPath, self.style, self.slots, self.visible, self.value = "", "", {}, True, 0
        self.__dict__.update(props)

    def connect(self, signal, slot):
        self.slots[signal] = slot

    def setStyleSheet(self, style):
        self.style = style

    def setVisible(self, visible):
        self.visible = visible

    def setValue(self, value):
        self.value = value

    def setFormat(self, text):
        self.format = text

    def appendPlainText(self, text):
        self.text += text + "\n"

    def clear(self):
        self.text = ""

    def setSegmentationNode(self, node):
        self.segmentationNode = node


class FakeUI:
    def __init__(self):
        names = ["readerLineEdit", "blindedCheckBox", "saveRatingsButton", "openStudyButton", "previousCaseButton",
                 "nextCaseButton", "studyProgressLabel", "studyPathLineEdit", "statusLabel", "progressBar",
                 "applyButton", "modelPathLineEdit", "sigmaSliderWidget", "customSigmaCheckBox", "show3DButton",
                 "ratingsFolderLineEdit", "logTextEdit", "modelInfoLabel", "dependenciesLabel"]
        for side in ("right", "left"):
            names += [f"{side}ScoreComboBox", f"{side}CommentLineEdit", f"{side}SuggestedLabel", f"{side}TrustLabel"]
        for name in names:
            setattr(self, name, FakeWidget())


def fake_gui_modules(monkeypatch, scene):
    """Stand-ins for qt, slicer.ScriptedLoadableModule, slicer.parameterNodeWrapper and slicer.i18n."""
    qt = types.ModuleType("qt")

    class QTimer:
        def __init__(self):
            self.timeout = types.SimpleNamespace(connect=lambda slot: None)

        def setInterval(self, ms):
            pass

        def start(self):
            pass

        def stop(self):
            pass

        @staticmethod
        def singleShot(ms, slot):
            pass

    class QSettings:
        store = {}

        def value(self, key, default=None):
            return self.store.get(key, default)

        def setValue(self, key, value):
            self.store[key] = value

    qt.QTimer, qt.QSettings, qt.Qt = QTimer, QSettings, types.SimpleNamespace(WaitCursor=0)
    qt.QApplication = types.SimpleNamespace(setOverrideCursor=lambda cursor: None, restoreOverrideCursor=lambda: None,
                                            processEvents=lambda: None)
    qt.QCursor = lambda shape: shape
    slm = types.ModuleType("slicer.ScriptedLoadableModule")

    class ScriptedLoadableModule:
        def __init__(self, parent):
            self.parent = parent

    class ScriptedLoadableModuleWidget:
        def __init__(self, parent=None):
            self.parent = parent

    slm.ScriptedLoadableModule, slm.ScriptedLoadableModuleWidget = ScriptedLoadableModule, ScriptedLoadableModuleWidget
    slm.ScriptedLoadableModuleTest = type("ScriptedLoadableModuleTest", (), {})
    pnw = types.ModuleType("slicer.parameterNodeWrapper")

    def parameterNodeWrapper(cls):  # fields with their defaults; enough for the code under test
        def __init__(self, node=None):
            for name in cls.__annotations__:
                setattr(self, name, getattr(cls, name, None))
        cls.__init__ = __init__
        return cls

    pnw.parameterNodeWrapper = parameterNodeWrapper
    pnw.Choice = lambda choices: ("Choice", tuple(choices))
    pnw.WithinRange = lambda low, high: ("WithinRange", low, high)
    i18n = types.ModuleType("slicer.i18n")
    i18n.tr, i18n.translate = (lambda text: text), (lambda context, text: text)
    app = types.SimpleNamespace(connect=lambda *a: None, setOverrideCursor=lambda c: None,
                                restoreOverrideCursor=lambda: None, testingEnabled=lambda: True,
                                processEvents=lambda: None,
                                defaultScenePath=str(Path.cwd()))
    for name, module in {"qt": qt, "slicer.ScriptedLoadableModule": slm, "slicer.parameterNodeWrapper": pnw,
                         "slicer.i18n": i18n}.items():
        monkeypatch.setitem(sys.modules, name, module)
    for name, value in {"ScriptedLoadableModule": slm, "parameterNodeWrapper": pnw, "i18n": i18n, "app": app,
                        "mrmlScene": scene}.items():
        monkeypatch.setattr(slicer, name, value, raising=False)
    monkeypatch.delitem(sys.modules, "InnerEarSeg", raising=False)


@pytest.fixture
def module(monkeypatch):
    scene = slicer.vtkMRMLScene()
    fake_gui_modules(monkeypatch, scene)
    import InnerEarSeg

    yield InnerEarSeg, scene
    sys.modules.pop("InnerEarSeg", None)


def report_with(left_superior="missing", left_trust=None):
    from InnerEarSegLib.report import SCHEMA_VERSION, SegmentationReport

    def ear(side, likert, superior, trust=None):
        return {"side": side, "centre_lps_mm": [0, 0, 0], "confidence": 1.0, "source": "auto",
                "box": {"centre_lps_mm": [0, 0, 0], "size_vox": 96, "spacing_mm": 0.3}, "structures": {},
                "labyrinth_volume_mm3": 0.0,
                "assessment": {"side": side, "likert": likert, "structures": {
                    key: {"status": superior if key == "superior" else "present"} for key in STRUCTURES}},
                "trust": trust}
    return SegmentationReport.from_dict({"schema_version": SCHEMA_VERSION, "case_id": "ct", "device": "cpu",
                                         "model": {"name": "m", "version": "1.0.0"},
                                         "ears": [ear("right", 1, "present"), ear("left", 2, left_superior, left_trust)]})


def make_widget(module, tmp_path):
    InnerEarSeg, scene = module
    widget = InnerEarSeg.InnerEarSegWidget()
    widget.ui = FakeUI()
    widget._statusButtons = {(side, key): FakeWidget() for side in ("right", "left") for key in STRUCTURES}
    widget._parameterNode = InnerEarSeg.InnerEarSegParameterNode()
    widget._parameterNode.ratingsFolder = str(tmp_path / "ratings")
    widget.logic = InnerEarSeg.InnerEarSegLogic(temporaryRoot=tmp_path)
    volume = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "case07")
    storage = scene.AddNewNodeByClass("vtkMRMLVolumeArchetypeStorageNode")
    storage.SetFileName(str(tmp_path / "case07.nrrd"))
    volume.SetAndObserveStorageNodeID(storage.GetID())
    return widget, volume, scene


def test_module_metadata_and_parameters_reach_the_logic(module):
    InnerEarSeg, _ = module
    parent = types.SimpleNamespace()
    InnerEarSeg.InnerEarSeg(parent)
    assert parent.title == "Inner Ear Segmentation" and parent.categories == ["Segmentation"]
    parameters = InnerEarSeg.InnerEarSegParameterNode()
    assert parameters.device == "auto" and parameters.show3D and not parameters.createModels
    cli = parameters.segmentationParameters()
    from InnerEarSegLib.options import DEFAULT_POSTPROCESS

    # the panel passes no sigma unless asked: the model's own default (today the library's) is used
    assert cli.modelPath is None and cli.gaussian and cli.sigmaVoxels is None
    assert "--sigma" not in cli.cliArguments() and DEFAULT_POSTPROCESS.sigma_vox == 0.5
    parameters.customSigma, parameters.sigmaVoxels = True, 1.5
    assert parameters.segmentationParameters().cliArguments()[:2] == ["--sigma", "1.5"]
    parameters.gaussian = False
    assert parameters.segmentationParameters().sigmaVoxels is None


def test_after_a_run_the_review_shows_each_structure_status_and_the_suggested_scores(module, tmp_path):
    widget, volume, _ = make_widget(module, tmp_path)
    widget._startReview(volume, report_with())
    ui, buttons = widget.ui, widget._statusButtons
    assert buttons["left", "superior"].text == "missing" and "#D55E00" in buttons["left", "superior"].style
    assert buttons["right", "cochlea"].text == "present" and buttons["right", "cochlea"].enabled
    assert (ui.rightSuggestedLabel.text, ui.leftSuggestedLabel.text) == ("1", "2")
    assert ui.saveRatingsButton.enabled and ui.studyProgressLabel.text == "no study open"


def test_blinded_reading_hides_statuses_and_suggestions(module, tmp_path):
    widget, volume, _ = make_widget(module, tmp_path)
    widget._startReview(volume, report_with())
    widget._onBlindedToggled(True)
    assert widget._statusButtons["left", "superior"].text == "—" and widget.ui.leftSuggestedLabel.text == "–"


@pytest.mark.parametrize("loaded_from_file", [True, False], ids=["file", "dicom"])
def test_saved_ratings_go_to_the_chosen_folder_and_into_a_scene_table(module, tmp_path, loaded_from_file):
    widget, volume, scene = make_widget(module, tmp_path)
    if not loaded_from_file:  # a DICOM-loaded volume has no file of its own
        volume.SetAndObserveStorageNodeID(None)
    widget._startReview(volume, report_with())
    widget.ui.readerLineEdit.text = "JL"
    widget._onReaderChanged()
    widget._onScoreChanged("left", 2)
    widget.ui.leftCommentLineEdit.text = "superior canal not seen"
    widget._onCommentChanged("left")
    widget._saveRatings()
    chosen = tmp_path / "ratings"
    saved = json.loads((chosen / "case07_ratings.json").read_text())["ratings"]
    left = next(r for r in saved if r["side"] == "left")
    assert (left["likert"], left["suggested_likert"], left["reader_id"]) == (2, 2, "JL")
    assert left["comment"] == "superior canal not seen" and left["model_version"] == "1.0.0"
    assert (chosen / "case07_ratings.csv").exists()
    assert not (tmp_path / "case07_ratings.json").exists()  # not beside the CT
    tables = scene.GetNodesByClass("vtkMRMLTableNode")
    assert tables.GetNumberOfItems() == 1 and tables.GetItemAsObject(0).GetTable().GetNumberOfRows() == 2
    assert "Ratings saved in" in widget.ui.statusLabel.text and str(chosen) in widget.ui.statusLabel.text


def test_without_a_ratings_folder_nothing_is_written_and_the_reader_is_told_what_to_choose(module, tmp_path):
    from InnerEarSegMRML.ratingsLocation import RatingsFolderError

    widget, volume, _ = make_widget(module, tmp_path)
    widget._parameterNode.ratingsFolder = ""
    widget._startReview(volume, report_with())
    widget._review.reader_id = "JL"
    with pytest.raises(RatingsFolderError, match="Ratings folder"):
        widget._review.save()
    assert list(tmp_path.rglob("*_ratings.*")) == []


def test_an_ear_without_a_trust_flag_reads_not_assessed_and_a_doubtful_one_is_never_shown_as_normal(module, tmp_path):
    widget, volume, _ = make_widget(module, tmp_path)
    report = report_with(left_trust={"flag": "doubtful", "reasons": ["cochlea volume 3x the expected"]})
    widget._startReview(volume, report)
    assert "not assessed" in widget.ui.rightTrustLabel.text
    assert "doubtful" in widget.ui.leftTrustLabel.text and "cochlea volume" in widget.ui.leftTrustLabel.text
    assert "#E69F00" in widget.ui.leftTrustLabel.text
    InnerEarSeg, _ = module
    summary = InnerEarSeg.resultSummary(report, 3.0, "CPU", 10)
    assert "left ear doubtful" in summary and "right ear not assessed" in summary


def test_a_study_walks_a_folder_and_loads_each_case(module, tmp_path):
    widget, _, _ = make_widget(module, tmp_path)
    for name in ("a.nrrd", "b.nrrd"):
        (tmp_path / name).write_bytes(b"")
    loaded = []
    widget._loadStudyCase = lambda path: (loaded.append(Path(path).name), setattr(widget, "_loadedCase", path))
    widget.ui.studyPathLineEdit.currentPath = str(tmp_path)
    widget._openStudy()
    assert loaded == ["a.nrrd"] and widget.ui.studyProgressLabel.text == "1 of 2"
    assert widget.ui.nextCaseButton.enabled and not widget.ui.previousCaseButton.enabled
    widget._review.next()
    assert loaded == ["a.nrrd", "b.nrrd"] and widget.ui.studyProgressLabel.text == "2 of 2"
    assert (tmp_path / ".innerear-seg-study.json").exists()  # where to resume


def test_a_run_writes_its_progress_and_the_process_messages_into_the_log_box(module, tmp_path, monkeypatch):
    import importlib.util

    spec = importlib.util.spec_from_file_location("logic_helpers", Path(__file__).with_name("test_logic.py"))
    helpers = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(helpers)
    helpers.ensureConverterRules()
    InnerEarSeg, scene = module
    widget, _, _ = make_widget(module, tmp_path)
    volume = helpers.add_volume_node(scene, helpers.small_ct())
    runner = helpers.FakeRunner()
    widget.logic = InnerEarSeg.InnerEarSegLogic(processRunner=runner, pythonExecutable="python", temporaryRoot=tmp_path)
    widget._parameterNode.inputVolume, widget._dependenciesReady = volume, True
    widget.ui.inputsCollapsibleButton = widget.ui.outputsCollapsibleButton = FakeWidget()
    widget.ui.advancedCollapsibleButton = FakeWidget()
    monkeypatch.setattr(InnerEarSeg, "centerViewsOn", lambda *a: None)
    monkeypatch.setattr(slicer.util, "setSliceViewerLayers", lambda **k: None, raising=False)
    widget.onApplyButton()
    runner.handles[0].pending.insert(1, "WARNING: spacing is coarse")  # a line that is not progress
    while widget._job is not None:
        widget._onTimer()
    log = widget.ui.logTextEdit.text
    assert "read: read" in log and "locate: locate" in log and "WARNING: spacing is coarse" in log
    assert widget._parameterNode.outputSegmentation is not None and "Done in" in widget.ui.statusLabel.text
