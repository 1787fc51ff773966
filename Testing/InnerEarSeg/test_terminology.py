"""The module's terminology, read through Slicer's own terminology logic (``slicer-core`` wheel).

Slicer's terminology selector names and colours a segment from the entry's type modifier when one is
chosen (``qSlicerTerminologyNavigatorWidget::nameFromTerminology`` and its colour code in Slicer's
``Modules/Loadable/Terminologies/Widgets``, read at commit 583e9b37d50ead7daf7b783dce465ccaecec8809): the
modifier's ``3dSlicerLabel``, else "<type>, <modifier>"; the modifier's colour, else the type's. That widget
is Qt code the wheel does not have, so `slicer_name_and_colour` applies the same rule to the values that the
real `vtkSlicerTerminologiesModuleLogic` loads from the file.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

slicer = pytest.importorskip("slicer", reason="needs the slicer-core wheel")

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "InnerEarSeg"))

from InnerEarSegLib.labels import all_labels  # noqa: E402
from InnerEarSegMRML.importer import terminologyEntries  # noqa: E402
from InnerEarSegMRML.paths import TERMINOLOGY_PATH  # noqa: E402

INVALID_COLOUR = (127, 127, 127)  # vtkSlicerTerminologyType::INVALID_COLOR
# Codes verified in a citable source (docs/slicer.md, "Segment terminology").
VERIFIED_SCT = {"Cochlea": "80169004", "Right": "24028007", "Left": "7771000", "Anatomical Structure": "123037004"}


def slicer_name_and_colour(entry) -> tuple[str, tuple[int, int, int]]:
    """Name and colour Slicer's terminology selector gives `entry` (rule quoted in the module docstring)."""
    typ, modifier = entry.GetTypeObject(), entry.GetTypeModifierObject()
    modified = typ.GetHasModifiers() and modifier.GetCodeValue()
    if typ.GetSlicerLabel() and not modified:
        name = typ.GetSlicerLabel()
    elif modifier.GetSlicerLabel():
        name = modifier.GetSlicerLabel()
    else:
        name = f"{typ.GetCodeMeaning()}, {modifier.GetCodeMeaning()}" if modified else typ.GetCodeMeaning()
    colour = tuple(modifier.GetRecommendedDisplayRGBValue()) if modified else INVALID_COLOUR
    if colour == INVALID_COLOUR:
        colour = tuple(typ.GetRecommendedDisplayRGBValue())
    return name, colour


@pytest.fixture(scope="module")
def loaded():
    logic = slicer.vtkSlicerTerminologiesModuleLogic()
    context = logic.LoadTerminologyFromFile(str(TERMINOLOGY_PATH))
    assert context == "InnerEarSeg inner ear structures"
    return logic, context


@pytest.mark.parametrize("info", all_labels(), ids=lambda info: info.name)
def test_each_segment_entry_gives_the_modules_name_and_colour_through_slicers_terminology_logic(loaded, info):
    logic, context = loaded
    entry = slicer.vtkSlicerTerminologyEntry()
    assert logic.DeserializeTerminologyEntry(terminologyEntries()[info.value], entry)
    assert logic.UpdateEntryFromLoadedTerminologies(entry, [context], [])
    name, colour = slicer_name_and_colour(entry)
    assert name == info.name  # "Right cochlea", not "Cochlea, Right"
    assert colour == tuple(int(round(255 * c)) for c in info.color_rgb)  # not Slicer's grey
    assert entry.GetTypeModifierObject().GetCodeMeaning().lower() == info.side.value


def test_every_modifier_of_the_file_carries_a_label_and_a_colour_like_slicers_kidney(loaded):
    logic, context = loaded
    category, typ, modifier = (slicer.vtkSlicerTerminologyCategory(), slicer.vtkSlicerTerminologyType(),
                               slicer.vtkSlicerTerminologyType())
    assert logic.GetNthCategoryInTerminology(context, 0, category)
    assert logic.GetNumberOfTypesInTerminologyCategory(context, category) == 5
    for t in range(5):
        assert logic.GetNthTypeInTerminologyCategory(context, category, t, typ)
        assert logic.GetNumberOfTypeModifiersInTerminologyType(context, category, typ) == 2
        for m in range(2):
            assert logic.GetNthTypeModifierInTerminologyType(context, category, typ, m, modifier)
            assert modifier.GetSlicerLabel() and tuple(modifier.GetRecommendedDisplayRGBValue()) != INVALID_COLOUR


def test_codes_are_verified_snomed_ct_or_the_project_local_scheme_never_an_invented_sct_code():
    doc = json.loads(TERMINOLOGY_PATH.read_text(encoding="utf-8"))
    category = doc["SegmentationCodes"]["Category"][0]
    coded = [category] + category["Type"] + [m for t in category["Type"] for m in t["Modifier"]]
    for code in coded:
        if code["CodingSchemeDesignator"] == "SCT":
            assert VERIFIED_SCT.get(code["CodeMeaning"]) == code["CodeValue"], code["CodeMeaning"]
        else:
            assert code["CodingSchemeDesignator"] == "99INNEREARSEG", code["CodeMeaning"]
    assert {t["CodeMeaning"]: t["CodingSchemeDesignator"] for t in category["Type"]}["Cochlea"] == "SCT"
