"""The benchmarks' scoring functions on known answers, so a change of a shared contract cannot silently break them."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import SimpleITK as sitk

from InnerEarSegLib.labels import Side, Structure, label_value

REPO = Path(__file__).resolve().parents[2]


def _benchmark(name: str):
    sys.path.insert(0, str(REPO / "benchmarks"))
    try:
        spec = importlib.util.spec_from_file_location(f"innerear_bench_{name}", REPO / "benchmarks" / f"{name}.py")
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        return mod
    finally:
        sys.path.remove(str(REPO / "benchmarks"))


def _two_ear_truth() -> sitk.Image:
    labels = np.zeros((20, 20, 40), np.uint8)
    labels[5:10, 5:10, 5:10] = label_value(Side.RIGHT, Structure.COCHLEA)
    labels[10:15, 5:10, 5:10] = label_value(Side.RIGHT, Structure.LATERAL_CANAL)
    labels[5:10, 5:10, 25:30] = label_value(Side.LEFT, Structure.VESTIBULE)
    image = sitk.GetImageFromArray(labels)
    image.SetSpacing((0.3, 0.3, 0.3))
    return image


def test_generalisation_rows_score_each_ear_of_a_two_ear_label_map():
    gen = _benchmark("evaluate_generalisation")
    truth = _two_ear_truth()
    predicted = sitk.GetArrayFromImage(truth).copy()
    predicted[10:15, 5:10, 5:10] = label_value(Side.RIGHT, Structure.VESTIBULE)  # lateral canal named vestibule
    pred = sitk.GetImageFromArray(predicted)
    pred.CopyInformation(truth)
    result = SimpleNamespace(label_image=pred, ears=())
    rows = {r["side"]: r for r in gen.ear_rows(result, truth, truth, data="t", split="s", case="c")}
    assert set(rows) == {"right", "left"} and not rows["right"]["found"]
    assert rows["right"]["labyrinth_dice"] == 1.0 and rows["right"]["cochlea_dice"] == 1.0
    assert rows["right"]["lateral_dice"] == 0.0 and rows["left"]["vestibule_dice"] == 1.0


def test_a_rendering_draws_the_same_scans_whichever_renderings_run_beside_it():
    # Split across processes ("own mdct" in one, "foreign mdct,foreign cbct" in another), the benchmark must
    # score the same scans as one run of all three, or two models' rows are not comparable.
    gen = _benchmark("evaluate_generalisation")
    seeds = {r: gen.render_seed(5, r) for r in gen.RENDERINGS}
    assert len(set(seeds.values())) == 3 and seeds["foreign cbct"] == gen.render_seed(5, "foreign cbct")
    assert gen.render_seed(7, "own mdct") != seeds["own mdct"]
    with pytest.raises(SystemExit, match="unknown rendering"):
        gen.render_seed(5, "foreign mr")


def test_the_confusion_says_whether_a_canal_was_missed_or_misnamed():
    conf = _benchmark("real_shape_confusion")
    truth = sitk.GetArrayFromImage(_two_ear_truth())
    predicted = truth.copy()
    predicted[10:12, 5:10, 5:10] = label_value(Side.RIGHT, Structure.VESTIBULE)  # 2 of 5 lateral slices misnamed
    predicted[12:13, 5:10, 5:10] = 0  # 1 of 5 missed
    counts = conf.confusion(truth, predicted)
    lateral, vestibule = int(Structure.LATERAL_CANAL), int(Structure.VESTIBULE)
    share = counts[lateral] / counts[lateral].sum()
    assert share[vestibule] == pytest.approx(0.4) and share[0] == pytest.approx(0.2) and share[lateral] == pytest.approx(0.4)
    assert counts[0, 0] == 0 and counts[vestibule, vestibule] == 125
    assert "| lateral | 0.200 |" in conf.table(counts, "t")
    with pytest.raises(ValueError, match="two-ear"):
        conf.confusion(truth, np.full_like(truth, 7))


def test_recorded_real_shape_accuracy_is_the_report_medians_and_leaves_the_package_loadable(tiny_model, tmp_path):
    import json
    import shutil

    from InnerEarSegLib.model.package import load_model_package

    rec = _benchmark("record_accuracy")
    for suffix in (".safetensors", ".json"):
        shutil.copy(tiny_model.with_suffix(suffix), tmp_path / f"m{suffix}")

    def row(data, split, lateral, found=True):
        return {"data": data, "split": split, "found": found,
                **{f"{k}_dice": (lateral if k == "lateral" else 0.9) for k in rec.KEYS}}
    rows = [row("real shapes, own mdct", "report", 0.6), row("real shapes, own mdct", "report", 0.8),
            row("real shapes, own mdct", "report", 0.0, found=False),
            row("real shapes, own mdct", "development", 0.1),  # development rows are not the report's
            row("real shapes, foreign mdct, ear axes on head axes", "report", 0.1),  # the old placement is not
            row("own phantom", "report", 0.2)]
    entry = rec.record(tmp_path / "m.json", rows, "the command")
    own = entry["renderings"]["own mdct"]
    assert (own["ears"], own["found"], own["median_dice"]["lateral"]) == (3, 2, 0.6)
    assert list(entry["renderings"]) == ["own mdct"]
    stored = json.loads((tmp_path / "m.json").read_text())["accuracy"]["real_shapes_dice"]
    assert stored["command"] == "the command" and stored["renderings"] == entry["renderings"]
    load_model_package(tmp_path / "m.safetensors")  # the checksums still hold
    with pytest.raises(ValueError, match="no real-shape rows"):
        rec.record(tmp_path / "m.json", rows[3:], "x")


def test_recorded_validation_and_held_out_figures_come_from_the_benchmarks_outputs(tiny_model, tmp_path):
    import json
    import shutil

    rec = _benchmark("record_accuracy")
    for suffix in (".safetensors", ".json"):
        shutil.copy(tiny_model.with_suffix(suffix), tmp_path / f"m{suffix}")
    dice = {k: 0.5 for k in rec.KEYS}
    validation = {"classic": {"measured_on": "classic boxes", "argmax": dict(dice, lateral=0.8),
                              "paper_postprocess": dice, "no_gaussian_postprocess": dice},
                  "mix": {"measured_on": "mixed boxes", "argmax": dict(dice, lateral=0.6)}}

    def ear(case, lateral, pathologies=(), found=True, likert=(1, 1)):
        return {"case": case, "pathologies": list(pathologies), "found": found, "true_likert": likert[0],
                "suggested_likert": likert[1], **{f"{k}_dice_model_grid": 0.9 for k in rec.KEYS},
                "lateral_dice_model_grid": lateral}
    ears = [ear("case_5000", 0.8), ear("case_5000", 0.6, likert=(1, 2)), ear("case_5001", 0.0, ("scd",))]
    rows = [{"data": "real shapes, own mdct", "split": "report", "found": True, **{f"{k}_dice": 0.9 for k in rec.KEYS}}]
    rec.record(tmp_path / "m.json", rows, "cmd", validation=validation, held_out=(ears, "engine cmd"))
    acc = json.loads((tmp_path / "m.json").read_text())["accuracy"]
    assert acc["validation_dice"]["lateral"] == 0.8 and acc["measured_on"] == "classic boxes"
    assert acc["validation_dice_calibrated_randomised"] == {"dice": dict(dice, lateral=0.6), "measured_on": "mixed boxes"}
    held = acc["held_out_ct_dice"]
    assert held["normal_ears"] == 2 and held["mean_dice_normal_ears"]["lateral"] == 0.7  # pathological ear left out
    assert held["ears_found_right_side"] == "3/3" and held["suggested_likert_equals_true"] == "2/3"
    assert held["command"] == "engine cmd"
