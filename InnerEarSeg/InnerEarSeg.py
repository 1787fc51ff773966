"""InnerEarSeg: one-click segmentation of both inner ears in temporal-bone CT (3D Slicer module).

This file is the thin GUI shell: the module description, the widget (binds the .ui to a parameter
node, runs `InnerEarSegLogic` without blocking, shows progress and the review panel) and the
self-test. The MRML work is in ``InnerEarSegLogic.py`` (no Qt), the numerical work in the
``InnerEarSegLib`` package (no Slicer, no Qt), which runs in a separate ``PythonSlicer`` process.
"""
from __future__ import annotations

import logging
import os
import pathlib
from typing import Annotated, Optional

import qt
import vtk

import slicer
from slicer import vtkMRMLMarkupsFiducialNode, vtkMRMLScalarVolumeNode, vtkMRMLSegmentationNode
from slicer.i18n import tr as _
from slicer.i18n import translate
from slicer.parameterNodeWrapper import Choice, WithinRange, parameterNodeWrapper
from slicer.ScriptedLoadableModule import (ScriptedLoadableModule, ScriptedLoadableModuleTest,
                                           ScriptedLoadableModuleWidget)
from slicer.util import VTKObservationMixin

from InnerEarSegLogic import (REPORT_ATTRIBUTE, EarPointsNeeded, InnerEarSegLogic, SegmentationParameters,
                              defaultPythonExecutable)
from InnerEarSegLib.labels import SIDES as LIBRARY_SIDES
from InnerEarSegLib.labels import STRUCTURES as LIBRARY_STRUCTURES
from InnerEarSegLib.model.device import DEVICE_CHOICES
from InnerEarSegLib.options import DEFAULT_SIGMA_VOX
from InnerEarSegMRML.earPoints import earPointsFromMarkups
from InnerEarSegMRML.dependencies import (DependencyError, dependenciesReady, ensureDependencies, ensureTorch,
                                          missingRequirements, packageStatuses, pipInstallArguments,
                                          reinstallableRequirements)
from InnerEarSegMRML.models import modelNodesOf
from InnerEarSegMRML.modelInfo import modelInformation, resultSummary, trustOfEar
from InnerEarSegMRML.paths import TERMINOLOGY_PATH, resourceFile, sampleDataPath, sampleDataSha256
from InnerEarSegMRML.process import SubprocessRunner
from InnerEarSegMRML.ratingsLocation import caseReference, ratingsStoreFactory

# From the structure catalogue (InnerEarSegLib.labels): the panel never restates names or counts.
SIDES = tuple(side.value for side in LIBRARY_SIDES)
STRUCTURE_KEYS = tuple(structure.key for structure in LIBRARY_STRUCTURES)
STRUCTURE_NAMES = {structure.key: structure.display_name for structure in LIBRARY_STRUCTURES}
REQUIREMENTS_PATH = pathlib.Path(__file__).parent / "Resources" / "requirements.txt"


#
# Module
#
class InnerEarSeg(ScriptedLoadableModule):
    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = _("Inner Ear Segmentation")
        self.parent.categories = [translate("qSlicerAbstractCoreModule", "Segmentation")]
        self.parent.dependencies = []
        self.parent.contributors = ["The InnerEarSeg developers"]
        self.parent.helpText = _(
            "Segments the cochlea, vestibule and three semicircular canals of both ears in a temporal-bone CT "
            "with one click: both ears are found automatically, a bundled 3-D U-Net runs on the GPU when there "
            "is one (else the CPU), and the result becomes a segmentation with 3-D surfaces. The bundled model "
            "was trained on synthetic phantoms only: review every result (see the Model section and the trust "
            "flag). The Review section suggests the completeness score (4-level Likert scale) per ear and stores "
            "the reader's rating in the folder you choose.")
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
    earPoints: vtkMRMLMarkupsFiducialNode  # none: automatic search; else a point on each ear
    outputSegmentation: vtkMRMLSegmentationNode
    show3D: bool = True  # bound by hand to the Show 3D button (a qMRMLSegmentationShow3DButton)
    createModels: bool = False
    device: Annotated[str, Choice(list(DEVICE_CHOICES))] = "auto"
    gaussian: bool = True
    customSigma: bool = False  # off: the model's own sigma (its manifest / the library's default)
    sigmaVoxels: Annotated[float, WithinRange(0.3, 6.0)] = DEFAULT_SIGMA_VOX  # used only with customSigma
    otsu: bool = True
    removeIslands: bool = True
    modelPath: str = ""  # empty: the bundled model (bound by hand: the Path connector shows "." for empty)
    ratingsFolder: str = ""  # where ratings are saved (bound by hand, like modelPath)
    allowThickSlices: bool = False

    def segmentationParameters(self) -> SegmentationParameters:
        sigma = self.sigmaVoxels if (self.gaussian and self.customSigma) else None  # None: the model's default
        return SegmentationParameters(modelPath=self.modelPath.strip() or None, gaussian=self.gaussian,
                                      sigmaVoxels=sigma, otsu=self.otsu, removeIslands=self.removeIslands,
                                      earPoints=earPointsFromMarkups(self.earPoints),
                                      allowThickSlices=self.allowThickSlices)


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
        self._loggedLines = 0
        self._pipHandle = None
        self._dependenciesReady = False
        self._review = None
        self._updatingReview = False
        self._loadedCase = None
        self._studyNodes = []
        self._statusButtons = {}  # (side, structure key) -> QPushButton, made from the structure catalogue
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
        self.ui.loadSampleButton.connect("clicked()", self._loadSample)
        self.ui.modelPathLineEdit.connect("currentPathChanged(QString)", self._onModelPathChanged)
        self.ui.ratingsFolderLineEdit.connect("currentPathChanged(QString)", self._onRatingsFolderChanged)
        self.ui.show3DButton.connect("toggled(bool)", self._onShow3DToggled)
        self.ui.checkDependenciesButton.connect("clicked()", self._showDependencies)
        self.ui.installDependenciesButton.connect("clicked()", lambda: self._installDependencies())
        self.ui.forceReinstallButton.connect("clicked()", self._forceReinstall)
        self.ui.progressBar.setVisible(False)
        self._buildStructureRows(slicer.util.findChild(uiWidget, "reviewGridLayout"))
        self._setupReview()
        self.initializeParameterNode()
        self._showModelInformation()

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
        if not self._parameterNode.ratingsFolder:
            self._parameterNode.ratingsFolder = str(qt.QSettings().value("InnerEarSeg/ratingsFolder", "") or "")
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
            self._showModelInformation()

    def _onRatingsFolderChanged(self, path: str) -> None:
        if self._parameterNode and self._parameterNode.ratingsFolder != path:
            self._parameterNode.ratingsFolder = path
            qt.QSettings().setValue("InnerEarSeg/ratingsFolder", path)

    def _onShow3DToggled(self, checked: bool) -> None:
        if self._parameterNode and self._parameterNode.outputSegmentation and self._parameterNode.show3D != checked:
            self._parameterNode.show3D = checked  # the reader's choice for the next result too

    def _checkCanApply(self, caller=None, event=None) -> None:
        p = self._parameterNode
        for widget, value in ((self.ui.modelPathLineEdit, p.modelPath if p else ""),
                              (self.ui.ratingsFolderLineEdit, p.ratingsFolder if p else "")):
            if widget.currentPath != value:
                widget.currentPath = value
        self.ui.show3DButton.setSegmentationNode(p.outputSegmentation if p else None)
        if self._job is not None:
            return
        ready = bool(p and p.inputVolume)
        self.ui.applyButton.enabled = ready
        self.ui.applyButton.text = _("Segment inner ear")
        self.ui.applyButton.toolTip = _("Segment both inner ears of the input CT.") if ready else \
            _("Select an input CT volume first.")
        self.ui.customSigmaCheckBox.enabled = bool(p and p.gaussian)
        self.ui.sigmaSliderWidget.enabled = bool(p and p.gaussian and p.customSigma)

    # ---- model, sample data, dependencies ----------------------------------------------------------
    def _showModelInformation(self) -> None:
        self.ui.modelInfoLabel.text = modelInformation(self._parameterNode.modelPath if self._parameterNode else None)

    def _loadSample(self) -> None:
        with slicer.util.tryWithErrorDisplay(_("The sample CT could not be loaded."), waitCursor=True):
            import SampleData

            logic = SampleData.SampleDataLogic()
            volume = logic.downloadSample("InnerEarPhantom") if logic.sourceForSampleName("InnerEarPhantom") else None
            if volume is None:  # not registered (module loaded after start-up): the shipped file itself
                path = sampleDataPath()
                if path is None:
                    raise ValueError(_("The sample CT is not installed with the module."))
                volume = slicer.util.loadVolume(str(path))
            self._parameterNode.inputVolume = volume

    def _showDependencies(self) -> None:
        statuses = packageStatuses(REQUIREMENTS_PATH)
        self.ui.dependenciesLabel.text = "\n".join(status.describe() for status in statuses)
        self._dependenciesReady = all(status.satisfied for status in statuses)

    def _installDependencies(self) -> bool:
        """torch, then the missing packages; False when something is still missing (or being installed).

        Slicer >= 5.11: ``pip_ensure`` (its own prompt and progress). Older Slicer: one confirmation, then pip
        runs as a separate process whose output goes to the log box, so Slicer stays responsive.
        """
        try:
            if hasattr(getattr(slicer, "packaging", None), "pip_ensure"):
                ensureDependencies(REQUIREMENTS_PATH)
                return True
            ensureTorch()
            missing = missingRequirements(REQUIREMENTS_PATH)
            if not missing:
                return True
            if not slicer.util.confirmOkCancelDisplay(
                    _("InnerEarSeg needs these Python packages, which will be downloaded and installed now:\n\n"
                      "{packages}\n\nSlicer's own packages are not changed.").format(packages="\n".join(missing)),
                    windowTitle=_("Install Python packages")):
                raise DependencyError(_("Installation declined: {packages} are needed to segment.").format(
                    packages=", ".join(missing)))
            self._startPip(missing, force=False)
            self._setStatus(_("Installing Python packages (see the log); click 'Segment inner ear' when done."))
            return False
        except DependencyError as exc:
            slicer.util.errorDisplay(str(exc), windowTitle=_("InnerEarSeg: missing Python packages"))
            return False
        finally:
            self._showDependencies()
        return True

    def _forceReinstall(self) -> None:
        requirements = reinstallableRequirements(REQUIREMENTS_PATH)
        if self._pipHandle is not None or not slicer.util.confirmOkCancelDisplay(
                _("Reinstall these Python packages now (downloads them)?\n\n{packages}\n\ntorch, SimpleITK, numpy and "
                  "vtk are not touched. Restart Slicer afterwards.").format(packages="\n".join(requirements)),
                windowTitle=_("InnerEarSeg: force reinstall")):
            return
        self._startPip(requirements, force=True)

    def _startPip(self, requirements: list[str], *, force: bool) -> None:
        command = [defaultPythonExecutable(), *pipInstallArguments(requirements, force=force)]
        self._appendLog(" ".join(command))
        self._pipHandle = SubprocessRunner().start(command, env=self.logic._environment())
        for button in (self.ui.forceReinstallButton, self.ui.installDependenciesButton):
            button.enabled = False
        self._timer.start()

    def _pollPip(self) -> None:
        handle = self._pipHandle
        for line in handle.readOutputLines():
            self._appendLog(line)
        code = handle.returnCode()
        if code is None:
            return
        self._pipHandle = None
        for button in (self.ui.forceReinstallButton, self.ui.installDependenciesButton):
            button.enabled = True
        self._appendLog(handle.errorOutput()[-4000:] if code else _("pip finished; restart Slicer if asked."))
        self._showDependencies()

    # ---- running -----------------------------------------------------------------------------------
    def onApplyButton(self) -> None:
        if self._job is not None:
            self._cancelJob()
            self._setStatus(_("Cancelled; the scene is unchanged."))
            return
        if not self._dependenciesReady and not (dependenciesReady(REQUIREMENTS_PATH) or self._installDependencies()):
            return
        self._dependenciesReady = True
        p = self._parameterNode
        try:
            with slicer.util.WaitCursor():
                self._job = self.logic.start(p.inputVolume, p.outputSegmentation, device=p.device,
                                             createModels=p.createModels, show3D=p.show3D,
                                             parameters=p.segmentationParameters(), progress=self._onProgress)
        except Exception as exc:  # noqa: BLE001 - InputError etc.: the message says what to do
            import traceback

            slicer.util.errorDisplay(_("The segmentation could not start:\n\n{error}").format(error=exc),
                                     windowTitle=_("InnerEarSeg"), detailedText=traceback.format_exc())
            return
        self.ui.logTextEdit.clear()
        self._loggedLines = 0
        self._appendLog(_("started: {volume} on {device}").format(volume=p.inputVolume.GetName(), device=p.device))
        self._setRunning(True)
        self._timer.start()

    def _askForEarPoints(self, message: str) -> None:
        """No ear was found automatically: select a point list and start placing points on the ears."""
        p = self._parameterNode
        if p.earPoints is None:
            p.earPoints = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLMarkupsFiducialNode", _("Ear points"))
        markupsLogic = slicer.modules.markups.logic()
        markupsLogic.SetActiveList(p.earPoints)
        markupsLogic.StartPlaceMode(True)
        self._setStatus(_("No inner ear found automatically: place a point on each ear, then run again."))
        slicer.util.infoDisplay(message, windowTitle=_("InnerEarSeg: place a point on each inner ear"))

    def _appendLog(self, text: str) -> None:
        if text:
            self.ui.logTextEdit.appendPlainText(text.rstrip())

    def _onProgress(self, stage: str, fraction: float, message: str) -> None:
        self.ui.progressBar.setValue(int(round(100 * max(0.0, min(1.0, fraction)))))
        self.ui.progressBar.setFormat(f"{stage}: %p%")
        self._setStatus(f"{message} ({self._job.elapsedS:.0f} s)" if self._job else message)
        self._appendLog(f"{stage}: {message}")

    def _onTimer(self) -> None:
        if self._pipHandle is not None:
            self._pollPip()
        job = self._job
        if job is None:
            if self._pipHandle is None:
                self._timer.stop()
            return
        try:
            done = job.poll()
            for line in job.outputLines[self._loggedLines:]:  # what the process printed besides progress
                self._appendLog(line)
            self._loggedLines = len(job.outputLines)
            if not done:
                return
        except Exception as exc:  # noqa: BLE001 - a broken pipe etc. must not leave the GUI spinning
            self._job = None
            job.cancel()
            self._setRunning(False)
            slicer.util.errorDisplay(_("The segmentation process stopped unexpectedly: {error}").format(error=exc))
            return
        self._job = None
        self._appendLog(job.handle.errorOutput()[-8000:])  # warnings, or the error of a failed run
        try:
            with slicer.util.WaitCursor():
                segmentationNode = job.finish()
        except EarPointsNeeded as exc:
            self._setRunning(False)
            self._askForEarPoints(str(exc))
            return
        except Exception as exc:  # noqa: BLE001 - shown to the user with the process's own message
            self._setRunning(False)
            self._setStatus(_("Failed: see the message and the log."))
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
            self._appendLog(_("cancelled: the process was stopped; the scene is unchanged"))
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
        self._setStatus(resultSummary(report, job.elapsedS, device, len(ears) * len(STRUCTURE_KEYS)))
        displayNode = segmentationNode.GetDisplayNode()
        if displayNode:
            displayNode.SetVisibility3D(bool(p.show3D))
        self.ui.show3DButton.setSegmentationNode(segmentationNode)
        slicer.util.setSliceViewerLayers(background=p.inputVolume, fit=False)
        if p.show3D:
            centerViewsOn(segmentationNode)
        self._startReview(p.inputVolume, report)

    # ---- review ------------------------------------------------------------------------------------
    def _buildStructureRows(self, grid) -> None:
        """One row per structure (from the catalogue) under the grid's header: name, right and left status."""
        for row, key in enumerate(STRUCTURE_KEYS, start=1):
            grid.addWidget(qt.QLabel(STRUCTURE_NAMES[key].capitalize()), row, 0)
            for column, side in enumerate(SIDES, start=1):
                button = qt.QPushButton("—")
                button.enabled = False
                button.toolTip = _("Automatic status of the {side} {structure}; click to centre the views on it."
                                   ).format(side=side, structure=STRUCTURE_NAMES[key])
                grid.addWidget(button, row, column)
                self._statusButtons[(side, key)] = button

    def _setupReview(self) -> None:
        for (side, key), button in self._statusButtons.items():
            button.connect("clicked()", lambda s=side, k=key: self._centerOnStructure(s, k))
        for side in SIDES:
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

    def _ratingsFolder(self) -> str:
        return self._parameterNode.ratingsFolder if self._parameterNode else ""

    def _newReviewState(self, **kwargs):
        from InnerEarSegLib.review import ReviewPanelState

        kwargs = {"reader_id": self.ui.readerLineEdit.text, "blinded": self.ui.blindedCheckBox.checked,
                  "store_factory": ratingsStoreFactory(self._ratingsFolder), **kwargs}
        return ReviewPanelState(**kwargs)

    def _reviewState(self):
        if self._review is None:
            self._review = self._newReviewState()
            self._review.changed.connect(self._onReviewChanged)
        return self._review

    def _startReview(self, volumeNode, report) -> None:
        state = self._reviewState()
        state.model_version = report.model.version
        state.open_case(state.case_path if state.cases else caseReference(volumeNode))
        state.set_assessments([{**ear.assessment, "side": ear.side} for ear in report.ears if ear.assessment])
        found = {ear.side: ear for ear in report.ears}
        for side in SIDES:
            self.showTrustFlag(side, found.get(side))

    def showTrustFlag(self, side: str, ear) -> None:
        """Where the per-ear trust flag is shown (no ear or no flag = "not assessed", never "plausible").

        A doubtful or implausible ear is written in its colour with its reasons, so it never looks normal.
        """
        trust = trustOfEar(ear)
        label = getattr(self.ui, f"{side}TrustLabel")
        reasons = "; ".join(trust.reasons)
        label.text = f"<b style='color:{trust.colour}'>{trust.level}</b>" + (f"<br>{reasons}" if reasons else "")
        label.toolTip = trust.meaning

    def _onReviewChanged(self, event: str) -> None:
        state = self._review
        if event == "case" and state.cases and self._loadedCase != state.case_path:
            self._loadStudyCase(state.case_path)
        self._updatingReview = True
        try:
            for row in state.rows():
                button = self._statusButtons[(row.side, row.structure)]
                button.text = row.auto_status or "—"
                button.enabled = state.case_path is not None
                button.setStyleSheet(f"QPushButton {{ background: {row.color}; color: white; }}")
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
            state.save()  # into the chosen ratings folder; says what to do when none is chosen
            self.logic.updateRatingsTable(slicer.mrmlScene, records)
            self._setStatus(_("Ratings saved in {folder}.").format(folder=self._ratingsFolder()))

    def _openStudy(self) -> None:
        folder = self.ui.studyPathLineEdit.currentPath
        with slicer.util.tryWithErrorDisplay(_("The study could not be opened."), waitCursor=True):
            from InnerEarSegLib.review import ReviewPanelState

            if not folder or not os.path.isdir(folder):
                raise ValueError(_("Choose a folder of CT files first."))
            statePath = os.path.join(folder, ".innerear-seg-study.json")
            kwargs = {"reader_id": self.ui.readerLineEdit.text, "blinded": self.ui.blindedCheckBox.checked,
                      "store_factory": ratingsStoreFactory(self._ratingsFolder)}
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
    """Runs on Slicer's build factory (ctest) and from Reload & Test; downloads and installs nothing.

    The module's own code is always tested: the .ui loads, a precomputed result (the sample's reference
    labels) is imported into the scene, and cancel kills a running process. The whole segmentation of the
    sample runs only where torch and the listed packages are already installed.
    """

    def setUp(self):
        slicer.mrmlScene.Clear()

    def runTest(self):
        for test in (self.test_the_panel_loads_with_every_section, self.test_a_precomputed_result_is_imported,
                     self.test_cancel_kills_the_process_and_leaves_the_scene, self.test_the_sample_is_segmented):
            self.setUp()
            test()

    def _sampleVolume(self):
        path = sampleDataPath()
        self.assertIsNotNone(path, "the sample CT is not installed with the module")
        return slicer.util.loadVolume(str(path))

    def test_the_panel_loads_with_every_section(self):
        ui = slicer.util.childWidgetVariables(slicer.util.loadUI(
            str(pathlib.Path(__file__).parent / "Resources" / "UI" / "InnerEarSeg.ui")))
        for name in ("show3DButton", "logTextEdit", "modelInfoLabel", "forceReinstallButton", "loadSampleButton",
                     "ratingsFolderLineEdit", "rightTrustLabel"):
            self.assertTrue(hasattr(ui, name), f"{name} missing in the .ui")
        self.assertIn("Trust flag", modelInformation())

    def test_a_precomputed_result_is_imported(self):
        import shutil
        import tempfile

        import SimpleITK as sitk

        self.delayDisplay("Importing the sample's reference labels as a result")
        volume = self._sampleVolume()
        folder = pathlib.Path(tempfile.mkdtemp(dir=slicer.app.temporaryPath))
        try:
            labels = sitk.ReadImage(str(sampleDataPath().with_name("InnerEarPhantom_labels.nrrd")))
            sitk.WriteImage(labels, str(folder / "labels.nii.gz"))
            from InnerEarSegLib.report import ModelRecord, SegmentationReport

            reference = SegmentationReport(case_id="sample", model=ModelRecord("reference labels", "reference"),
                                           device="none")
            (folder / "report.json").write_text(reference.to_json())
            logic = InnerEarSegLogic(temporaryRoot=slicer.app.temporaryPath)
            segmentation = logic.importResult(volume, folder, createModels=True)
            logic.importResult(volume, folder, segmentation, createModels=True)  # again: no duplicates
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        self._assertTenSegments(segmentation, volume)
        self.assertEqual(len(modelNodesOf(segmentation)), len(SIDES) * len(STRUCTURE_KEYS),
                         "two imports into one segmentation leave one model per segment")

    def test_cancel_kills_the_process_and_leaves_the_scene(self):
        import tempfile

        from InnerEarSegLib.progress import Cancelled, CancelToken

        volume = self._sampleVolume()
        before = slicer.mrmlScene.GetNumberOfNodes()
        sleeper = pathlib.Path(tempfile.mkdtemp(dir=slicer.app.temporaryPath)) / "sleeper.py"
        sleeper.write_text("import time\nprint('{\"stage\": \"read\", \"fraction\": 0.1}', flush=True)\n"
                           "time.sleep(600)\n")
        logic = InnerEarSegLogic(temporaryRoot=slicer.app.temporaryPath)
        logic.command = lambda *args: [defaultPythonExecutable(), str(sleeper)]
        token = CancelToken()
        with self.assertRaises(Cancelled):
            logic.process(volume, progress=lambda stage, fraction, message: token.cancel(), cancel=token)
        self.assertEqual(slicer.mrmlScene.GetNumberOfNodes(), before)
        sleeper.unlink()
        sleeper.parent.rmdir()

    def test_the_sample_is_segmented(self):
        if not dependenciesReady(REQUIREMENTS_PATH):
            self.delayDisplay("torch or a listed package is not installed: the segmentation test is skipped")
            return
        volume = self._sampleVolume()
        stages = []
        self.delayDisplay("Segmenting on the CPU")
        segmentation = InnerEarSegLogic(temporaryRoot=slicer.app.temporaryPath).process(
            volume, device="cpu", createModels=True, progress=lambda stage, fraction, message: stages.append(stage))
        self.assertIn("predict", stages)
        self._assertTenSegments(segmentation, volume)
        from InnerEarSegLib.report import SegmentationReport

        report = SegmentationReport.from_json(segmentation.GetAttribute(REPORT_ATTRIBUTE))
        self.assertEqual(len(report.ears), 2, "both ears of the phantom must be found")
        self.delayDisplay("Test passed")

    def _assertTenSegments(self, segmentation, volume):
        names = [segmentation.GetSegmentation().GetNthSegment(i).GetName()
                 for i in range(segmentation.GetSegmentation().GetNumberOfSegments())]
        expected = [f"{side.capitalize()} {STRUCTURE_NAMES[key]}" for side in SIDES for key in STRUCTURE_KEYS]
        self.assertEqual(names, expected)
        for name in expected:
            segmentId = segmentation.GetSegmentation().GetSegmentIdBySegmentName(name)
            array = slicer.util.arrayFromSegmentBinaryLabelmap(segmentation, segmentId, volume)
            self.assertGreater(int(array.sum()), 0, f"{name} is empty")
