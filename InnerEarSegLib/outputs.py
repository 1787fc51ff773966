"""Write a :class:`~InnerEarSegLib.pipeline.SegmentationResult` to a folder: ``segmentation.seg.nrrd``,
``labels.nii.gz``, ``meshes/<Side>_<structure>.<fmt>``, ``report.json`` and ``preview.png``.

Everything is first written into a temporary folder beside the target and moved in only when all
files are complete, so an error or Ctrl-C never leaves half-written outputs.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import SimpleITK as sitk

from .imageio import atomic_directory

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


def write_outputs(result, image: sitk.Image, out_dir, *, case_id: str, mesh_format: str = "stl",
                  preview: bool = True, progress=None) -> dict[str, object]:
    """Write all outputs of `result` into `out_dir` (created; existing files of the same names replaced).

    Returns the mapping of output kind to path relative to `out_dir`.
    """
    from .segfile import write_seg_nrrd

    t0 = time.perf_counter()
    out_dir = Path(out_dir)
    outputs: dict[str, object] = {"segmentation": SEGMENTATION_FILE, "labels": LABELS_FILE, "report": REPORT_FILE}
    with atomic_directory(out_dir) as tmp:
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
        timings = dict(result.timings_s)
        timings["write"] = round(time.perf_counter() - t0, 4)
        report = build_report(result, case_id=case_id, outputs=outputs, timings_s=timings)
        (tmp / REPORT_FILE).write_text(json.dumps(report, indent=2), encoding="utf-8")
    return outputs
