"""Turn an ``innerear-seg segment`` output folder into a segmentation node (and model nodes).

One segment per structure and ear ("Right cochlea", ..., "Left posterior canal"), always ten and in
that order (a structure the model did not find is an empty segment, so the reader sees it is
missing), with the library's colours and a terminology entry from the module's ``.term.json``. The
labelmaps keep the library's 0.3 mm lattice, voxel for voxel; the reference geometry is the input
volume. Nothing in the scene changes unless the whole import succeeds.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

import slicer
from InnerEarSegLib.errors import InnerEarSegError
from InnerEarSegLib.labels import TWO_EAR_LABEL_VALUES, all_labels, describe_two_ear_labels
from InnerEarSegLib.report import read_report

from .geometry import imageToOrientedImageData
from .models import exportModels
from .paths import TERMINOLOGY_PATH

logger = logging.getLogger(__name__)

#: Segmentation-node attribute holding report.json of the run (JSON text).
REPORT_ATTRIBUTE = "InnerEarSeg.Report"


class ImportFailed(InnerEarSegError, RuntimeError):
    """The output folder is missing files or holds something unexpected."""


def terminologyEntries(path: Path = TERMINOLOGY_PATH) -> dict[int, str]:
    """Two-ear label value -> Slicer terminology entry string, from the module's ``.term.json``.

    The cochlea (SCT 80169004), the category (Anatomical Structure, SCT 123037004) and the laterality
    modifiers (Right SCT 24028007, Left SCT 7771000) are SNOMED CT codes; the vestibule and the canals use
    the project-local scheme ``99INNEREARSEG`` (no SNOMED CT code for them could be verified, none is
    invented). Each modifier carries the segment's name and colour, which Slicer takes from the modifier.
    """
    doc = json.loads(Path(path).read_text(encoding="utf-8"))
    context = doc["SegmentationCategoryTypeContextName"]
    category = doc["SegmentationCodes"]["Category"][0]

    def code(c: dict) -> str:
        return f"{c['CodingSchemeDesignator']}^{c['CodeValue']}^{c['CodeMeaning']}"

    entries = {}
    for info in all_labels():
        typ = next(t for t in category["Type"] if t["CodeMeaning"] == info.structure.terminology_name)
        modifier = next(m for m in typ["Modifier"] if m["CodeMeaning"].lower() == info.side.value)
        entries[info.value] = f"{context}~{code(category)}~{code(typ)}~{code(modifier)}~~^^~^^"
    return entries


def ensureConverterRules() -> None:
    """Register labelmap <-> closed-surface conversion (Slicer does it at start-up; a bare MRML scene does not)."""
    factory = slicer.vtkSegmentationConverterFactory.GetInstance()
    names = {rule.GetName() for rule in factory.GetConverterRules()}
    if "Binary labelmap to closed surface" not in names:
        factory.RegisterConverterRule(slicer.vtkBinaryLabelmapToClosedSurfaceConversionRule())
    if "Closed surface to binary labelmap" not in names:
        factory.RegisterConverterRule(slicer.vtkClosedSurfaceToBinaryLabelmapConversionRule())


def _readOutputs(outputDir: Path):
    import SimpleITK as sitk

    labelsPath, reportPath = outputDir / "labels.nii.gz", outputDir / "report.json"
    for path in (labelsPath, reportPath):
        if not path.is_file():
            raise ImportFailed(f"the segmentation process ended without writing '{path.name}' in '{outputDir}'; "
                               f"see the log for its messages.")
    report = read_report(reportPath)  # the library's schema: a missing field or a newer version is an error
    labels = sitk.ReadImage(str(labelsPath))
    values = set(np.unique(sitk.GetArrayViewFromImage(labels)).tolist()) - {0}
    unknown = values - TWO_EAR_LABEL_VALUES
    if unknown:
        raise ImportFailed(f"'{labelsPath.name}' holds label values {sorted(unknown)} that are not inner-ear labels "
                           f"(expected {describe_two_ear_labels()}); was it written by another program?")
    return labels, report


def buildSegmentation(labels, *, terminologyPath: Path = TERMINOLOGY_PATH):
    """A segmentation (not in any scene) with the ten named segments of a two-ear label image."""
    scratch = slicer.vtkMRMLScene()  # a private scene: the import needs one, the user's must not change yet
    built = scratch.AddNewNodeByClass("vtkMRMLSegmentationNode")
    segmentation = built.GetSegmentation()
    oriented = imageToOrientedImageData(labels)
    if not slicer.vtkSlicerSegmentationsModuleLogic.ImportLabelmapToSegmentationNode(oriented, built, "", ""):
        raise ImportFailed("Slicer could not import the label map as a segmentation")
    byValue = {segmentation.GetSegment(sid).GetLabelValue(): sid for sid in segmentation.GetSegmentIDs()}
    entries = terminologyEntries(terminologyPath)
    for index, info in enumerate(all_labels()):
        segmentId = byValue.get(info.value)
        if segmentId is None:  # not found by the model: an empty segment says so
            segmentId = segmentation.AddEmptySegment(info.name.replace(" ", "_"), info.name, info.color_rgb)
        segment = segmentation.GetSegment(segmentId)
        segment.SetName(info.name)
        segment.SetNameAutoGenerated(False)
        segment.SetColor(*info.color_rgb)
        segment.SetColorAutoGenerated(False)
        segment.SetTag(segment.GetTerminologyEntryTagName(), entries[info.value])
        segmentation.SetSegmentIndex(segmentId, index)
    return built


def _placeInStudy(inputVolume, node) -> int:
    """Put `node` beside `inputVolume` in the subject hierarchy (its study); return the parent item."""
    shNode = slicer.vtkMRMLSubjectHierarchyNode.GetSubjectHierarchyNode(inputVolume.GetScene())
    if shNode is None:
        return 0
    volumeItem = shNode.GetItemByDataNode(inputVolume)
    parent = shNode.GetItemParent(volumeItem) if volumeItem else shNode.GetSceneItemID()
    item = shNode.GetItemByDataNode(node)
    if item:
        shNode.SetItemParent(item, parent)
    else:
        shNode.CreateItem(parent, node)
    return parent


def importSegmentation(inputVolume, outputDir: Path, outputSegmentation=None, *, createModels: bool = False,
                       createSurfaces: bool = True, terminologyPath: Path = TERMINOLOGY_PATH):
    """Import `outputDir` (``labels.nii.gz`` + ``report.json``) into the scene of `inputVolume`.

    `createSurfaces` builds the closed surfaces now (to show the result in 3-D); without it they are
    built only when the user shows the segmentation in 3-D, or when `createModels` needs them. Models
    of an earlier run into the same segmentation are replaced, not duplicated (`models.exportModels`).

    Returns
    -------
    vtkMRMLSegmentationNode
        `outputSegmentation` (its segments replaced) or a new node "<volume> inner ear".

    Raises
    ------
    ImportFailed
        Missing or unexpected files; the scene is left as it was.
    """
    labels, report = _readOutputs(Path(outputDir))
    built = buildSegmentation(labels, terminologyPath=terminologyPath)
    ensureConverterRules()
    scene = inputVolume.GetScene()
    before = {scene.GetNthNode(i).GetID() for i in range(scene.GetNumberOfNodes())}
    backup = None
    try:
        if outputSegmentation is None:
            outputSegmentation = scene.AddNewNodeByClass("vtkMRMLSegmentationNode",
                                                         f"{inputVolume.GetName()} inner ear")
        else:
            backup = slicer.vtkSegmentation()
            backup.DeepCopy(outputSegmentation.GetSegmentation())
        outputSegmentation.CreateDefaultDisplayNodes()
        outputSegmentation.GetSegmentation().DeepCopy(built.GetSegmentation())
        outputSegmentation.SetReferenceImageGeometryParameterFromVolumeNode(inputVolume)
        outputSegmentation.SetAttribute(REPORT_ATTRIBUTE, report.to_json())
        parent = _placeInStudy(inputVolume, outputSegmentation)
        if createSurfaces or createModels:
            if not outputSegmentation.CreateClosedSurfaceRepresentation():
                raise ImportFailed("Slicer could not create the 3-D surfaces of the segments")
        else:
            outputSegmentation.RemoveClosedSurfaceRepresentation()
        if createModels:
            exportModels(outputSegmentation, parent)
        return outputSegmentation
    except BaseException:
        for nodeId in {scene.GetNthNode(i).GetID() for i in range(scene.GetNumberOfNodes())} - before:
            node = scene.GetNodeByID(nodeId)
            if node is not None:
                scene.RemoveNode(node)
        if backup is not None:
            outputSegmentation.GetSegmentation().DeepCopy(backup)
        raise
