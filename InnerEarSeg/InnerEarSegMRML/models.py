"""Model nodes of a segmentation's surfaces, kept in one subject-hierarchy folder per segmentation.

Running again into the same segmentation replaces the models that InnerEarSeg made for it (marked by the
`MODELS_OF_ATTRIBUTE` attribute on each model node and on the folder) instead of adding a second set:
two runs leave one folder of ten models. Model nodes that the user made, or that belong to another
segmentation, are never touched.
"""
from __future__ import annotations

import slicer
import vtk
from InnerEarSegLib.errors import InnerEarSegError

#: Attribute (model nodes) and subject-hierarchy item attribute (folder): the segmentation node's ID.
MODELS_OF_ATTRIBUTE = "InnerEarSeg.ModelsOf"


class ModelExportFailed(InnerEarSegError, RuntimeError):
    """Slicer could not export the segments to model nodes."""


def modelNodesOf(segmentationNode) -> list:
    """The model nodes InnerEarSeg made from `segmentationNode` (in its scene)."""
    scene, nodeId = segmentationNode.GetScene(), segmentationNode.GetID()
    nodes = scene.GetNodesByClass("vtkMRMLModelNode")
    found = [nodes.GetItemAsObject(i) for i in range(nodes.GetNumberOfItems())]
    return [node for node in found if node.GetAttribute(MODELS_OF_ATTRIBUTE) == nodeId]


def modelsFolder(segmentationNode, parentItem: int) -> int:
    """The subject-hierarchy folder of `segmentationNode`'s models, made under `parentItem` the first time."""
    shNode = slicer.vtkMRMLSubjectHierarchyNode.GetSubjectHierarchyNode(segmentationNode.GetScene())
    items = vtk.vtkIdList()
    shNode.GetItemChildren(shNode.GetSceneItemID(), items, True)
    for i in range(items.GetNumberOfIds()):
        item = items.GetId(i)
        if (shNode.GetItemDataNode(item) is None
                and shNode.GetItemAttribute(item, MODELS_OF_ATTRIBUTE) == segmentationNode.GetID()):
            return item
    folder = shNode.CreateFolderItem(parentItem or shNode.GetSceneItemID(), f"{segmentationNode.GetName()} models")
    shNode.SetItemAttribute(folder, MODELS_OF_ATTRIBUTE, segmentationNode.GetID())
    return folder


def exportModels(segmentationNode, parentItem: int) -> list:
    """One model node per non-empty segment in the segmentation's models folder; return the folder's models.

    Models of an earlier run into the same segmentation are updated in place (same name) or removed.
    """
    scene = segmentationNode.GetScene()
    previous = modelNodesOf(segmentationNode)
    folder = modelsFolder(segmentationNode, parentItem)
    segmentation = segmentationNode.GetSegmentation()
    ids = vtk.vtkStringArray()
    for segmentId in segmentation.GetSegmentIDs():
        polyData = vtk.vtkPolyData()
        segmentationNode.GetClosedSurfaceRepresentation(segmentId, polyData)
        if polyData.GetNumberOfPoints() > 0:
            ids.InsertNextValue(segmentId)
    before = {scene.GetNthNode(i).GetID() for i in range(scene.GetNumberOfNodes())}
    if not slicer.vtkSlicerSegmentationsModuleLogic.ExportSegmentsToModels(segmentationNode, ids, folder):
        raise ModelExportFailed("Slicer could not export the segments to model nodes")
    shNode = slicer.vtkMRMLSubjectHierarchyNode.GetSubjectHierarchyNode(scene)
    added = {scene.GetNthNode(i).GetID() for i in range(scene.GetNumberOfNodes())} - before
    for node in (scene.GetNodeByID(nodeId) for nodeId in added):
        if node is not None and node.IsA("vtkMRMLModelNode") and not shNode.GetItemByDataNode(node):
            shNode.CreateItem(folder, node)  # Slicer's subject-hierarchy plugins do this; a bare scene has none
    children = vtk.vtkIdList()
    shNode.GetItemChildren(folder, children)
    models = [shNode.GetItemDataNode(children.GetId(i)) for i in range(children.GetNumberOfIds())]
    exported = {segmentation.GetSegment(ids.GetValue(i)).GetName() for i in range(ids.GetNumberOfValues())}
    models = [node for node in models if node is not None and node.IsA("vtkMRMLModelNode")
              and node.GetName() in exported]  # a structure no longer found loses its old model below
    for node in models:  # Slicer updates a model of the same name in the folder in place, or adds one
        node.SetAttribute(MODELS_OF_ATTRIBUTE, segmentationNode.GetID())
    for node in previous:
        if node not in models:
            scene.RemoveNode(node)
    return models
