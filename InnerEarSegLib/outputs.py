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
from .labels import Structure

SEGMENTATION_FILE = "segmentation.seg.nrrd"
LABELS_FILE = "labels.nii.gz"
REPORT_FILE = "report.json"
PREVIEW_FILE = "preview.png"
MESH_DIR = "meshes"


def mesh_filename(side, structure_key: str, fmt: str) -> str:
    return f"{side.value.capitalize()}_{structure_key}.{fmt}"


def build_report(result, *, case_id: str, outputs: dict[str, object]) -> dict:
    """The ``report.json`` content (JSON-able dict)."""
    ears = []
    for ear in result.ears:
        ears.append({
            "side": ear.side.value,
            "centre_lps_mm": [round(float(v), 3) for v in ear.centre_lps_mm],
            "confidence": round(float(ear.confidence), 4),
            "source": ear.source,
            "box": {"centre_lps_mm": [round(v, 4) for v in ear.box.centre_lps_mm],
                    "size_vox": ear.box.spec.size_vox, "spacing_mm": ear.box.spec.spacing_mm},
            "structures": {s.key: {"label": int(s) + ear.side.label_offset,
                                   "volume_mm3": round(ear.volumes_mm3[s.key], 3)} for s in Structure},
            "labyrinth_volume_mm3": round(sum(ear.volumes_mm3.values()), 3),
            "assessment": ear.assessment.to_dict() if ear.assessment is not None else None,
        })
    return {
        "case_id": case_id,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "input": result.input_info,
        "model": result.model,
        "device": result.device,
        "options": result.options.to_dict(),
        "timings_s": result.timings_s,
        "ears": ears,
        "outputs": outputs,
    }


def write_outputs(result, image: sitk.Image, out_dir, *, case_id: str, mesh_format: str = "stl",
                  preview: bool = True, progress=None, extra=None) -> dict[str, object]:
    """Write all outputs of `result` into `out_dir` (created; existing files of the same names replaced).

    `extra` maps further output kinds to writers ``writer(folder) -> file name``, called inside the same
    temporary folder, so that their files (e.g. a DICOM SEG) are committed together with the rest.

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
        for kind, writer in (extra or {}).items():
            outputs[kind] = writer(tmp)
        timings = dict(result.timings_s)
        timings["write"] = round(time.perf_counter() - t0, 4)
        report = build_report(result, case_id=case_id, outputs=outputs)
        report["timings_s"] = timings
        (tmp / REPORT_FILE).write_text(json.dumps(report, indent=2), encoding="utf-8")
    return outputs
