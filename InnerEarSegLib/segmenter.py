"""Load the model once, segment many CTs: the in-process API shared by ``innerear-seg segment``, ``batch``
(each Dask worker holds one) and the Slicer module's subprocess (which runs ``segment``).

Examples
--------
>>> from InnerEarSegLib.segmenter import Segmenter           # doctest: +SKIP
>>> segmenter = Segmenter()                                   # doctest: +SKIP
>>> for path in ["a.nii.gz", "b.nii.gz"]:                     # doctest: +SKIP
...     case = segmenter.run_case(path, f"out/{case_id_from_path(path)}")
...     print(case.case_id, case.result.ears[0].assessment.likert)
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import SimpleITK as sitk

from .cases import case_id_from_path
from .errors import InputError
from .options import SegmentOptions
from .progress import CancelToken, ProgressCallback, no_progress

log = logging.getLogger(__name__)

@dataclass(frozen=True)
class CaseResult:
    """One CT segmented and written: where, what, and how long each part took (seconds)."""

    case_id: str
    out_dir: Path
    outputs: dict
    result: object  # pipeline.SegmentationResult
    source: object  # imageio.ImageSource
    timings_s: dict  # read, pipeline, write, total


def package_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("InnerEarSegLib")
    except PackageNotFoundError:
        return "unknown"


class Segmenter:
    """A loaded model with fixed options; :meth:`segment` and :meth:`run_case` reuse it for every CT.

    Parameters
    ----------
    options : what to do (model, device, ROI, post-processing, meshes); default :class:`SegmentOptions`.
    predictor : an already built predictor (tests, benchmarks); default: loaded from ``options.model_path``.

    Raises
    ------
    ModelError : the model package is missing, corrupt or incompatible.
    DeviceError : CUDA was requested but is absent.
    """

    def __init__(self, options: SegmentOptions | None = None, *, predictor=None) -> None:
        from .pipeline import load_predictor

        self.options = options or SegmentOptions()
        t0 = time.perf_counter()
        self.predictor = predictor if predictor is not None else load_predictor(self.options)
        self.load_s = time.perf_counter() - t0

    @property
    def model(self) -> dict:
        """Name, version, SHA-256 of the weights, ... (the ``model`` block of report.json)."""
        from .pipeline import _model_summary

        return _model_summary(self.predictor)

    def segment(self, image: sitk.Image | str | Path, *, progress: ProgressCallback = no_progress,
                cancel: CancelToken | None = None):
        """:func:`InnerEarSegLib.pipeline.segment` with this segmenter's model and options."""
        from .pipeline import segment

        return segment(image, self.options, progress, cancel, predictor=self.predictor)

    def run_case(self, path: str | Path, out_dir: str | Path, *, case_id: str | None = None,
                 preview: bool = False, dicom_seg: bool = False, mesh_format: str = "stl", overwrite: bool = False,
                 series_uid: str | None = None, progress: ProgressCallback = no_progress,
                 cancel: CancelToken | None = None) -> CaseResult:
        """Read one CT, segment it and write every output into `out_dir` at once (or nothing on failure).

        The output folder is checked and locked before the CT is read (``OutputFolder``: no clash with a
        file no run made unless `overwrite`, writable, not the input). With ``dicom_seg`` the folder also
        gets ``segmentation.dcm``, a DICOM SEG referring to the input series; a CT not read from DICOM is
        refused before any segmentation work.

        Raises
        ------
        InputError, ModelError, OutputError, Cancelled : as :func:`InnerEarSegLib.pipeline.segment` and
            :func:`InnerEarSegLib.outputs.write_outputs`; nothing is written.
        """
        from .dicomseg import SEG_FILE
        from .imageio import read_image_with_source
        from .output_folder import OutputFolder
        from .outputs import planned_outputs, write_outputs

        t0 = time.perf_counter()
        case_id = case_id or case_id_from_path(path)
        planned = planned_outputs(mesh_format=mesh_format, meshes=self.options.meshes, preview=preview)
        planned += [SEG_FILE] if dicom_seg else []
        with OutputFolder.open(out_dir, planned=planned, overwrite=overwrite, input_path=path) as folder:
            image, source = read_image_with_source(path, series_uid=series_uid)
            if dicom_seg and source.dicom is None:
                raise InputError(f"--dicom-seg needs a DICOM input to refer to, but '{path}' is a {source.format} "
                                 f"file. Give the DICOM series folder, or leave out --dicom-seg.")
            t_read = time.perf_counter() - t0
            result = self.segment(image, progress=progress, cancel=cancel)
            result.input_info.update(source.summary())
            t1 = time.perf_counter()
            extra = {"dicom_seg": (SEG_FILE, self._seg_writer(result, source))} if dicom_seg else None
            outputs = write_outputs(result, image, folder, case_id=case_id, mesh_format=mesh_format,
                                    preview=preview, extra=extra)
        t_write = time.perf_counter() - t1
        timings = {"read": round(t_read, 4), "pipeline": round(t1 - t0 - t_read, 4), "write": round(t_write, 4),
                   "total": round(time.perf_counter() - t0, 4)}
        return CaseResult(case_id, Path(out_dir), outputs, result, source, timings)

    @staticmethod
    def _seg_writer(result, source):
        from .dicomseg import write_dicom_seg

        def write(path: Path) -> None:
            write_dicom_seg(result.label_image, source.dicom, path, model=result.model,
                            software_version=package_version())

        return write
