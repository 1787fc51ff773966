"""When no ear is found automatically, the reader places a point on each ear and the run then succeeds:
markups point lists become the library's ear centres, in LPS, through the MRML logic (real scene classes of
the slicer-core wheel) and the real command line."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

slicer = pytest.importorskip("slicer", reason="needs the slicer-core wheel (pip install slicer-core)")

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "InnerEarSeg"))


def _load_test_logic():
    spec = importlib.util.spec_from_file_location("innerear_test_logic", Path(__file__).with_name("test_logic.py"))
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


helpers = _load_test_logic()

from InnerEarSegLib.errors import EXIT_NO_EAR, InputError  # noqa: E402
from InnerEarSegLib.labels import Side  # noqa: E402
from InnerEarSegLogic import EarPointsNeeded, InnerEarSegLogic, SegmentationParameters  # noqa: E402
from InnerEarSegMRML.earPoints import earPointsFromMarkups, sideFromLabel  # noqa: E402


@pytest.fixture
def scene():
    scene = slicer.vtkMRMLScene()
    slicer.vtkMRMLSubjectHierarchyNode.ResolveSubjectHierarchy(scene)
    return scene


def point_list(scene, points_ras, labels=None):
    node = scene.AddNewNodeByClass("vtkMRMLMarkupsFiducialNode", "Ear points")
    for i, p in enumerate(points_ras):
        node.AddControlPoint(*p, labels[i] if labels else f"P-{i + 1}")
    return node


class NoEarUnlessPointsRunner(helpers.FakeRunner):
    """Behaves like ``innerear-seg segment`` on a scan without a findable ear: exit 3 without --roi-center."""

    def start(self, args, *, env=None):
        handle = super().start(args, env=env)
        if "--roi-center" not in args:
            handle.fail = "no inner ear found"
            original = handle._finish

            def finish():
                original()
                handle.code = EXIT_NO_EAR
            handle._finish = finish
            handle.errorOutput = lambda: "innerear-seg segment: error: no inner ear found: ... --roi-center"
        return handle


def test_points_become_lps_centres_and_their_labels_name_the_sides(scene):
    node = point_list(scene, [(30.0, -10.0, 5.0), (-31.0, -9.0, 4.0)], ["L", "right ear"])
    hints = earPointsFromMarkups(node)
    assert [h.centre_lps_mm for h in hints] == [(-30.0, 10.0, 5.0), (31.0, 9.0, 4.0)]
    assert [h.side for h in hints] == [Side.LEFT, Side.RIGHT]
    assert sideFromLabel("F-1") is None and sideFromLabel("left/right") is None


def test_a_point_under_a_transform_is_taken_in_world_coordinates(scene):
    node = point_list(scene, [(10.0, 0.0, 0.0)])
    transform = scene.AddNewNodeByClass("vtkMRMLLinearTransformNode")
    import vtk

    matrix = vtk.vtkMatrix4x4()
    matrix.SetElement(0, 3, 5.0)  # shifts the point by +5 mm along RAS x: world x = 15
    transform.SetMatrixTransformToParent(matrix)
    node.SetAndObserveTransformNodeID(transform.GetID())
    (hint,) = earPointsFromMarkups(node)
    assert hint.centre_lps_mm == (-15.0, 0.0, 0.0)


def test_points_that_name_only_some_sides_or_too_many_points_are_refused(scene):
    with pytest.raises(InputError, match="name both"):
        earPointsFromMarkups(point_list(scene, [(1, 2, 3), (4, 5, 6)], ["R", "P-2"]))
    with pytest.raises(InputError, match="holds 3 points"):
        earPointsFromMarkups(point_list(scene, [(1, 2, 3), (4, 5, 6), (7, 8, 9)]))


def test_no_ear_found_asks_for_points_and_the_run_with_points_succeeds(scene, tmp_path):
    runner = NoEarUnlessPointsRunner()
    logic = helpers.make_logic(tmp_path, runner)
    volume = helpers.add_volume_node(scene, helpers.small_ct())
    before = scene.GetNumberOfNodes()
    with pytest.raises(EarPointsNeeded, match="Place one point on each inner ear in 'Ear points'"):
        logic.process(volume)
    assert scene.GetNumberOfNodes() == before  # nothing added by the failed run
    points = point_list(scene, [(12.0, 3.0, -2.0), (-12.0, 3.0, -2.0)], ["L", "R"])
    segmentation = logic.process(volume, parameters=SegmentationParameters(earPoints=earPointsFromMarkups(points)))
    args = runner.handles[-1].args
    centres = [args[i + 1:i + 4] for i, a in enumerate(args) if a == "--roi-center"]
    assert [[float(v) for v in c] for c in centres] == [[-12.0, -3.0, -2.0], [12.0, -3.0, -2.0]]
    assert [args[i + 1] for i, a in enumerate(args) if a == "--roi-side"] == ["left", "right"]
    assert segmentation.GetSegmentation().GetNumberOfSegments() == 10


def test_the_real_command_line_says_no_ear_so_that_the_logic_asks_for_points(scene, tmp_path):
    from InnerEarSegLib.phantom.negatives import chest_like

    logic = InnerEarSegLogic(pythonExecutable=sys.executable, temporaryRoot=tmp_path)
    logic.pollIntervalS = 0.05
    volume = helpers.add_volume_node(scene, chest_like(5, size_xyz=(160, 160, 40)))
    with pytest.raises(EarPointsNeeded, match="no inner ear found"):
        logic.process(volume, device="cpu")
