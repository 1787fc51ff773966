"""Static checks of the Slicer extension's packaging and GUI wiring (no Slicer needed)."""
from __future__ import annotations

import ast
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
MODULE = REPO / "InnerEarSeg"
UI = MODULE / "Resources" / "UI" / "InnerEarSeg.ui"


def test_the_module_cmakelists_installs_every_file_of_the_module_folder():
    cmake = (MODULE / "CMakeLists.txt").read_text()
    listed = set(re.findall(r"^\s+([\w${}/.]+\.(?:py|ui|png|json|txt))\s*$", cmake, re.M))
    listed = {f.replace("${MODULE_NAME}", "InnerEarSeg") for f in listed}
    shipped = {str(p.relative_to(MODULE)) for p in MODULE.rglob("*")
               if p.is_file() and "__pycache__" not in p.parts and p.name != "CMakeLists.txt"}
    assert shipped <= listed, f"not installed: {sorted(shipped - listed)}"
    assert "WITH_GENERIC_TESTS" in cmake and "slicer_add_python_unittest(SCRIPT ${MODULE_NAME}.py)" in cmake
    for shared in ("InnerEarSegLib/*.py", "Resources/Models/*.safetensors", "Resources/Models/*.json",
                   "Resources/SampleData/*.nrrd"):
        assert shared in cmake


def test_the_extension_depends_on_pytorch_and_has_a_valid_catalog_entry():
    top = (REPO / "CMakeLists.txt").read_text()
    assert 'set(EXTENSION_DEPENDS "PyTorch")' in top and "add_subdirectory(InnerEarSeg)" in top
    entry = json.loads((REPO / "InnerEarSeg.json").read_text())
    assert entry["$schema"].endswith("slicer-extension-catalog-entry-schema-v1.0.2.json#")
    assert entry["category"] == "Segmentation" and entry["scm_url"].startswith("https://")
    assert entry["build_dependencies"] == ["PyTorch"]  # the Index rules are in test_extension_index.py


def test_the_icon_is_128_by_128():
    from PIL import Image

    with Image.open(MODULE / "Resources" / "Icons" / "InnerEarSeg.png") as icon:
        assert icon.size == (128, 128)


def parameter_node_fields() -> set[str]:
    tree = ast.parse((MODULE / "InnerEarSeg.py").read_text())
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "InnerEarSegParameterNode")
    return {n.target.id for n in cls.body if isinstance(n, ast.AnnAssign)}


def test_every_bound_widget_names_a_parameter_and_every_widget_the_code_uses_exists():
    root = ET.parse(UI).getroot()
    bound = {p.find("string").text for p in root.iter("property") if p.get("name") == "SlicerParameterName"}
    fields = parameter_node_fields()
    assert bound <= fields, f"bound to unknown parameters: {bound - fields}"
    assert fields - bound == {"modelPath", "ratingsFolder", "show3D"}  # bound by hand in the widget
    names = {w.get("name") for w in root.iter("widget")}
    source = (MODULE / "InnerEarSeg.py").read_text()
    used = set(re.findall(r"self\.ui\.(\w+)", source))
    for side in ("right", "left"):
        used |= {f"{side}ScoreComboBox", f"{side}CommentLineEdit", f"{side}SuggestedLabel", f"{side}TrustLabel"}
    assert used <= names, f"missing in the .ui: {used - names}"
    assert "reviewGridLayout" in {layout.get("name") for layout in root.iter("layout")}


def test_the_ui_restates_no_structure_name_or_count_the_catalogue_owns_them():
    from InnerEarSegLib.labels import STRUCTURES

    text = " ".join(t.text or "" for t in ET.parse(UI).getroot().iter("string")).lower()
    for structure in STRUCTURES:
        assert structure.display_name not in text and structure.key not in text, structure.key
    assert not re.search(r"\b(five|ten|5|10) (segments|structures)\b", text)


def test_the_panel_has_the_sections_users_of_mature_segmentation_modules_expect():
    root = ET.parse(UI).getroot()
    classes = {w.get("name"): w.get("class") for w in root.iter("widget")}
    assert classes["show3DButton"] == "qMRMLSegmentationShow3DButton"
    assert classes["logTextEdit"] == "QPlainTextEdit"
    assert {"modelInfoLabel", "checkDependenciesButton", "installDependenciesButton", "forceReinstallButton",
            "loadSampleButton", "ratingsFolderLineEdit"} <= classes.keys()
    assert not [p for p in root.iter("property") if p.get("name") in ("font", "styleSheet")], "standard styling"


def test_sample_data_checksum_is_the_recorded_one_and_matches_the_shipped_file():
    import hashlib
    import sys

    sys.path.insert(0, str(REPO / "InnerEarSeg"))
    from InnerEarSegMRML.paths import sampleDataPath, sampleDataSha256

    recorded = sampleDataSha256()
    assert recorded and len(recorded) == 64
    assert hashlib.sha256(sampleDataPath().read_bytes()).hexdigest() == recorded
