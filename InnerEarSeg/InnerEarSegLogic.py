"""MRML logic of the InnerEarSeg module: no Qt, usable from Slicer, from a script and from pytest.

`InnerEarSegLogic.process` takes a CT volume node and returns a segmentation node holding one segment
per structure and ear. The network runs in a separate Python process (``PythonSlicer -m
InnerEarSegLib.cli.main segment ... --progress json``) so that a crash, an out-of-memory error or a
cancel never takes Slicer down; the GUI uses the non-blocking form, `InnerEarSegLogic.start`, and
polls the returned `SegmentationJob` from a timer.

The scene is touched only after the process has succeeded: a cancel or a failure leaves it exactly
as it was, and the temporary folder is removed in every case.
"""
from __future__ import annotations

import json
import logging
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from InnerEarSegMRML.paths import ensureLibraryImportable

_LIBRARY_ROOT = ensureLibraryImportable()

import slicer  # noqa: E402
from InnerEarSegLib.errors import EXIT_NO_EAR, InnerEarSegError, InputError  # noqa: E402
from InnerEarSegLib.model.device import parse_device  # noqa: E402
from InnerEarSegLib.progress import Cancelled, ProgressCallback  # noqa: E402
from InnerEarSegLib.report import SegmentationReport  # noqa: E402
from InnerEarSegMRML.environment import childEnvironment, startupEnvironment  # noqa: E402
from InnerEarSegMRML.geometry import volumeNodeToImage  # noqa: E402
from InnerEarSegMRML.importer import REPORT_ATTRIBUTE, importSegmentation  # noqa: E402, F401
from InnerEarSegMRML.process import ProcessHandle, ProcessRunner, SubprocessRunner  # noqa: E402
from InnerEarSegMRML.ratingsTable import updateRatingsTable  # noqa: E402

logger = logging.getLogger(__name__)



class SegmentationFailed(InnerEarSegError, RuntimeError):
    """The segmentation process failed; the message holds what it reported."""


class EarPointsNeeded(SegmentationFailed):
    """No inner ear was found automatically (or a lone ear's side is unknown): the reader is asked to place a
    point on each inner ear (``SegmentationParameters.earPoints``) and run again."""


@dataclass(frozen=True)
class SegmentationParameters:
    """Switches passed to ``innerear-seg segment`` (the Advanced section of the panel).

    Parameters
    ----------
    modelPath : a model package (``.safetensors`` + ``.json``); ``None`` or "" = the bundled model.
    gaussian, otsu, removeIslands : post-processing switches (see ``innerear-seg segment --help``).
    sigmaVoxels : Gaussian sigma in model voxels; ``None`` = the model's default.
    earPoints : ear centres given by the reader (``InnerEarSegMRML.earPoints.earPointsFromMarkups``);
        when given, the automatic search is skipped.
    allowThickSlices : segment a scan coarser than the input policy allows (marked low resolution).
    """

    modelPath: str | None = None
    gaussian: bool = True
    sigmaVoxels: float | None = None
    otsu: bool = True
    removeIslands: bool = True
    earPoints: tuple = ()
    allowThickSlices: bool = False

    def __post_init__(self) -> None:
        if self.sigmaVoxels is not None and (not np.isfinite(self.sigmaVoxels) or self.sigmaVoxels <= 0):
            raise ValueError(f"sigmaVoxels must be a positive number of voxels, got {self.sigmaVoxels!r}")

    def segmentOptions(self):
        """These switches as the library's one options object (`InnerEarSegLib.options.SegmentOptions`)."""
        from dataclasses import replace

        from InnerEarSegLib.options import DEFAULT_POSTPROCESS, SegmentOptions

        sigma = DEFAULT_POSTPROCESS.sigma_vox if self.sigmaVoxels is None else float(self.sigmaVoxels)
        post = replace(DEFAULT_POSTPROCESS, gaussian=self.gaussian, sigma_vox=sigma, otsu=self.otsu,
                       remove_islands=self.removeIslands)
        return SegmentOptions(model_path=Path(self.modelPath) if self.modelPath else None, postprocess=post,
                              roi=tuple(self.earPoints), allow_thick_slices=self.allowThickSlices)

    def cliArguments(self) -> list[str]:
        """The matching ``innerear-seg segment`` options, written by `SegmentOptions.cli_arguments`."""
        return self.segmentOptions().cli_arguments()


def defaultPythonExecutable() -> str:
    """``PythonSlicer`` inside Slicer (Slicer's Python without the GUI), else this interpreter."""
    if not hasattr(slicer, "app"):
        return sys.executable
    name = "PythonSlicer.exe" if sys.platform == "win32" else "PythonSlicer"
    for candidate in (shutil.which("PythonSlicer"), str(Path(sys.executable).with_name(name))):
        if candidate and Path(candidate).is_file():
            return candidate
    raise SegmentationFailed("cannot find the PythonSlicer executable of this Slicer; reinstall 3D Slicer.")


def errorSummary(stderr: str, *, maxLines: int = 12) -> str:
    """The lines of a process's standard error that say what went wrong."""
    lines = [line.rstrip() for line in stderr.strip().splitlines() if line.strip()]
    errors = [line for line in lines if "error" in line.lower()]
    return "\n".join(errors[-3:] if errors else lines[-maxLines:]) or "(the process printed no message)"


class SegmentationJob:
    """One running segmentation: poll it, then `finish` (import) or `cancel`. Made by `InnerEarSegLogic.start`.

    Nothing in the scene changes before `finish`; `cleanup` (called by `finish` and `cancel`)
    removes the temporary folder.
    """

    def __init__(self, inputVolume, outputSegmentation, *, handle: ProcessHandle, tempDir: Path,
                 createModels: bool, progress: ProgressCallback | None, createSurfaces: bool = True,
                 clock=time.monotonic) -> None:
        self.inputVolume = inputVolume
        self.outputSegmentation = outputSegmentation
        self.handle = handle
        self.tempDir = tempDir
        self.createModels = createModels
        self.createSurfaces = createSurfaces
        self.progress = progress
        self.clock = clock
        self.startTime = clock()
        self.stage, self.fraction, self.message = "start", 0.0, "starting"
        self.report: SegmentationReport | None = None
        self.outputLines: list[str] = []
        self.finished = False

    @property
    def outputDir(self) -> Path:
        return self.tempDir / "output"

    @property
    def elapsedS(self) -> float:
        return self.clock() - self.startTime

    def poll(self) -> bool:
        """Forward new progress lines; return True once the process has ended. Never blocks."""
        for line in self.handle.readOutputLines():
            self._handleLine(line)
        return self.handle.returnCode() is not None

    def _handleLine(self, line: str) -> None:
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            event = None
        if not isinstance(event, dict) or "stage" not in event:
            logger.info("segment: %s", line)
            self.outputLines.append(line)
            return
        self.stage = str(event["stage"])
        self.fraction = float(event.get("fraction", self.fraction))
        self.message = str(event.get("message", ""))
        if self.progress is not None:
            self.progress(self.stage, self.fraction, self.message)

    def finish(self):
        """Import the result into the scene and return the segmentation node (process must have ended).

        Raises
        ------
        SegmentationFailed
            The process exited with an error: its message is included; the scene is unchanged.
        """
        try:
            code = self.handle.returnCode()
            if code is None:
                raise RuntimeError("finish() called while the segmentation process is still running; poll() first")
            self.poll()
            if code == EXIT_NO_EAR:
                raise EarPointsNeeded(f"{errorSummary(self.handle.errorOutput())}\n\nPlace one point on each "
                                      f"inner ear in 'Ear points' (name them R and L to set their sides) and "
                                      f"click 'Segment inner ear' again.")
            if code != 0:
                raise SegmentationFailed(f"the inner-ear segmentation failed (exit code {code}):\n"
                                         f"{errorSummary(self.handle.errorOutput())}")
            if self.inputVolume.GetScene() is None:
                raise SegmentationFailed(f"the input volume '{self.inputVolume.GetName()}' was removed from the "
                                         f"scene during the segmentation; nothing was imported.")
            if self.progress is not None:
                self.progress("import", 0.99, "creating segments and 3-D surfaces")
            node = importSegmentation(self.inputVolume, self.outputDir, self.outputSegmentation,
                                      createModels=self.createModels, createSurfaces=self.createSurfaces)
            self.report = SegmentationReport.from_json(node.GetAttribute(REPORT_ATTRIBUTE))
            self.finished = True
            return node
        finally:
            self.cleanup()

    def cancel(self) -> None:
        """Kill the process tree and remove the temporary folder; the scene is not touched."""
        try:
            self.handle.kill()
        finally:
            self.cleanup()

    def cleanup(self) -> None:
        shutil.rmtree(self.tempDir, ignore_errors=True)


def _declareHiddenModule(parent) -> None:
    """Slicer's module scanner instantiates the class named like every ``.py`` file of the module folder
    with the module object as argument (``InnerEarSegLogic(parent)``). Declare a hidden helper module
    then, so the scan is a no-op instead of a "Fail to instantiate module" error at every start-up."""
    parent.title = "InnerEarSeg logic"
    parent.categories = []
    parent.dependencies = []
    parent.contributors = ["The InnerEarSeg developers"]
    parent.helpText = "Qt-free logic of the Inner Ear Segmentation module; not a module by itself."
    parent.acknowledgementText = ""
    parent.hidden = True


class InnerEarSegLogic:
    """Segments the inner ears of a CT volume node into a segmentation node.

    Parameters
    ----------
    parent : only given by Slicer's module scanner (see `_declareHiddenModule`); leave it out.
    processRunner : starts the segmentation process; a fake in tests (default `SubprocessRunner`).
    pythonExecutable : interpreter that runs ``InnerEarSegLib`` (default `defaultPythonExecutable`).
    temporaryRoot : where the per-run temporary folder is made (default: the system's).
    environment : environment of the process before ``InnerEarSegLib`` is put on ``PYTHONPATH``
        (default: Slicer's startup environment, `InnerEarSegMRML.environment.startupEnvironment`).
    """

    def __init__(self, parent=None, *, processRunner: ProcessRunner | None = None,
                 pythonExecutable: str | None = None, temporaryRoot: str | os.PathLike | None = None,
                 environment: dict[str, str] | None = None) -> None:
        if parent is not None:
            _declareHiddenModule(parent)
        self.processRunner = processRunner or SubprocessRunner()
        self.pythonExecutable = pythonExecutable
        self.temporaryRoot = temporaryRoot
        self.environment = environment
        self.pollIntervalS = 0.1

    # -- input ---------------------------------------------------------------------------------------
    def validateInput(self, inputVolume):
        """Check `inputVolume` before anything is written or added; return it as a SimpleITK image.

        Raises
        ------
        InputError
            No volume, a label map, no voxels, 2-D, constant (empty) or not CT-like intensities; the
            message says what was found and what to do.
        """
        from InnerEarSegLib.imageio import validate_ct

        if inputVolume is None:
            raise InputError("no input volume: select the temporal-bone CT in 'Input volume'.")
        if not inputVolume.IsA("vtkMRMLScalarVolumeNode") or inputVolume.IsA("vtkMRMLLabelMapVolumeNode"):
            raise InputError(f"'{inputVolume.GetName()}' is a {inputVolume.GetClassName()}, not a CT volume; "
                             f"select a scalar CT volume.")
        if inputVolume.GetScene() is None:
            raise InputError(f"volume '{inputVolume.GetName()}' is not in a scene; add it to the scene first.")
        image = volumeNodeToImage(inputVolume)
        try:
            validate_ct(image)
        except InputError as exc:
            raise InputError(f"volume '{inputVolume.GetName()}': {exc}") from None
        return image

    # -- running -------------------------------------------------------------------------------------
    def command(self, ctPath: Path, outputDir: Path, device: str, parameters: SegmentationParameters) -> list[str]:
        """The command line of the segmentation process (no meshes: Slicer makes its own surfaces)."""
        python = self.pythonExecutable or defaultPythonExecutable()
        return [python, "-m", "InnerEarSegLib.cli.main", "segment", str(ctPath), "-o", str(outputDir),
                "--progress", "json", "--device", device, "--no-meshes", *parameters.cliArguments()]

    def _environment(self) -> dict[str, str]:
        base = self.environment if self.environment is not None else startupEnvironment()
        return childEnvironment(base, _LIBRARY_ROOT)

    def start(self, inputVolume, outputSegmentation=None, *, device: str = "auto", createModels: bool = False,
              show3D: bool = True, parameters: SegmentationParameters | None = None,
              progress: ProgressCallback | None = None) -> SegmentationJob:
        """Validate, write the CT to a temporary NRRD and start the process; return at once.

        Poll the returned job (`SegmentationJob.poll`) until it is done, then call
        `SegmentationJob.finish` to import the result, or `SegmentationJob.cancel`.
        """
        import SimpleITK as sitk

        device = parse_device(device)  # the library's one device parser (auto, cpu, cuda, cuda:N)
        parameters = parameters or SegmentationParameters()
        image = self.validateInput(inputVolume)
        if outputSegmentation is not None and outputSegmentation.GetScene() is not inputVolume.GetScene():
            raise ValueError("outputSegmentation must be in the same scene as inputVolume")
        tempDir = Path(tempfile.mkdtemp(prefix="InnerEarSeg-", dir=self.temporaryRoot))
        try:
            ctPath = tempDir / "input_ct.nrrd"
            sitk.WriteImage(image, str(ctPath), False)  # uncompressed: fast to write and read
            handle = self.processRunner.start(self.command(ctPath, tempDir / "output", device, parameters),
                                              env=self._environment())
        except BaseException:
            shutil.rmtree(tempDir, ignore_errors=True)
            raise
        return SegmentationJob(inputVolume, outputSegmentation, handle=handle, tempDir=tempDir,
                               createModels=createModels, createSurfaces=show3D, progress=progress)

    def process(self, inputVolume, outputSegmentation=None, device: str = "auto", createModels: bool = False,
                progress: ProgressCallback | None = None, cancel=None, *, show3D: bool = True,
                parameters: SegmentationParameters | None = None):
        """Segment the inner ears of `inputVolume`; block until done and return the segmentation node.

        Parameters
        ----------
        inputVolume : vtkMRMLScalarVolumeNode
            The CT (HU). The result goes into the scene that holds it.
        outputSegmentation : vtkMRMLSegmentationNode, optional
            Replaced by the result; a new node named "<volume> inner ear" when None.
        device : "auto", "cpu", "cuda" or "cuda:N".
        createModels : also make one model node per segment (replacing those of an earlier run into
            the same segmentation).
        show3D : build the closed surfaces now; otherwise Slicer builds them when the user shows 3-D.
        progress : called with (stage, fraction 0-1, message).
        cancel : object with a ``cancelled`` attribute (e.g. ``InnerEarSegLib.progress.CancelToken``).

        Raises
        ------
        InputError
            Unusable input; raised before anything is added to the scene.
        Cancelled
            `cancel` was set: the process tree was killed and the scene left as it was.
        SegmentationFailed
            The process failed; its message is included and nothing was added to the scene.
        """
        job = self.start(inputVolume, outputSegmentation, device=device, createModels=createModels, show3D=show3D,
                         parameters=parameters, progress=progress)
        try:
            while True:
                done = job.poll()
                if cancel is not None and cancel.cancelled:
                    job.cancel()
                    raise Cancelled("segmentation cancelled by the user; the scene is unchanged")
                if done:
                    return job.finish()
                time.sleep(self.pollIntervalS)
        finally:
            job.cleanup()

    def importResult(self, inputVolume, outputDir: Path, outputSegmentation=None, *, createModels: bool = False,
                     show3D: bool = True):
        """Import an ``innerear-seg segment`` output folder as a segmentation of `inputVolume`."""
        return importSegmentation(inputVolume, Path(outputDir), outputSegmentation, createModels=createModels,
                                  createSurfaces=show3D)

    def updateRatingsTable(self, scene, records, tableNode=None):
        """Put reader ratings (``RatingRecord``) into the scene's ratings table node; return the node."""
        return updateRatingsTable(scene, records, tableNode)
