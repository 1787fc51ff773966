"""InnerEarSeg: one-click segmentation of both inner ears in temporal-bone CT (3D Slicer module).

This file is the thin GUI shell: the module description, the widget (binds the .ui to a parameter
node, runs `InnerEarSegLogic` without blocking, shows progress and the review panel) and the
self-test. The MRML work is in ``InnerEarSegLogic.py`` (no Qt), the numerical work in the
``InnerEarSegLib`` package (no Slicer, no Qt), which runs in a separate ``PythonSlicer`` process.
"""
from __future__ import annotations

import json
import logging
import os
import pathlib
from typing import Annotated, Optional

import qt
import vtk

import slicer
from slicer import vtkMRMLScalarVolumeNode, vtkMRMLSegmentationNode
from slicer.i18n import tr as _
from slicer.i18n import translate
from slicer.parameterNodeWrapper import Choice, WithinRange, parameterNodeWrapper
from slicer.ScriptedLoadableModule import (ScriptedLoadableModule, ScriptedLoadableModuleTest,
                                           ScriptedLoadableModuleWidget)
from slicer.util import VTKObservationMixin

from InnerEarSegLogic import REPORT_ATTRIBUTE, InnerEarSegLogic, SegmentationParameters
from InnerEarSegLib.model.device import DEVICE_CHOICES
from InnerEarSegMRML.dependencies import DependencyError, ensureDependencies
from InnerEarSegMRML.paths import TERMINOLOGY_PATH, resourceFile, sampleDataPath, sampleDataSha256

SIDES = ("right", "left")
STRUCTURE_KEYS = ("cochlea", "vestibule", "superior", "lateral", "posterior")
STRUCTURE_NAMES = {"cochlea": "cochlea", "vestibule": "vestibule", "superior": "superior canal",
                   "lateral": "lateral canal", "posterior": "posterior canal"}


#
# Module
#
class InnerEarSeg(ScriptedLoadableModule):
    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = _("Inner Ear Segmentation")
        self.parent.categories = [translate("qSlicerAbstractCoreModule", "Segmentation")]
        self.parent.dependencies = []
        self.parent.contributors = ["InnerEarSeg contributors"]
        self.parent.helpText = _(
            "Segments the cochlea, vestibule and three semicircular canals of both ears in a temporal-bone CT "
            "with one click: both ears are found automatically, a bundled 3-D U-Net runs on the GPU when there "
            "is one (else the CPU), and the result becomes a segmentation with 3-D surfaces. The Review section "
            "suggests the completeness score (4-level Likert scale) per ear and stores the reader's rating.")
        self.parent.acknowledgementText = _(
            "The review scale and the post-processing follow Lim et al. (2024), a U-Net for inner-ear "
            "segmentation in temporal-bone CT. Uses 3D Slicer, PyTorch, SimpleITK and VTK.")
        slicer.app.connect("startupCompleted()", onStartupCompleted)


def onStartupCompleted():
    """Register the sample CT and load the terminology (nothing is installed or downloaded)."""
    try:
        registerSampleData()
    except Exception:  # noqa: BLE001 - a missing optional module must not break Slicer's start-up
        logging.exception("InnerEarSeg: could not register the sample data")
    try:
        loadTerminology()
    except Exception:  # noqa: BLE001
        logging.exception("InnerEarSeg: could not load the terminology")


def registerSampleData():
    """Register the bundled phantom CT with the Sample Data module (a local file, verified by SHA-256)."""
    import SampleData

    path, sha256 = sampleDataPath(), sampleDataSha256()
    if path is None or sha256 is None:
        logging.warning("InnerEarSeg: sample CT or its InnerEarPhantom.json not found; not registered with Sample Data")
        return
    icon = resourceFile("Icons", "InnerEarSeg.png") or (pathlib.Path(__file__).parent / "Resources" / "Icons"
                                                        / "InnerEarSeg.png")
    SampleData.SampleDataLogic.registerCustomSampleDataSource(
        category="Inner ear",
        sampleName="InnerEarPhantom",
        thumbnailFileName=str(icon),
        uris=path.as_uri(),  # a local file: SampleData copies it into its cache (urllib reads file:// URIs)
        fileNames=path.name,
        nodeNames="InnerEarPhantom",
        checksums=f"SHA256:{sampleDataSha256()}",
    )


def loadTerminology():
    """Make the InnerEarSeg terminology (project-local codes) available in the terminology selector."""
    logic = slicer.modules.terminologies.logic()
    if TERMINOLOGY_PATH.is_file():
        logic.LoadTerminologyFromFile(str(TERMINOLOGY_PATH))


#
# Parameter node
#
@parameterNodeWrapper
class InnerEarSegParameterNode:
    """Everything the panel edits; saved with the scene."""

    inputVolume: vtkMRMLScalarVolumeNode
    outputSegmentation: vtkMRMLSegmentationNode
    show3D: bool = True
    createModels: bool = False
    device: Annotated[str, Choice(list(DEVICE_CHOICES))] = "auto"
    gaussian: bool = True
    sigmaVoxels: Annotated[float, WithinRange(0.3, 6.0)] = 0.5  # the paper's 2.5 erases canals at 0.3 mm
    otsu: bool = True
    removeIslands: bool = True
    modelPath: str = ""  # empty: the bundled model (bound by hand: the Path connector shows "." for empty)

    def segmentationParameters(self) -> SegmentationParameters:
        return SegmentationParameters(modelPath=self.modelPath.strip() or None, gaussian=self.gaussian,
                                      sigmaVoxels=self.sigmaVoxels, otsu=self.otsu, removeIslands=self.removeIslands)


#
# Widget
#
class InnerEarSegWidget(ScriptedLoadableModuleWidget, VTKObservationMixin):
    def __init__(self, parent=None) -> None:
        ScriptedLoadableModuleWidget.__init__(self, parent)
        VTKObservationMixin.__init__(self)
        self.logic = None
        self._parameterNode = None
        self._parameterNodeGuiTag = None
        self._job = None
        self._dependenciesReady = False
        self._review = None
        self._updatingReview = False
        self._loadedCase = None
        self._studyNodes = []
        self._timer = qt.QTimer()
        self._timer.setInterval(200)
        self._timer.timeout.connect(self._onTimer)

    # ---- set-up ------------------------------------------------------------------------------------
    def setup(self) -> None:
        ScriptedLoadableModuleWidget.setup(self)
        uiWidget = slicer.util.loadUI(self.resourcePath("UI/InnerEarSeg.ui"))
        self.layout.addWidget(uiWidget)
        self.ui = slicer.util.childWidgetVariables(uiWidget)
        uiWidget.setMRMLScene(slicer.mrmlScene)

        self.logic = InnerEarSegLogic(temporaryRoot=slicer.app.temporaryPath)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.StartCloseEvent, self.onSceneStartClose)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.EndCloseEvent, self.onSceneEndClose)
        self.ui.applyButton.connect("clicked(bool)", self.onApplyButton)
        self.ui.modelPathLineEdit.connect("currentPathChanged(QString)", self._onModelPathChanged)
        self.ui.progressBar.setVisible(False)
        self._setupReview()
        self.initializeParameterNode()

    def cleanup(self) -> None:
        self._cancelJob()
        self.removeObservers()

    def enter(self) -> None:
        self.initializeParameterNode()

    def exit(self) -> None:
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            self._parameterNodeGuiTag = None
            self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._checkCanApply)

    def onSceneStartClose(self, caller, event) -> None:
        self._cancelJob()
        self.setParameterNode(None)

    def onSceneEndClose(self, caller, event) -> None:
        if self.parent.isEntered:
            self.initializeParameterNode()

    def initializeParameterNode(self) -> None:
        self.setParameterNode(self.getParameterNode())
        if not self._parameterNode.inputVolume:
            first = slicer.mrmlScene.GetFirstNodeByClass("vtkMRMLScalarVolumeNode")
            if first and not first.IsA("vtkMRMLLabelMapVolumeNode"):
                self._parameterNode.inputVolume = first

    def getParameterNode(self) -> InnerEarSegParameterNode:
        """The module's singleton parameter node (created on first use), wrapped."""
        node = slicer.mrmlScene.GetSingletonNode("InnerEarSeg", "vtkMRMLScriptedModuleNode")
        if node is None:
            node = slicer.vtkMRMLScriptedModuleNode()
            node.SetSingletonTag("InnerEarSeg")
            node.SetModuleName("InnerEarSeg")
            node.SetName(slicer.mrmlScene.GenerateUniqueName("InnerEarSeg"))
            slicer.mrmlScene.AddNode(node)
        return InnerEarSegParameterNode(node)

    def setParameterNode(self, inputParameterNode: Optional[InnerEarSegParameterNode]) -> None:
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._checkCanApply)
        self._parameterNode = inputParameterNode
        if self._parameterNode:
            self._parameterNodeGuiTag = self._parameterNode.connectGui(self.ui)
            self.addObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._checkCanApply)
            self._checkCanApply()

    def _onModelPathChanged(self, path: str) -> None:
        if self._parameterNode and self._parameterNode.modelPath != path:
            self._parameterNode.modelPath = path

    def _checkCanApply(self, caller=None, event=None) -> None:
        if self._parameterNode and self.ui.modelPathLineEdit.currentPath != self._parameterNode.modelPath:
            self.ui.modelPathLineEdit.currentPath = self._parameterNode.modelPath
        if self._job is not None:
            return
        ready = bool(self._parameterNode and self._parameterNode.inputVolume)
        self.ui.applyButton.enabled = ready
        self.ui.applyButton.text = _("Segment inner ear")
        self.ui.applyButton.toolTip = _("Segment both inner ears of the input CT.") if ready else \
            _("Select an input CT volume first.")
        self.ui.sigmaSliderWidget.enabled = bool(self._parameterNode and self._parameterNode.gaussian)

    # ---- running -----------------------------------------------------------------------------------
    def onApplyButton(self) -> None:
        if self._job is not None:
            self._cancelJob()
            self._setStatus(_("Cancelled; the scene is unchanged."))
            return
        if not self._dependenciesReady:
            try:
                ensureDependencies(pathlib.Path(self.resourcePath("requirements.txt")))
            except DependencyError as exc:
                slicer.util.errorDisplay(str(exc), windowTitle=_("InnerEarSeg: missing Python packages"))
                return
            self._dependenciesReady = True
        p = self._parameterNode
        try:
            with slicer.util.WaitCursor():
                self._job = self.logic.start(p.inputVolume, p.outputSegmentation, device=p.device,
                                             createModels=p.createModels, parameters=p.segmentationParameters(),
                                             progress=self._onProgress)
        except Exception as exc:  # noqa: BLE001 - InputError etc.: the message says what to do
            import traceback

            slicer.util.errorDisplay(_("The segmentation could not start:\n\n{error}").format(error=exc),
                                     windowTitle=_("InnerEarSeg"), detailedText=traceback.format_exc())
            return
        self._setRunning(True)
        self._timer.start()

    def _onProgress(self, stage: str, fraction: float, message: str) -> None:
        self.ui.progressBar.setValue(int(round(100 * max(0.0, min(1.0, fraction)))))
        self.ui.progressBar.setFormat(f"{stage}: %p%")
        self._setStatus(f"{message} ({self._job.elapsedS:.0f} s)" if self._job else message)

    def _onTimer(self) -> None:
        job = self._job
        if job is None:
            self._timer.stop()
            return
        try:
            if not job.poll():
                return
        except Exception as exc:  # noqa: BLE001 - a broken pipe etc. must not leave the GUI spinning
            self._timer.stop()
            self._job = None
            job.cancel()
            self._setRunning(False)
            slicer.util.errorDisplay(_("The segmentation process stopped unexpectedly: {error}").format(error=exc))
            return
        self._timer.stop()
        self._job = None
        try:
            with slicer.util.WaitCursor():
                segmentationNode = job.finish()
        except Exception as exc:  # noqa: BLE001 - shown to the user with the process's own message
            self._setRunning(False)
            self._setStatus(_("Failed: see the message."))
            slicer.util.errorDisplay(str(exc), windowTitle=_("InnerEarSeg: segmentation failed"),
                                     detailedText=job.handle.errorOutput()[-20000:])
            return
        self._setRunning(False)
        self._showResult(segmentationNode, job)

    def _cancelJob(self) -> None:
        self._timer.stop()
        if self._job is not None:
            job, self._job = self._job, None
            job.cancel()
        self._setRunning(False)

    def _setRunning(self, running: bool) -> None:
        self.ui.applyButton.text = _("Cancel") if running else _("Segment inner ear")
        self.ui.applyButton.toolTip = _("Stop the segmentation; nothing is added to the scene.") if running else ""
        self.ui.progressBar.setVisible(running or self.ui.progressBar.value > 0)
        for name in ("inputsCollapsibleButton", "outputsCollapsibleButton", "advancedCollapsibleButton"):
            getattr(self.ui, name).enabled = not running
        if running:
            self.ui.progressBar.setValue(0)
            self.ui.progressBar.setFormat(_("starting: %p%"))
            self._setStatus(_("Starting…"))
        else:
            self.ui.applyButton.enabled = True
            self._checkCanApply()

    def _setStatus(self, text: str) -> None:
        self.ui.statusLabel.text = text

    def _showResult(self, segmentationNode, job) -> None:
        report = job.report  # an InnerEarSegLib.report.SegmentationReport, read through the schema
        p = self._parameterNode
        p.outputSegmentation = segmentationNode
        if self._review is not None and self._review.cases:
            self._studyNodes.append(segmentationNode)
        ears = report.ears
        device = report.device.upper()
        self.ui.progressBar.setValue(100)
        self.ui.progressBar.setFormat(_("done: %p%"))
        self._setStatus(_("Done in {seconds:.1f} s on {device}: {ears} ear(s) found, {segments} segments.").format(
            seconds=job.elapsedS, device=device, ears=len(ears), segments=5 * len(ears)))
        displayNode = segmentationNode.GetDisplayNode()
        if displayNode:
            displayNode.SetVisibility3D(bool(p.show3D))
        slicer.util.setSliceViewerLayers(background=p.inputVolume, fit=False)
        if p.show3D:
            centerViewsOn(segmentationNode)
        self._startReview(p.inputVolume, report)

    # ---- review ------------------------------------------------------------------------------------
    def _setupReview(self) -> None:
        for side in SIDES:
            for key in STRUCTURE_KEYS:
                button = getattr(self.ui, f"{side}_{key}Button")
                button.connect("clicked()", lambda s=side, k=key: self._centerOnStructure(s, k))
            getattr(self.ui, f"{side}ScoreComboBox").connect(
                "currentIndexChanged(int)", lambda index, s=side: self._onScoreChanged(s, index))
            getattr(self.ui, f"{side}CommentLineEdit").connect(
                "editingFinished()", lambda s=side: self._onCommentChanged(s))
        self.ui.readerLineEdit.text = qt.QSettings().value("InnerEarSeg/reader", "")
        self.ui.readerLineEdit.connect("editingFinished()", self._onReaderChanged)
        self.ui.blindedCheckBox.connect("toggled(bool)", self._onBlindedToggled)
        self.ui.saveRatingsButton.connect("clicked()", self._saveRatings)
        self.ui.openStudyButton.connect("clicked()", self._openStudy)
        self.ui.previousCaseButton.connect("clicked()", lambda: self._review and self._review.previous())
        self.ui.nextCaseButton.connect("clicked()", lambda: self._review and self._review.next())

    def _reviewState(self):
        if self._review is None:
            from InnerEarSegLib.review import ReviewPanelState

            self._review = ReviewPanelState(reader_id=self.ui.readerLineEdit.text,
                                            blinded=self.ui.blindedCheckBox.checked)
            self._review.changed.connect(self._onReviewChanged)
        return self._review

    def _startReview(self, volumeNode, report) -> None:
        state = self._reviewState()
        state.model_version = report.model.version
        storage = volumeNode.GetStorageNode()
        casePath = state.case_path if state.cases else (storage.GetFileName() if storage else None)
        if not casePath:
            casePath = os.path.join(slicer.app.defaultScenePath, f"{volumeNode.GetName()}.nrrd")
        state.open_case(casePath)
        state.set_assessments([{**ear.assessment, "side": ear.side} for ear in report.ears if ear.assessment])

    def _onReviewChanged(self, event: str) -> None:
        state = self._review
        if event == "case" and state.cases and self._loadedCase != state.case_path:
            self._loadStudyCase(state.case_path)
        self._updatingReview = True
        try:
            for row in state.rows():
                button = getattr(self.ui, f"{row.side}_{row.structure}Button")
                button.text = row.auto_status or "—"
                button.enabled = state.case_path is not None
                button.setStyleSheet(f"QPushButton {{ background: {row.color}; color: white; font-weight: bold; }}")
            for side in SIDES:
                suggested = state.suggested_score(side)
                getattr(self.ui, f"{side}SuggestedLabel").text = str(suggested) if suggested else "–"
                getattr(self.ui, f"{side}ScoreComboBox").currentIndex = state.scores[side] or 0
                getattr(self.ui, f"{side}CommentLineEdit").text = state.comments[side]
            self.ui.saveRatingsButton.enabled = state.case_path is not None
            self.ui.studyProgressLabel.text = state.progress_text or _("no study open")
            self.ui.previousCaseButton.enabled = bool(state.cases) and state.index > 0
            self.ui.nextCaseButton.enabled = bool(state.cases) and state.index + 1 < len(state.cases)
        finally:
            self._updatingReview = False

    def _onScoreChanged(self, side: str, index: int) -> None:
        if not self._updatingReview and self._review and self._review.case_path:
            self._review.set_score(side, index or None)

    def _onCommentChanged(self, side: str) -> None:
        if not self._updatingReview and self._review and self._review.case_path:
            self._review.set_comment(side, getattr(self.ui, f"{side}CommentLineEdit").text)

    def _onReaderChanged(self) -> None:
        qt.QSettings().setValue("InnerEarSeg/reader", self.ui.readerLineEdit.text)
        if self._review:
            self._review.reader_id = self.ui.readerLineEdit.text

    def _onBlindedToggled(self, checked: bool) -> None:
        self._reviewState().blinded = checked

    def _saveRatings(self) -> None:
        with slicer.util.tryWithErrorDisplay(_("The ratings could not be saved."), waitCursor=True):
            state = self._reviewState()
            if not state.reader_id:
                raise ValueError(_("Enter your initials in 'Reader' before saving."))
            records = state.records()
            state.save()
            self.logic.updateRatingsTable(slicer.mrmlScene, records)
            self._setStatus(_("Ratings saved next to {case}.").format(case=os.path.basename(state.case_path)))

    def _openStudy(self) -> None:
        folder = self.ui.studyPathLineEdit.currentPath
        with slicer.util.tryWithErrorDisplay(_("The study could not be opened."), waitCursor=True):
            from InnerEarSegLib.review import ReviewPanelState

            if not folder or not os.path.isdir(folder):
                raise ValueError(_("Choose a folder of CT files first."))
            statePath = os.path.join(folder, ".innerear-seg-study.json")
            kwargs = {"reader_id": self.ui.readerLineEdit.text, "blinded": self.ui.blindedCheckBox.checked}
            if os.path.exists(statePath):
                self._review = ReviewPanelState.resume(statePath, **kwargs)  # where the reader stopped
                self._review.changed.connect(self._onReviewChanged)
                self._onReviewChanged("case")
            else:
                self._review = ReviewPanelState(state_path=statePath, **kwargs)
                self._review.changed.connect(self._onReviewChanged)
                self._review.open_study(folder)

    def _loadStudyCase(self, casePath: str) -> None:
        """Show a study case: load the CT and segment it (the ratings saved for it are restored)."""
        self._loadedCase = casePath
        self._cancelJob()
        for node in self._studyNodes:  # free the previous case (its ratings are saved)
            if slicer.mrmlScene.IsNodePresent(node):
                slicer.mrmlScene.RemoveNode(node)
        volume = slicer.util.loadVolume(casePath)
        self._studyNodes = [volume]
        self._parameterNode.inputVolume = volume
        self._parameterNode.outputSegmentation = None
        qt.QTimer.singleShot(0, self.onApplyButton)

    def _centerOnStructure(self, side: str, key: str) -> None:
        segmentationNode = self._parameterNode.outputSegmentation if self._parameterNode else None
        if segmentationNode is None:
            return
        name = f"{side.capitalize()} {STRUCTURE_NAMES[key]}"
        segmentId = segmentationNode.GetSegmentation().GetSegmentIdBySegmentName(name)
        if segmentId:
            centerViewsOn(segmentationNode, segmentId)


def centerViewsOn(segmentationNode, segmentId: str | None = None) -> None:
    """Centre the slice views and the first 3-D view on a segment (or the whole segmentation)."""
    if segmentId:
        center = segmentationNode.GetSegmentCenterRAS(segmentId)
        sizeMm = 15.0
    else:
        bounds = [0.0] * 6
        segmentationNode.GetRASBounds(bounds)
        center = [(bounds[2 * i] + bounds[2 * i + 1]) / 2 for i in range(3)]
        sizeMm = max(bounds[1] - bounds[0], bounds[3] - bounds[2], bounds[5] - bounds[4], 20.0)
    slicer.modules.markups.logic().JumpSlicesToLocation(center[0], center[1], center[2], True)
    layoutManager = slicer.app.layoutManager()
    if layoutManager is None or layoutManager.threeDViewCount == 0:
        return
    viewNode = layoutManager.threeDWidget(0).mrmlViewNode()
    camera = slicer.modules.cameras.logic().GetViewActiveCameraNode(viewNode)
    camera.SetFocalPoint(center)
    camera.SetPosition(center[0], center[1] + 2.5 * sizeMm, center[2] + 1.0 * sizeMm)  # from the front, above
    camera.SetViewUp(0, 0, 1)
    camera.ResetClippingRange()


#
# Self-test
#
class InnerEarSegTest(ScriptedLoadableModuleTest):
    """Segments the bundled phantom on the CPU and checks the segments (runs in Slicer's Reload & Test)."""

    def setUp(self):
        slicer.mrmlScene.Clear()

    def runTest(self):
        self.setUp()
        self.test_sample_is_segmented_into_ten_named_segments_on_the_cpu()

    def test_sample_is_segmented_into_ten_named_segments_on_the_cpu(self):
        self.delayDisplay("Loading the sample CT")
        path = sampleDataPath()
        self.assertIsNotNone(path, "the sample CT is not installed with the module")
        volume = slicer.util.loadVolume(str(path))
        ensureDependencies(pathlib.Path(__file__).parent / "Resources" / "requirements.txt")
        stages = []
        self.delayDisplay("Segmenting on the CPU")
        logic = InnerEarSegLogic(temporaryRoot=slicer.app.temporaryPath)
        segmentation = logic.process(volume, device="cpu", createModels=True,
                                     progress=lambda stage, fraction, message: stages.append(stage))
        self.assertIn("predict", stages)
        names = [segmentation.GetSegmentation().GetNthSegment(i).GetName()
                 for i in range(segmentation.GetSegmentation().GetNumberOfSegments())]
        expected = [f"{side} {STRUCTURE_NAMES[key]}" for side in ("Right", "Left") for key in STRUCTURE_KEYS]
        self.assertEqual(names, expected)
        report = json.loads(segmentation.GetAttribute(REPORT_ATTRIBUTE))
        self.assertEqual(len(report["ears"]), 2, "both ears of the phantom must be found")
        for name in expected:
            segmentId = segmentation.GetSegmentation().GetSegmentIdBySegmentName(name)
            array = slicer.util.arrayFromSegmentBinaryLabelmap(segmentation, segmentId, volume)
            self.assertGreater(int(array.sum()), 0, f"{name} is empty")
        models = slicer.mrmlScene.GetNodesByClass("vtkMRMLModelNode")
        modelNames = {models.GetItemAsObject(i).GetName() for i in range(models.GetNumberOfItems())}
        self.assertTrue(set(expected) <= modelNames, "one model node per structure was asked for")
        self.delayDisplay("Test passed")
