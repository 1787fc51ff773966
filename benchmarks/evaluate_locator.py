"""Does the input gate + locator find every inner ear, and refuse everything else? One table per input class.

Every input goes through what ``innerear-seg segment`` does before the network runs: ``validate_ct``
(readable CT by its air / soft-tissue / bone populations), ``gate.check_resolution`` (voxels <=
1.25 mm) and ``locate_ears`` (labyrinth evidence >= 0.5, else :class:`NoEarFound`). Per input the
outcome is one of

* **found** -- every true ear reported on its side within 4 mm of its labyrinth centre, nothing else;
* **refused** -- an error naming the cause (with a remedy; the gate's or the locator's);
* **wrong** -- anything reported that is not a true ear of that side within 4 mm (the failure that
  matters: it would be segmented with exit code 0). A one-ear result of a two-ear input counts as
  **partial** (one ear missing, nothing wrong).

Input classes (phantom seeds 1000+ are never used to set the locator's evidence ramps, which come
from seeds 3000-3009; the training uses seeds >= 90000):

* phantoms of every protocol and storage (axial, flipped, coronal, oblique grid, cone-beam, one ear);
* heads turned up to 45 deg about z and tilted up to 30 deg;
* single-ear specimens in random orientations (one-ear crops rotated arbitrarily): the side must be
  right or reported as unknown;
* no-ear crops (mid-line, anterior, posterior parts of a head), MR-like volumes, chest-like CT,
  thick-slice (3 and 5 mm) re-acquisitions of the same heads;
* real scans: every DICOM series / NIfTI / NRRD under ``--real DIR`` (no truth: each reported ear is
  listed for a reader to check against the petrous bone; see benchmarks/real_scans.md).

Then the calibration table: of the ears reported with confidence in each bin, the share that are
real ears within 4 mm.

    .venv/bin/python benchmarks/evaluate_locator.py [--cases 8] [--real .work/real] [--json out.json]
    .venv/bin/python benchmarks/evaluate_locator.py --development   # seeds 3000-3009: the ramps' data
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import SimpleITK as sitk

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_locate import _euler_xyz_deg, _rotate_head, make_case  # noqa: E402

from InnerEarSegLib.errors import InputError, NoEarFound  # noqa: E402
from InnerEarSegLib.gate import check_resolution  # noqa: E402
from InnerEarSegLib.imageio import read_image_with_source, validate_ct  # noqa: E402
from InnerEarSegLib.locate import locate_ears  # noqa: E402
from InnerEarSegLib.phantom.negatives import chest_like, crop_mm, mr_like, reslice_mm  # noqa: E402

WITHIN_MM = 4.0
PROTOCOL_VARIANTS = ("axial", "flipped", "coronal", "oblique", "cbct", "one-ear", "one-ear-cbct", "rotated20")


def run_gate_and_locator(image: sitk.Image, predictor=None) -> dict:
    """What ``segment`` does before the network: the outcome, the ears reported and the refusal's text.

    With a `predictor`, the whole of ``segment`` runs (the network, and the box moved onto the network's
    labyrinth when the locator was 2-10 mm off): each ear's ``centre_lps_mm`` is then its final box centre,
    ``located_lps_mm`` the locator's.
    """
    try:
        if predictor is None:
            validate_ct(image)
            check_resolution(image)
            return {"ears": [loc.to_dict() for loc in locate_ears(image)], "refusal": None}
        from InnerEarSegLib.options import SegmentOptions
        from InnerEarSegLib.pipeline import segment

        result = segment(image, SegmentOptions(meshes=False), predictor=predictor)
        return {"ears": [{"side": e.side.value, "centre_lps_mm": [float(v) for v in e.box.centre_lps_mm],
                          "located_lps_mm": [float(v) for v in e.centre_lps_mm], "recentred_mm": e.recentred_mm,
                          "confidence": e.confidence, "source": e.source} for e in result.ears], "refusal": None}
    except NoEarFound as exc:
        return {"ears": [], "refusal": f"locator: {exc}"}
    except InputError as exc:
        return {"ears": [], "refusal": f"gate: {exc}"}


def judge(outcome: dict, truth: dict[str, np.ndarray], *, side_may_be_unknown: bool = False) -> dict:
    """Compare the reported ears with the truth {side: centre}; classify the input's outcome."""
    rows = []
    for ear in outcome["ears"]:
        true = truth.get(ear["side"])
        error = None if true is None else float(np.linalg.norm(np.asarray(ear["centre_lps_mm"]) - true))
        located = ear.get("located_lps_mm")
        located_error = (error if located is None or true is None
                         else float(np.linalg.norm(np.asarray(located) - true)))
        rows.append({**ear, "error_mm": error, "located_error_mm": located_error,
                     "correct": error is not None and error <= WITHIN_MM})
    n_correct = sum(r["correct"] for r in rows)
    if any(not r["correct"] for r in rows):
        verdict = "wrong"
    elif n_correct == len(truth) and truth:
        verdict = "found"
    elif rows:
        verdict = "partial"
    else:
        verdict = "refused"
    unknown_side = side_may_be_unknown and outcome["refusal"] is not None and "side cannot be told" in outcome["refusal"]
    return {"verdict": verdict, "ears": rows, "unknown_side": unknown_side, "refusal": outcome["refusal"]}


def _rotation_about_centre(ct: sitk.Image, truth: dict, rotation: np.ndarray) -> tuple[sitk.Image, dict]:
    """Rotate the content about the ears' midpoint onto a grid large enough to hold it."""
    pad = 40
    padded = sitk.ConstantPad(ct, [pad] * 3, [pad] * 3, -1000.0)
    return _rotate_head(padded, truth, rotation)


PHANTOM_GROUPS = ("protocols", "turned", "specimens", "negatives")


def phantom_inputs(first_seed: int, n: int, groups=PHANTOM_GROUPS):
    """(class, description, image, truth, side_may_be_unknown) for every phantom class in `groups`."""
    groups = set(groups)
    rng = np.random.default_rng(first_seed)
    for i in range(n if "protocols" in groups else 0):
        seed = first_seed + i
        variant = PROTOCOL_VARIANTS[i % len(PROTOCOL_VARIANTS)]
        ct, truth, desc = make_case(seed, variant)
        yield "phantom: every protocol and storage", f"{variant}: {desc}", ct, truth, False
    for i in range(n):
        seed = first_seed + 100 + i
        yaw = float(rng.choice([-1, 1]) * rng.uniform(25, 45))  # drawn whether or not the group runs, so
        tilt = float(rng.choice([-1, 1]) * rng.uniform(10, 30))  # every group sees the same poses
        if "turned" not in groups:
            continue
        ct, truth, desc = make_case(seed, "axial")
        rotated, moved = _rotation_about_centre(ct, truth, _euler_xyz_deg((tilt, 0.0, yaw)))
        yield "phantom: head turned <= 45 deg, tilted <= 30 deg", f"yaw {yaw:.0f} tilt {tilt:.0f}: {desc}", \
            rotated, moved, False
    for i in range(n):
        seed = first_seed + 200 + i
        angles = rng.uniform(-180, 180, 3)
        if "specimens" not in groups:
            continue
        ct, truth, desc = make_case(seed, "one-ear")
        rotated, moved = _rotation_about_centre(ct, truth, _euler_xyz_deg(angles))
        yield "specimen: one ear, random orientation", f"pose {np.round(angles).astype(int).tolist()}: {desc}", \
            rotated, moved, True
    for i in range((n + 1) // 2 if "negatives" in groups else 0):
        seed = first_seed + 300 + i
        ct, truth, desc = make_case(seed, ("axial", "cbct")[i % 2])
        c = np.mean(list(truth.values()), axis=0)
        o = np.asarray(ct.GetOrigin())
        e = o + np.asarray(ct.GetSpacing()) * (np.asarray(ct.GetSize()) - 1)
        for name, lo, hi in (("mid-line", [c[0] - 18, o[1], o[2]], [c[0] + 18, e[1], e[2]]),
                             ("anterior", o, [e[0], c[1] - 22, e[2]]),
                             ("posterior", [o[0], c[1] + 22, o[2]], e)):
            yield "no-ear crop of a head", f"{name}: {desc}", crop_mm(ct, lo, hi), {}, False
        yield "MR-like volume", f"T1-like of {desc}", mr_like(ct, seed), {}, False
        for thickness in (3.0, 5.0):
            yield "thick slices (3, 5 mm)", f"{thickness:g} mm of {desc}", reslice_mm(ct, thickness), {}, False
        yield "chest-like CT", f"seed {seed}", chest_like(seed), {}, False


def real_inputs(folder: Path):
    """Every readable volume under `folder` (DICOM series folders, NIfTI, NRRD, MHA); no truth."""
    seen = set()
    for path in sorted(folder.rglob("*")):
        if path.is_dir() or path.suffix.lower() in (".txt", ".md", ".py", ".ply", ".json", ".csv"):
            continue  # notes and the labyrinth surfaces are no scans
        target = path.parent if path.suffix.lower() not in (".gz", ".nii", ".nrrd", ".mha") else path
        if target in seen:
            continue
        seen.add(target)
        try:
            image, source = read_image_with_source(target)
        except InputError as exc:
            if "holds no DICOM series" not in str(exc):  # a folder of folders is no scan
                yield "real scans", f"{target.relative_to(folder)}: unreadable ({str(exc)[:80]})", None, {}, False
            continue
        yield "real scans", f"{target.relative_to(folder)} {source.description} size {image.GetSize()} spacing " \
                            f"{tuple(round(s, 2) for s in image.GetSpacing())}", image, {}, False


def markdown(results: list[dict]) -> str:
    lines = []
    classes = list(dict.fromkeys(r["class"] for r in results))
    lines += ["| input class | inputs | found | partial | refused | wrong | side unknown (asked) | centre error "
              "median / max mm | confidence of reported ears (min-max) | locator's own centre error median / max mm "
              "|", "|---|---|---|---|---|---|---|---|---|---|"]
    for cls in classes:
        group = [r for r in results if r["class"] == cls]
        count = {v: sum(r["verdict"] == v for r in group) for v in ("found", "partial", "refused", "wrong")}
        errors = [e["error_mm"] for r in group for e in r["ears"] if e["correct"]]
        located = [e["located_error_mm"] for r in group for e in r["ears"] if e.get("located_error_mm") is not None]
        conf = [e["confidence"] for r in group for e in r["ears"]]
        unknown = sum(r["unknown_side"] for r in group)
        lines.append(f"| {cls} | {len(group)} | {count['found']} | {count['partial']} | {count['refused']} | "
                     f"{count['wrong']} | {unknown} | "
                     + (f"{np.median(errors):.2f} / {max(errors):.2f}" if errors else "-") + " | "
                     + (f"{min(conf):.2f}-{max(conf):.2f}" if conf else "-") + " | "
                     + (f"{np.median(located):.2f} / {max(located):.2f}" if located else "-") + " |")
    bins = [(0.5, 0.7), (0.7, 0.9), (0.9, 1.0001)]
    lines += ["", "| reported confidence | ears reported | real ears within 4 mm, right side |", "|---|---|---|"]
    judged = [e for r in results if r["class"] != "real scans" for e in r["ears"]]
    for lo, hi in bins:
        ears = [e for e in judged if lo <= e["confidence"] < hi]
        share = f"{sum(e['correct'] for e in ears)}/{len(ears)}" if ears else "-"
        lines.append(f"| {lo:.1f}-{min(hi, 1.0):.1f} | {len(ears)} | {share} |")
    total = sum(e["correct"] for e in judged)
    lines.append(f"| all >= 0.5 | {len(judged)} | {total}/{len(judged)}"
                 + (f" ({100 * total / len(judged):.1f} %)" if judged else "") + " |")
    real = [r for r in results if r["class"] == "real scans"]
    if real:
        lines += ["", "| real scan | outcome |", "|---|---|"]
        for r in real:
            what = ("; ".join(f"{e['side']} ear at {e['centre_lps_mm']} conf {e['confidence']:.2f}" for e in r["ears"])
                    or (r["refusal"] or "")[:160].replace("|", "/"))
            lines.append(f"| {r['description']} | {what} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=8, help="inputs per phantom class (default 8)")
    ap.add_argument("--first-seed", type=int, default=1000)
    ap.add_argument("--development", action="store_true", help="seeds 3000-3009, the data the ramps were set on")
    ap.add_argument("--real", type=Path, help="folder of real scans (skipped with a message when absent)")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--with-model", action="store_true",
                    help="run the whole of segment with the bundled model (or --model): centre errors are then "
                         "those of the final box, after the network's re-centring")
    ap.add_argument("--model", type=Path, help="model package for --with-model (default: the bundled one)")
    ap.add_argument("--groups", default=",".join(PHANTOM_GROUPS),
                    help=f"phantom groups to run, comma-separated (default all: {','.join(PHANTOM_GROUPS)})")
    args = ap.parse_args(argv)
    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(2)
    first = 3000 if args.development else args.first_seed
    groups = [g.strip() for g in args.groups.split(",") if g.strip()]
    unknown = sorted(set(groups) - set(PHANTOM_GROUPS))
    if unknown:
        ap.error(f"--groups: unknown {', '.join(unknown)}; choose from {', '.join(PHANTOM_GROUPS)}")
    sources = [phantom_inputs(first, 10 if args.development else args.cases, groups)]
    if args.real is not None:
        if args.real.is_dir():
            sources.append(real_inputs(args.real))
        else:
            print(f"real scans: {args.real} is not a folder; skipped (fetch them as benchmarks/real_scans.md says)")
    predictor = None
    if args.with_model:
        from InnerEarSegLib.model.package import load_model_package
        from InnerEarSegLib.model.predictor import build_predictor
        from InnerEarSegLib.pipeline import default_model_path

        predictor = build_predictor(load_model_package(args.model or default_model_path()), "cpu")
    results = []
    for source in sources:
        for cls, desc, image, truth, may_be_unknown in source:
            outcome = ({"ears": [], "refusal": "unreadable"} if image is None
                       else run_gate_and_locator(image, predictor))
            result = {"class": cls, "description": desc, **judge(outcome, truth, side_may_be_unknown=may_be_unknown)}
            results.append(result)
            ears = ", ".join(f"{e['side']} {e['confidence']:.2f} "
                             + ("-" if e["error_mm"] is None else f"{e['error_mm']:.1f}mm") for e in result["ears"])
            print(f"{result['verdict']:8s} {cls[:28]:28s} {desc[:90]:90s} {ears} "
                  f"{(result['refusal'] or '')[:100]}", flush=True)
    print()
    print(markdown(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, default=float))
    return 1 if any(r["verdict"] == "wrong" for r in results if r["class"] != "real scans") else 0


if __name__ == "__main__":
    raise SystemExit(main())
