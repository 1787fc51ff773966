"""Write a :class:`~InnerEarSegLib.pipeline.SegmentationResult` to a folder: ``segmentation.seg.nrrd``,
``labels.nii.gz``, ``meshes/<Side>_<structure>.<fmt>``, ``report.json`` and ``preview.png``.

Everything goes through :class:`~InnerEarSegLib.output_folder.OutputFolder`: checked before the work,
staged inside the folder, committed whole (replacing exactly the previous run's files, listed in
``innerear-seg-run.json``), never touching a file that no run made. See docs/output-safety.md.
"""
from __future__ import annotations

import json
import time

import SimpleITK as sitk

from .errors import OutputError
from .labels import STRUCTURES, Side
from .output_folder import OutputFolder, describe_write_error

SEGMENTATION_FILE = "segmentation.seg.nrrd"
LABELS_FILE = "labels.nii.gz"
REPORT_FILE = "report.json"
PREVIEW_FILE = "preview.png"
MESH_DIR = "meshes"


def mesh_filename(side, structure_key: str, fmt: str) -> str:
    return f"{side.value.capitalize()}_{structure_key}.{fmt}"


def build_report(result, *, case_id: str, outputs: dict[str, object], timings_s: dict | None = None) -> dict:
    """The ``report.json`` content (JSON-able dict) in the versioned schema of :mod:`InnerEarSegLib.report`."""
    from .report import report_from_result

    return report_from_result(result, case_id=case_id, outputs=outputs, timings_s=timings_s).to_dict()


def planned_outputs(*, mesh_format: str = "stl", meshes: bool = True, preview: bool = True) -> list[str]:
    """Every file name a run may write (for the clash check before the pipeline runs)."""
    names = [SEGMENTATION_FILE, LABELS_FILE, REPORT_FILE] + ([PREVIEW_FILE] if preview else [])
    if meshes:
        names += [f"{MESH_DIR}/{mesh_filename(side, s.key, mesh_format)}" for side in Side for s in STRUCTURES]
    return names


def write_outputs(result, image: sitk.Image, out, *, case_id: str, mesh_format: str = "stl",
                  preview: bool = True, overwrite: bool = False, progress=None,
                  extra=None) -> dict[str, object]:
    """Write all outputs of `result` into `out` and commit them as one run.

    Parameters
    ----------
    out : an open :class:`~InnerEarSegLib.output_folder.OutputFolder` (the CLI opens it before the
        pipeline, so that the folder is checked and locked before the work), or a folder path.
    overwrite : with a path, replace files of our names that no earlier run made.
    extra : further output kinds mapped to ``(file name, writer)``; ``writer(path)`` is called in the same
        staging folder, so that the file (e.g. a DICOM SEG) is checked, planned and committed with the rest.

    Returns
    -------
    dict
        Output kind -> path relative to the folder.

    Raises
    ------
    OutputError
        The folder cannot be used, a file clashes, the disk is full or not writable.
    """
    if not isinstance(out, OutputFolder):
        planned = planned_outputs(mesh_format=mesh_format, meshes=any(e.meshes for e in result.ears),
                                  preview=preview) + [name for name, _ in (extra or {}).values()]
        with OutputFolder.open(out, planned=planned, overwrite=overwrite) as folder:
            return write_outputs(result, image, folder, case_id=case_id, mesh_format=mesh_format, preview=preview,
                                 extra=extra)
    try:
        outputs = _write_staged(result, image, out.staging, case_id=case_id, mesh_format=mesh_format,
                                preview=preview, extra=extra or {})
    except (OSError, RuntimeError) as exc:  # SimpleITK and VTK report failed writes as RuntimeError / OSError
        raise OutputError(describe_write_error(exc, out.out_dir)) from None
    out.commit(case_id=case_id, last=REPORT_FILE)
    return outputs


def _write_staged(result, image: sitk.Image, tmp, *, case_id: str, mesh_format: str,
                  preview: bool, extra: dict) -> dict[str, object]:
    from .segfile import write_seg_nrrd

    t0 = time.perf_counter()
    outputs: dict[str, object] = {"segmentation": SEGMENTATION_FILE, "labels": LABELS_FILE, "report": REPORT_FILE}
    write_seg_nrrd(result.label_image, tmp / SEGMENTATION_FILE)
    sitk.WriteImage(result.label_image, str(tmp / LABELS_FILE), True)
    meshes = {}
    if any(ear.meshes for ear in result.ears):
        from .surface import write_surface

        (tmp / MESH_DIR).mkdir()
        for ear in result.ears:
            for key, mesh in ear.meshes.items():
                name = f"{MESH_DIR}/{mesh_filename(ear.side, key, mesh_format)}"
                write_surface(mesh, tmp / name, mesh_format=mesh_format)
                meshes[f"{ear.side.value} {key}"] = name
        outputs["meshes"] = meshes
    if preview:
        from .preview import render_preview

        render_preview(image, result.ears, tmp / PREVIEW_FILE, title=f"InnerEarSeg: {case_id}")
        outputs["preview"] = PREVIEW_FILE
    for kind, (name, writer) in extra.items():
        writer(tmp / name)
        outputs[kind] = name
    timings = dict(result.timings_s)
    timings["write"] = round(time.perf_counter() - t0, 4)
    report = build_report(result, case_id=case_id, outputs=outputs, timings_s=timings)
    (tmp / REPORT_FILE).write_text(json.dumps(report, indent=2), encoding="utf-8")
    return outputs
