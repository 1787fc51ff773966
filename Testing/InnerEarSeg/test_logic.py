"""InnerEarSegLogic against a real MRML scene (``slicer-core`` wheel), without the Slicer application.

The segmentation process is replaced by a fake runner that behaves like ``innerear-seg segment
--progress json`` (progress lines, then ``labels.nii.gz`` + ``report.json`` in the output folder); the
test marked ``slow`` runs the real CLI on a small phantom.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

slicer = pytest.importorskip("slicer", reason="needs the slicer-core wheel (pip install slicer-core)")
import vtk  # noqa: E402  (after slicer: the wheel pins its vtk)

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "InnerEarSeg"))

from InnerEarSegLib.labels import all_labels  # noqa: E402
from InnerEarSegLib.progress import Cancelled, CancelToken  # noqa: E402
from InnerEarSegLogic import InnerEarSegLogic, SegmentationFailed, SegmentationParameters  # noqa: E402
from InnerEarSegMRML.geometry import orientedImageWorldPointsRas, volumeNodeToImage  # noqa: E402
from InnerEarSegMRML.importer import ensureConverterRules, terminologyEntries  # noqa: E402
from InnerEarSegLib.errors import InputError  # noqa: E402

LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0])


# --------------------------------------------------------------------------------------------- helpers
def rotation_xyz(degrees: tuple[float, float, float]) -> np.ndarray:
    ax, ay, az = np.radians(degrees)
    rx = np.array([[1, 0, 0], [0, np.cos(ax), -np.sin(ax)], [0, np.sin(ax), np.cos(ax)]])
    ry = np.array([[np.cos(ay), 0, np.sin(ay)], [0, 1, 0], [-np.sin(ay), 0, np.cos(ay)]])
    rz = np.array([[np.cos(az), -np.sin(az), 0], [np.sin(az), np.cos(az), 0], [0, 0, 1]])
    return rz @ ry @ rx


def small_ct(size_xyz=(48, 40, 32), spacing_mm=(0.6, 0.5, 0.7), rotation_deg=(0.0, 0.0, 0.0)) -> sitk.Image:
    """A CT-like image in HU (air, soft tissue, a bone slab), oblique when asked."""
    z, y, x = np.mgrid[0:size_xyz[2], 0:size_xyz[1], 0:size_xyz[0]]
    hu = np.full(x.shape, -1000, np.int16)
    hu[(x - size_xyz[0] / 2) ** 2 + (y - size_xyz[1] / 2) ** 2 < (size_xyz[1] / 2.2) ** 2] = 40
    hu[(np.abs(x - size_xyz[0] / 2) < 6) & (np.abs(y - size_xyz[1] / 2) < 8)] = 1400
    image = sitk.GetImageFromArray(hu)
    image.SetSpacing(spacing_mm)
    image.SetOrigin((-12.0, 30.5, -40.25))
    image.SetDirection(tuple(rotation_xyz(rotation_deg).ravel()))
    return image


def add_volume_node(scene, image: sitk.Image, name: str = "CT"):
    """A scalar volume node holding `image` (LPS) the way Slicer loads it (RAS)."""
    node = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", name)
    array = sitk.GetArrayFromImage(image)
    data = vtk.vtkImageData()
    data.SetDimensions(*image.GetSize())
    data.AllocateScalars(vtk.VTK_SHORT if array.dtype == np.int16 else vtk.VTK_FLOAT, 1)
    from vtk.util import numpy_support

    numpy_support.vtk_to_numpy(data.GetPointData().GetScalars())[:] = array.ravel()
    node.SetAndObserveImageData(data)
    direction = LPS_TO_RAS @ np.asarray(image.GetDirection()).reshape(3, 3) @ np.diag(image.GetSpacing())
    matrix = vtk.vtkMatrix4x4()
    for r in range(3):
        for c in range(3):
            matrix.SetElement(r, c, direction[r, c])
        matrix.SetElement(r, 3, (LPS_TO_RAS @ np.asarray(image.GetOrigin()))[r])
    node.SetIJKToRASMatrix(matrix)
    return node


def fake_labels_for(ct: sitk.Image) -> sitk.Image:
    """Two-ear labels on a 0.3 mm identity lattice near the CT centre: one cube per structure and ear."""
    centre = np.asarray(ct.TransformContinuousIndexToPhysicalPoint([(s - 1) / 2 for s in ct.GetSize()]))
    labels = np.zeros((20, 24, 60), np.uint8)  # (z, y, x)
    for info in all_labels():
        x0 = (0 if info.side.value == "right" else 32) + 5 * (int(info.structure) - 1)
        labels[4 + int(info.structure):12 + int(info.structure), 6:14, x0:x0 + 4] = info.value
    image = sitk.GetImageFromArray(labels)
    image.SetSpacing((0.3, 0.3, 0.3))
    image.SetOrigin(tuple(centre - np.array([30, 12, 10]) * 0.3))
    return image


def scene_node_ids(scene) -> list[str]:
    return [scene.GetNthNode(i).GetID() for i in range(scene.GetNumberOfNodes())]


class FakeHandle:
    """Behaves like the CLI: a few JSON progress lines, then the outputs (or an error, or nothing)."""

    def __init__(self, args, *, fail: str | None = None, hang: bool = False, lines: int = 3):
        self.args = list(args)
        self.ct_path, self.out_dir = Path(args[4]), Path(args[6])
        self.fail, self.hang = fail, hang
        self.pending = [json.dumps({"stage": stage, "fraction": f, "message": stage, "elapsed_s": f})
                        for stage, f in [("read", 0.05), ("locate", 0.2), ("predict", 0.6)][:lines]]
        self.killed = False
        self.code = None
        self.labels = None

    def readOutputLines(self):
        if self.pending:
            return [self.pending.pop(0)]
        if self.code is None and not self.hang and not self.killed:
            self._finish()
        return []

    def _finish(self):
        if self.fail:
            self.code = 1
            return
        ct = sitk.ReadImage(str(self.ct_path))
        self.ct = ct
        self.labels = fake_labels_for(ct)
        self.out_dir.mkdir(parents=True)
        sitk.WriteImage(self.labels, str(self.out_dir / "labels.nii.gz"))
        report = {"schema_version": 1, "case_id": "ct", "device": "cpu", "timings_s": {"total": 1.0},
                  "model": {"name": "fake", "version": "0", "sha256": "0", "architecture": "unet3d"}, "ears": []}
        (self.out_dir / "report.json").write_text(json.dumps(report))
        self.code = 0

    def returnCode(self):
        return None if self.pending else self.code

    def errorOutput(self):
        return "Traceback ...\ninnerear-seg segment: error: " + self.fail if self.fail else ""

    def kill(self):
        self.killed = True
        self.code = -9


class FakeRunner:
    def __init__(self, **handle_options):
        self.handle_options = handle_options
        self.handles: list[FakeHandle] = []

    def start(self, args, *, env=None):
        self.handles.append(FakeHandle(args, **self.handle_options))
        self.env = env
        return self.handles[-1]


@pytest.fixture(scope="module", autouse=True)
def converter_rules():
    ensureConverterRules()


@pytest.fixture
def scene():
    scene = slicer.vtkMRMLScene()
    slicer.vtkMRMLSubjectHierarchyNode.ResolveSubjectHierarchy(scene)
    return scene


def make_logic(tmp_path, runner) -> InnerEarSegLogic:
    logic = InnerEarSegLogic(processRunner=runner, pythonExecutable="python", temporaryRoot=tmp_path)
    logic.pollIntervalS = 0.0
    return logic


# ---------------------------------------------------------------------------------------------- tests
def test_a_volume_node_converts_to_the_same_lps_image_it_was_made_from(scene):
    image = small_ct(rotation_deg=(10.0, -20.0, 35.0))
    node = add_volume_node(scene, image)
    back = volumeNodeToImage(node)
    np.testing.assert_allclose(back.GetOrigin(), image.GetOrigin(), atol=1e-6)
    np.testing.assert_allclose(back.GetSpacing(), image.GetSpacing(), atol=1e-6)
    np.testing.assert_allclose(back.GetDirection(), image.GetDirection(), atol=1e-6)
    np.testing.assert_array_equal(sitk.GetArrayFromImage(back), sitk.GetArrayFromImage(image))


def test_a_ct_becomes_ten_named_segments_matching_the_label_map_voxel_for_voxel(scene, tmp_path):
    runner = FakeRunner()
    ct = small_ct(rotation_deg=(0.0, 0.0, 15.0))
    volume = add_volume_node(scene, ct)
    stages = []
    seg = make_logic(tmp_path, runner).process(volume, progress=lambda s, f, m: stages.append(s))

    written = runner.handles[0].ct  # what the process received: the CT in LPS, unchanged
    np.testing.assert_allclose(written.GetOrigin(), ct.GetOrigin(), atol=1e-5)
    np.testing.assert_allclose(written.GetDirection(), ct.GetDirection(), atol=1e-6)
    np.testing.assert_array_equal(sitk.GetArrayFromImage(written), sitk.GetArrayFromImage(ct))

    assert stages[:3] == ["read", "locate", "predict"]
    segmentation = seg.GetSegmentation()
    names = [segmentation.GetSegment(sid).GetName() for sid in segmentation.GetSegmentIDs()]
    assert names == [info.name for info in all_labels()]
    labels = runner.handles[0].labels
    for info in all_labels():
        segment = segmentation.GetSegment(segmentation.GetSegmentIdBySegmentName(info.name))
        np.testing.assert_allclose(segment.GetColor(), info.color_rgb, atol=1e-6)
        expected_ras = expected_points_ras(labels, info.value)
        actual_ras = orientedImageWorldPointsRas(segment.GetRepresentation("Binary labelmap"), segment.GetLabelValue())
        assert len(actual_ras) == len(expected_ras) > 0
        np.testing.assert_allclose(sorted_rows(actual_ras), sorted_rows(expected_ras), atol=1e-4)


def expected_points_ras(labels: sitk.Image, value: int) -> np.ndarray:
    """RAS centres (N, 3) of the voxels of `labels` equal to `value`, from SimpleITK's own geometry."""
    ijk = np.argwhere(sitk.GetArrayFromImage(labels) == value)[:, ::-1].astype(float)
    matrix = np.asarray(labels.GetDirection()).reshape(3, 3) @ np.diag(labels.GetSpacing())
    lps = np.asarray(labels.GetOrigin()) + ijk @ matrix.T
    if len(ijk):  # the vectorised maths agrees with SimpleITK
        np.testing.assert_allclose(lps[0], labels.TransformIndexToPhysicalPoint([int(v) for v in ijk[0]]), atol=1e-6)
    return lps @ LPS_TO_RAS


def sorted_rows(points: np.ndarray) -> np.ndarray:
    return points[np.lexsort(np.round(points, 3).T[::-1])]


def test_segments_have_closed_surfaces_terminology_and_the_input_as_reference_geometry(scene, tmp_path):
    volume = add_volume_node(scene, small_ct())
    seg = make_logic(tmp_path, FakeRunner()).process(volume)
    segmentation = seg.GetSegmentation()
    entries = terminologyEntries()
    for info in all_labels():
        segment_id = segmentation.GetSegmentIdBySegmentName(info.name)
        surface = vtk.vtkPolyData()
        assert seg.GetClosedSurfaceRepresentation(segment_id, surface)
        assert surface.GetNumberOfPoints() > 0
        segment = segmentation.GetSegment(segment_id)
        assert segment.GetTerminology() == entries[info.value]
        assert "SCT^123037004^Anatomical Structure" in entries[info.value]
    reference = seg.GetSegmentation().GetConversionParameter("Reference image geometry")
    assert reference  # set from the input volume
    assert json.loads(seg.GetAttribute("InnerEarSeg.Report"))["device"] == "cpu"


def test_the_segmentation_goes_into_the_study_of_the_input_volume(scene, tmp_path):
    volume = add_volume_node(scene, small_ct())
    sh = slicer.vtkMRMLSubjectHierarchyNode.GetSubjectHierarchyNode(scene)
    patient = sh.CreateSubjectItem(sh.GetSceneItemID(), "patient")
    study = sh.CreateStudyItem(patient, "study")
    sh.CreateItem(study, volume)  # what Slicer's DICOM import does (a bare scene makes no items itself)
    seg = make_logic(tmp_path, FakeRunner()).process(volume)
    assert sh.GetItemParent(sh.GetItemByDataNode(seg)) == study


def test_model_nodes_are_made_only_when_asked(scene, tmp_path):
    volume = add_volume_node(scene, small_ct())
    make_logic(tmp_path, FakeRunner()).process(volume)
    assert scene.GetNodesByClass("vtkMRMLModelNode").GetNumberOfItems() == 0
    make_logic(tmp_path, FakeRunner()).process(volume, createModels=True)
    models = scene.GetNodesByClass("vtkMRMLModelNode")
    names = sorted(models.GetItemAsObject(i).GetName() for i in range(models.GetNumberOfItems()))
    assert names == sorted(info.name for info in all_labels())
    assert all(models.GetItemAsObject(i).GetPolyData().GetNumberOfPoints() > 0 for i in range(models.GetNumberOfItems()))


def model_folders(scene) -> dict[int, list[str]]:
    """Subject-hierarchy folders that hold model nodes -> the names of their models."""
    sh = slicer.vtkMRMLSubjectHierarchyNode.GetSubjectHierarchyNode(scene)
    folders: dict[int, list[str]] = {}
    models = scene.GetNodesByClass("vtkMRMLModelNode")
    for i in range(models.GetNumberOfItems()):
        node = models.GetItemAsObject(i)
        folders.setdefault(sh.GetItemParent(sh.GetItemByDataNode(node)), []).append(node.GetName())
    return folders


def test_two_runs_with_models_into_one_segmentation_leave_one_folder_of_ten_models(scene, tmp_path):
    volume = add_volume_node(scene, small_ct())
    mine = scene.AddNewNodeByClass("vtkMRMLModelNode", "my own model")  # the user's: never touched
    logic = make_logic(tmp_path, FakeRunner())
    seg = logic.process(volume, createModels=True)
    first = model_folders(scene)
    assert logic.process(volume, seg, createModels=True) is seg
    folders = model_folders(scene)
    ours = {folder: names for folder, names in folders.items() if "my own model" not in names}
    assert len(ours) == 1 and list(ours) == [f for f in first if "my own model" not in first[f]]
    assert sorted(next(iter(ours.values()))) == sorted(info.name for info in all_labels())
    assert scene.IsNodePresent(mine)
    assert scene.GetNodesByClass("vtkMRMLModelNode").GetNumberOfItems() == 10 + 1


def test_surfaces_are_built_only_when_the_result_is_shown_in_3d(scene, tmp_path):
    volume = add_volume_node(scene, small_ct())
    seg = make_logic(tmp_path, FakeRunner()).process(volume, show3D=False)
    surface_name = slicer.vtkSegmentationConverter.GetClosedSurfaceRepresentationName()
    assert not seg.GetSegmentation().ContainsRepresentation(surface_name)
    seg = make_logic(tmp_path, FakeRunner()).process(volume, seg, show3D=True)
    assert seg.GetSegmentation().ContainsRepresentation(surface_name)


def test_an_existing_output_segmentation_is_reused_not_duplicated(scene, tmp_path):
    volume = add_volume_node(scene, small_ct())
    output = scene.AddNewNodeByClass("vtkMRMLSegmentationNode", "mine")
    output.GetSegmentation().AddEmptySegment("old", "old")
    seg = make_logic(tmp_path, FakeRunner()).process(volume, output)
    assert seg is output
    assert seg.GetSegmentation().GetNumberOfSegments() == 10
    assert scene.GetNodesByClass("vtkMRMLSegmentationNode").GetNumberOfItems() == 1


def test_the_process_gets_the_json_progress_command_and_the_library_on_its_path(scene, tmp_path):
    runner = FakeRunner()
    volume = add_volume_node(scene, small_ct())
    params = SegmentationParameters(gaussian=False, otsu=False, modelPath="/models/m.safetensors")
    make_logic(tmp_path, runner).process(volume, device="cpu", parameters=params)
    args = runner.handles[0].args
    assert args[1:4] == ["-m", "InnerEarSegLib.cli.main", "segment"]
    assert args[7:11] == ["--progress", "json", "--device", "cpu"]
    assert {"--no-gaussian", "--no-otsu"} <= set(args) and "--model" in args
    assert str(REPO) in runner.env["PYTHONPATH"].split(":")


def test_cancel_mid_run_kills_the_process_and_leaves_the_scene_and_disk_unchanged(scene, tmp_path):
    volume = add_volume_node(scene, small_ct())
    before = scene_node_ids(scene)
    runner = FakeRunner(hang=True)
    token = CancelToken()

    def progress(stage, fraction, message):
        if stage == "locate":
            token.cancel()

    with pytest.raises(Cancelled):
        make_logic(tmp_path, runner).process(volume, progress=progress, cancel=token)
    assert runner.handles[0].killed
    assert scene_node_ids(scene) == before
    assert list(tmp_path.iterdir()) == []


def test_a_failing_process_surfaces_its_message_and_adds_no_node(scene, tmp_path):
    volume = add_volume_node(scene, small_ct())
    before = scene_node_ids(scene)
    with pytest.raises(SegmentationFailed, match="model file is corrupt"):
        make_logic(tmp_path, FakeRunner(fail="model file is corrupt")).process(volume)
    assert scene_node_ids(scene) == before
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("case, message", [
    ("2d", "2-D"),
    ("mr", "HU|CT"),
    ("empty", "constant|empty|no voxels"),
    ("no-voxels", "no voxels"),
])
def test_bad_input_raises_a_clear_error_before_any_node_or_file_is_made(scene, tmp_path, case, message):
    if case == "2d":
        volume = add_volume_node(scene, small_ct(size_xyz=(64, 64, 1)))
    elif case == "mr":
        mr = sitk.GetArrayFromImage(small_ct()).astype(np.float32) + 1000.0  # all positive, MR-like
        image = sitk.GetImageFromArray((mr / 8).astype(np.int16))
        image.CopyInformation(small_ct())
        volume = add_volume_node(scene, image)
    elif case == "empty":
        image = sitk.Image(48, 40, 32, sitk.sitkInt16)
        volume = add_volume_node(scene, image)
    else:
        volume = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "nothing")
    before = scene_node_ids(scene)
    runner = FakeRunner()
    with pytest.raises(InputError, match=message):
        make_logic(tmp_path, runner).process(volume)
    assert scene_node_ids(scene) == before
    assert runner.handles == [] and list(tmp_path.iterdir()) == []


def test_ratings_go_into_one_table_node_and_read_back_unchanged(scene):
    from InnerEarSegLib.review import RatingRecord
    from InnerEarSegMRML.ratingsTable import recordsFromTableNode, updateRatingsTable

    first = RatingRecord("case01", "left", likert=2, suggested_likert=2, auto_status={"superior": "missing"},
                         reader_status={"superior": "missing"}, comment="canal, not seen", reader_id="JL",
                         time_iso="2026-11-26T20:00:00+00:00", model_version="1.0", blinded=True)
    table = updateRatingsTable(scene, [first])
    second = RatingRecord("case01", "right", likert=1, reader_id="JL", time_iso="2026-11-26T20:01:00+00:00")
    again = updateRatingsTable(scene, [second])
    assert again is table and scene.GetNodesByClass("vtkMRMLTableNode").GetNumberOfItems() == 1
    assert sorted(recordsFromTableNode(table), key=lambda r: r.side) == [first, second]


# ------------------------------------------------------------------ the real subprocess runner
FAKE_CLI = """#!{python}
import json, os, subprocess, sys, time
mode = {mode!r}
out = sys.argv[sys.argv.index("-o") + 1]
print(json.dumps({{"stage": "read", "fraction": 0.05, "message": "reading", "elapsed_s": 0.0}}), flush=True)
if mode == "fail":
    print("Traceback (most recent call last): ...", file=sys.stderr)
    print("innerear-seg segment: error: the model file is corrupt (SHA-256 mismatch)", file=sys.stderr)
    sys.exit(1)
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
with open({pid_file!r}, "w") as f:
    f.write(f"{{os.getpid()}} {{child.pid}}")
print(json.dumps({{"stage": "locate", "fraction": 0.2, "message": "locating", "elapsed_s": 0.1}}), flush=True)
time.sleep(60)
"""


def write_fake_cli(tmp_path, mode):
    script = tmp_path / f"fake_cli_{mode}"
    pid_file = tmp_path / "pids.txt"
    script.write_text(FAKE_CLI.format(python=sys.executable, mode=mode, pid_file=str(pid_file)))
    script.chmod(0o755)
    return script, pid_file


def process_alive(pid: int) -> bool:
    import os

    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie counts as dead
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX process groups")
def test_cancel_kills_the_real_process_and_its_children(scene, tmp_path):
    script, pid_file = write_fake_cli(tmp_path, "hang")
    work = tmp_path / "work"
    work.mkdir()
    logic = InnerEarSegLogic(pythonExecutable=str(script), temporaryRoot=work)
    logic.pollIntervalS = 0.02
    volume = add_volume_node(scene, small_ct())
    before = scene_node_ids(scene)
    token = CancelToken()
    seen = []

    def progress(stage, fraction, message):
        seen.append(stage)
        if stage == "locate":
            token.cancel()

    with pytest.raises(Cancelled):
        logic.process(volume, progress=progress, cancel=token)
    parent, child = (int(v) for v in pid_file.read_text().split())
    import time

    deadline = time.monotonic() + 5
    while (process_alive(parent) or process_alive(child)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert seen == ["read", "locate"]
    assert not process_alive(parent) and not process_alive(child)
    assert scene_node_ids(scene) == before and list(work.iterdir()) == []


def test_the_real_process_error_message_reaches_the_user(scene, tmp_path):
    script, _ = write_fake_cli(tmp_path, "fail")
    work = tmp_path / "work"
    work.mkdir()
    logic = InnerEarSegLogic(pythonExecutable=str(script), temporaryRoot=work)
    logic.pollIntervalS = 0.02
    volume = add_volume_node(scene, small_ct())
    before = scene_node_ids(scene)
    with pytest.raises(SegmentationFailed, match=r"exit code 1\):\n.*model file is corrupt"):
        logic.process(volume)
    assert scene_node_ids(scene) == before and list(work.iterdir()) == []


# ------------------------------------------------------------------ the real CLI, end to end
class KeepLabelsRunner:
    """The real runner, keeping a copy of labels.nii.gz before the logic removes its temporary folder."""

    def __init__(self, keep_dir: Path):
        from InnerEarSegMRML.process import SubprocessRunner

        self.inner, self.keep_dir = SubprocessRunner(), keep_dir

    def start(self, args, *, env=None):
        handle = self.inner.start(args, env=env)
        out_dir, keep_dir = Path(args[args.index("-o") + 1]), self.keep_dir
        original = handle.returnCode

        def return_code():
            code = original()
            if code == 0 and (out_dir / "labels.nii.gz").exists() and not (keep_dir / "labels.nii.gz").exists():
                import shutil

                shutil.copy(out_dir / "labels.nii.gz", keep_dir / "labels.nii.gz")
            return code

        handle.returnCode = return_code
        return handle


def small_phantom_ct():
    """The bundled sample (a small two-ear phantom CT, what the Slicer self-test segments), else a generated one."""
    import importlib

    sample = REPO / "Resources" / "SampleData" / "InnerEarPhantom_ct.nrrd"
    if sample.is_file():
        return sitk.ReadImage(str(sample)), None, {}
    try:
        generate = importlib.import_module("InnerEarSegLib.phantom.generate").generate
    except (ImportError, AttributeError) as exc:
        pytest.skip(f"full-CT phantom generator not available: {exc}")
    return generate(7, matrix=320, slices=96)


def bundled_model_or_skip() -> Path:
    """The bundled model package, or a skip while it has not been trained and committed yet.

    (A random tiny U-Net also runs through this test, but its noisy output makes the assess stage
    take minutes on a small machine, so it is not used here.)
    """
    from InnerEarSegLib.model import default_model_path

    model = Path(default_model_path())
    if not model.is_file():
        pytest.skip(f"no bundled model at {model}")
    return model


@pytest.mark.slow
def test_the_real_cli_segments_a_phantom_into_segments_matching_its_label_map(scene, tmp_path):
    bundled_model_or_skip()
    ct, _, _ = small_phantom_ct()
    volume = add_volume_node(scene, sitk.Cast(ct, sitk.sitkInt16))
    keep = tmp_path / "keep"
    keep.mkdir()
    work = tmp_path / "work"
    work.mkdir()
    logic = InnerEarSegLogic(processRunner=KeepLabelsRunner(keep), temporaryRoot=work)
    stages = []
    seg = logic.process(volume, device="cpu", createModels=True, progress=lambda s, f, m: stages.append(s))

    assert "done" in stages and list(work.iterdir()) == []
    segmentation = seg.GetSegmentation()
    assert [segmentation.GetNthSegment(i).GetName() for i in range(10)] == [i.name for i in all_labels()]
    labels = sitk.ReadImage(str(keep / "labels.nii.gz"))
    found = 0
    for info in all_labels():
        segment_id = segmentation.GetSegmentIdBySegmentName(info.name)
        segment = segmentation.GetSegment(segment_id)
        expected = expected_points_ras(labels, info.value)
        if not len(expected):
            continue
        found += 1
        actual = orientedImageWorldPointsRas(segment.GetRepresentation("Binary labelmap"), segment.GetLabelValue())
        assert len(actual) == len(expected)
        np.testing.assert_allclose(sorted_rows(actual), sorted_rows(expected), atol=1e-4)
        surface = vtk.vtkPolyData()
        seg.GetClosedSurfaceRepresentation(segment_id, surface)
        assert surface.GetNumberOfPoints() > 0
    models = scene.GetNodesByClass("vtkMRMLModelNode")
    assert models.GetNumberOfItems() == found
    report = json.loads(seg.GetAttribute("InnerEarSeg.Report"))
    assert {ear["side"] for ear in report["ears"]} == {"right", "left"}  # the locator found both ears
    assert found >= 8, "the bundled model should find most structures of a normal phantom"


def test_slicers_module_scanner_can_instantiate_the_logic_file_as_a_hidden_module():
    class ModuleStandIn:  # what Slicer passes: the qSlicerScriptedLoadableModule
        pass

    parent = ModuleStandIn()
    InnerEarSegLogic(parent)
    assert parent.hidden is True and parent.title


def test_post_processing_switches_become_cli_options_and_bad_sigma_is_refused():
    from InnerEarSegLogic import errorSummary

    assert SegmentationParameters().cliArguments() == []
    assert SegmentationParameters(sigmaVoxels=1.5, removeIslands=False).cliArguments() == ["--sigma", "1.5",
                                                                                          "--no-islands"]
    with pytest.raises(ValueError, match="sigmaVoxels must be a positive number"):
        SegmentationParameters(sigmaVoxels=0.0)
    stderr = "Traceback (most recent call last):\n  File x\nInputError: spacing 0 mm\n"
    assert errorSummary(stderr) == "InputError: spacing 0 mm"
    assert errorSummary("") == "(the process printed no message)"


def test_the_panels_switches_reach_the_process_as_the_librarys_options():
    from InnerEarSegLib.cli import segment as segment_cli
    from InnerEarSegLib.cli.main import build_parser

    params = SegmentationParameters(modelPath="/m/x.safetensors", gaussian=False, sigmaVoxels=2.5, otsu=False)
    args = build_parser().parse_args(["segment", "ct.nrrd", "-o", "out", *params.cliArguments()])
    assert segment_cli.options_from_args(args) == params.segmentOptions()


class StartupEnvironment:
    """What ``slicer.app.startupEnvironment()`` returns (a QProcessEnvironment): keys() and value()."""

    def __init__(self, values: dict[str, str]):
        self.values = values

    def keys(self):
        return list(self.values)

    def value(self, key):
        return self.values[key]


def test_the_process_starts_with_slicers_startup_environment_not_the_applications(scene, tmp_path, monkeypatch):
    startup = {"PATH": "/usr/bin:/bin", "HOME": "/home/reader", "PYTHONPATH": "/site/reader"}
    app = type("App", (), {"startupEnvironment": lambda self: StartupEnvironment(startup)})()
    monkeypatch.setattr(slicer, "app", app, raising=False)
    monkeypatch.setenv("SLICER_HOME", "/opt/Slicer-5.10")  # what the launcher adds for the application
    monkeypatch.setenv("LD_LIBRARY_PATH", "/opt/Slicer-5.10/lib/Slicer-5.10")
    runner = FakeRunner()
    volume = add_volume_node(scene, small_ct())
    logic = InnerEarSegLogic(processRunner=runner, pythonExecutable="python", temporaryRoot=tmp_path)
    logic.pollIntervalS = 0.0
    logic.process(volume)
    assert "SLICER_HOME" not in runner.env and "LD_LIBRARY_PATH" not in runner.env
    assert runner.env["PATH"] == "/usr/bin:/bin" and runner.env["HOME"] == "/home/reader"
    assert runner.env["PYTHONPATH"].split(os.pathsep) == [str(REPO), "/site/reader"]  # the library first
