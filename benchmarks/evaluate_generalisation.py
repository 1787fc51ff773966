"""The bundled model beyond its own phantom, in one table (issue 13, item 6).

Rows, each scored on the segmentation's own 0.3 mm grid against labels evaluated at its voxel
centres (as ``evaluate_engine.py`` does), inside the scan's field of view:

* **own held-out phantoms** -- ``evaluate_engine.py``'s normal cases (seeds 5000+), automatic location;
* **real shapes, own rendering** -- the real labyrinth surfaces 01-40 (``real_labyrinths.py``) placed
  in a phantom head where the phantom's labyrinth was, turned as each lay in its own scanner
  (``--placement scanner``, the default; ``ear`` puts its centroid frame's axes on the head's axes,
  about 30 deg from any real ear, as this benchmark did until 2026-12-07: :func:`render_real`), painted with the phantom's
  tissue HU, otic capsule and acquisition physics (``InnerEarSegLib.phantom``), automatic location;
* **real shapes, foreign rendering** -- the same surfaces rendered by ``foreign_render.py`` (MDCT and
  cone-beam), automatic location;
* **box-centre error 0/2/4/6 mm and rotation 10/20 degrees** -- own phantoms, given centre (the
  true labyrinth centre plus the error in a random direction; the CT rotated about that centre);
* **trust flag** -- share of ears flagged on own normal phantoms (automatic location), and share of
  results with labyrinth Dice < 0.7 that are flagged. Such results are made on purpose: boxes
  9 mm off centre, foreign renderings, corrupted inputs (noise SD 400 HU, blur FWHM 2.5 mm, HU
  scaled by 0.55).

Development and report data are disjoint: the trust flag's thresholds are calibrated on the
*development* rows (phantom seeds 7000+, real subjects ``--dev-subjects``) and its rates are
reported on the rest. ``--rows`` re-tabulates stored rows with the current thresholds.

    .venv/bin/python benchmarks/evaluate_generalisation.py /work/main/.work/real/labyrinths \\
        --subjects 11-22 --dev-subjects 1-6 --cases 6 --dev-cases 3 --out gen.md --json gen.json
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

sys.path.insert(0, str(Path(__file__).parent))
from evaluate_engine import FIRST_SEED, PLAN, _dice_row, _extent_mask  # noqa: E402
from foreign_render import EarPose, _fluid_fraction, real_labels_fn, render_foreign, turned  # noqa: E402
from real_labyrinths import RealDataMissing, load_subjects, voxelise  # noqa: E402

from InnerEarSegLib.assess.trust import TrustOptions, flag_from_measures  # noqa: E402
from InnerEarSegLib.errors import NoEarFound  # noqa: E402
from InnerEarSegLib.labels import STRUCTURES, Side, split_two_ear  # noqa: E402
from InnerEarSegLib.options import RoiHint, SegmentOptions  # noqa: E402
from InnerEarSegLib.phantom.generate import generate, labels_on_grid  # noqa: E402
from InnerEarSegLib.pipeline import segment  # noqa: E402

DEV_FIRST_SEED = 7000
KEYS = ["labyrinth"] + [s.key for s in STRUCTURES]
OFFSETS_MM = (0.0, 2.0, 4.0, 6.0)
ROTATIONS_DEG = (10.0, 20.0)
CORRUPTIONS = ("noise", "blur", "hu_scale")
#: --placement: a real labyrinth turned as it lay in its own scanner, or its centroid frame on the head's axes
PLACEMENTS = ("scanner", "ear")


# --------------------------------------------------------------------------- scoring
def ear_rows(result, truth: sitk.Image, ct: sitk.Image, *, data: str, split: str, case: str, extra=None) -> list[dict]:
    """One row per ear of `truth` (two-ear values on `result.label_image`'s grid): Dice and trust measures."""
    inside = _extent_mask(ct, result.label_image)
    own = np.where(inside, sitk.GetArrayFromImage(result.label_image), 0)
    exact = np.where(inside, sitk.GetArrayFromImage(truth), 0)
    rows = []
    per_side = split_two_ear(exact)
    for side in (Side.RIGHT, Side.LEFT):
        if not per_side[side].any():
            continue
        ear = next((e for e in result.ears if e.side is side), None)
        row = {"data": data, "split": split, "case": case, "side": side.value, "found": ear is not None,
               **(extra or {})}
        _dice_row(row, "", own, exact, side, {})
        row["measures"] = ear.trust.measures if ear is not None and ear.trust is not None else None
        rows.append(row)
    return rows


def _segment(ct, predictor, roi=()):
    return segment(ct, SegmentOptions(meshes=False, roi=tuple(roi)), predictor=predictor)


# --------------------------------------------------------------------------- own phantoms
def normal_plan(n: int, first_seed: int) -> list[tuple[int, str]]:
    """The first `n` normal cases of evaluate_engine's plan (seed, protocol)."""
    normal = [(first_seed + i, proto) for i, (proto, path) in enumerate(PLAN) if not path]
    return normal[:n]


def own_phantom_rows(seed: int, protocol: str, predictor, split: str) -> tuple[list[dict], tuple]:
    ct, _, meta = generate(seed, protocol=protocol)
    result = _segment(ct, predictor)
    truth = labels_on_grid(seed, result.label_image)
    rows = ear_rows(result, truth, ct, data="own phantom", split=split, case=f"seed{seed}")
    return rows, (ct, meta)


def _rigid(centre_lps_mm, angle_deg: float, rng: np.random.Generator) -> sitk.Euler3DTransform:
    axis = rng.normal(size=3)
    axis /= np.linalg.norm(axis)
    t = sitk.VersorRigid3DTransform()
    t.SetCenter([float(v) for v in centre_lps_mm])
    t.SetRotation([float(v) for v in axis], float(np.radians(angle_deg)))
    return t


def _roi_reference(ct: sitk.Image, centre_lps_mm, edge_mm: float = 46.0) -> sitk.Image:
    sp = np.asarray(ct.GetSpacing())
    size = np.ceil(edge_mm / sp).astype(int)
    ref = sitk.Image([int(v) for v in size], sitk.sitkInt16)
    ref.SetSpacing(ct.GetSpacing())
    ref.SetOrigin([float(v) for v in np.asarray(centre_lps_mm) - 0.5 * (size - 1) * sp])
    return ref


def corrupt(ct: sitk.Image, kind: str, rng: np.random.Generator) -> sitk.Image:
    """A damaged copy of a CT: heavy noise, heavy blur, or HU compressed towards water."""
    a = sitk.GetArrayFromImage(ct).astype(np.float32)
    if kind == "noise":
        a += rng.normal(0, 400.0, a.shape).astype(np.float32)
    elif kind == "blur":
        a = ndimage.gaussian_filter(a, 2.5 / 2.355 / np.asarray(ct.GetSpacing())[::-1])
    elif kind == "hu_scale":
        a *= 0.55
    else:
        raise ValueError(f"corruption must be one of {CORRUPTIONS}, got {kind!r}")
    out = sitk.GetImageFromArray(np.clip(a, -1024, 3071).astype(np.int16))
    out.CopyInformation(ct)
    return out


def sweep_rows(seed: int, ct: sitk.Image, meta: dict, predictor, split: str) -> list[dict]:
    """Given-centre runs per ear: centre errors, rotations, a 9 mm error and corruptions."""
    rng = np.random.default_rng([seed, 2])
    rows = []
    conditions = ([("offset", o, 0.0, None) for o in OFFSETS_MM] + [("rotation", 0.0, r, None) for r in ROTATIONS_DEG]
                  + [("offset_9mm", 9.0, 0.0, None)] + [("corrupt", 0.0, 0.0, c) for c in CORRUPTIONS])
    for ear in meta["ears"]:
        side = Side(ear["side"])
        centre = np.asarray(ear["labyrinth_centre_lps_mm"], float)
        for kind, offset_mm, angle, corruption in conditions:
            direction = rng.normal(size=3)
            box_centre = centre + offset_mm * direction / np.linalg.norm(direction)
            t = _rigid(centre, angle, rng)
            ref = _roi_reference(ct, box_centre)
            roi_ct = sitk.Resample(ct, ref, t, sitk.sitkLinear, -1000.0, sitk.sitkInt16)
            if corruption:
                roi_ct = corrupt(roi_ct, corruption, rng)
            result = _segment(roi_ct, predictor, [RoiHint(tuple(box_centre), side)])
            truth = _rotated_truth(seed, result.label_image, t)
            rows += ear_rows(result, truth, roi_ct, data="own phantom, given centre", split=split,
                             case=f"seed{seed}", extra={"condition": kind, "offset_mm": offset_mm,
                                                        "rotation_deg": angle, "corruption": corruption})
    return rows


def _rotated_truth(seed: int, reference: sitk.Image, t: sitk.Transform) -> sitk.Image:
    """Exact labels of `seed` at T(x) for every voxel centre x of `reference` (what a rotated CT shows there)."""
    m = np.asarray(t.GetMatrix()).reshape(3, 3)
    moved = sitk.Image(reference.GetSize(), sitk.sitkUInt8)
    moved.SetSpacing(reference.GetSpacing())
    moved.SetOrigin(t.TransformPoint(reference.GetOrigin()))
    moved.SetDirection(tuple((m @ np.asarray(reference.GetDirection()).reshape(3, 3)).ravel()))
    out = labels_on_grid(seed, moved)
    out.CopyInformation(reference)
    return out


# --------------------------------------------------------------------------- real shapes
def own_render_real(labs: dict, seed: int, protocol: str, *, ear_turns: dict | None = None) -> tuple[sitk.Image, dict]:
    """Real labyrinths in a phantom head, painted and acquired with the phantom's own physics.

    Each sits where the phantom's labyrinth was, turned by ``ear_turns[side]`` within the phantom's ear
    frame (whose axes are the head's, give or take the ear's own 4 deg), in the phantom's own bone.
    """
    from InnerEarSegLib.phantom.case import build_scene, stream
    from InnerEarSegLib.phantom.generate import _full_grid
    from InnerEarSegLib.phantom.physics import apply_physics, draw_physics_params
    from InnerEarSegLib.phantom.render import _paint, render

    scene, _ = build_scene(seed, {Side.RIGHT: (), Side.LEFT: ()})
    phys = draw_physics_params(stream(seed, "physics"), protocol, mode="full")
    if protocol == "mdct":
        inplane = float(stream(seed, "fov").uniform(0.3, 0.45))
        phys["spacing_mm"] = [inplane, inplane, phys["spacing_mm"][2]]
    grid = _full_grid(scene, phys, "both", 512, 120, stream(seed, "fov"))
    hu, phantom_labels, blocks = render(grid, scene, head_blur_fwhm_mm=phys["psf_fwhm_mm"])
    labels_on = real_labels_fn(labs)
    poses = {}
    turns = ear_turns or {}
    for ear, block in zip(scene.ears, blocks):
        pose = EarPose(ear.side, ear.rot @ turns.get(ear.side, np.eye(3)), ear.shift)
        poses[ear.side.value] = (pose.rot, pose.shift)
        sub = grid.sub_grid(*[[s.start for s in block], [s.stop for s in block]])
        out, t = hu[block], scene.tissue_hu
        old = ndimage.binary_dilation(phantom_labels[block] > 0, iterations=2)
        _paint(out, old.astype(np.float32), t["otic_capsule"])  # the phantom's own labyrinth filled with capsule
        _, frac = _fluid_fraction(labels_on, sub, pose, 2)
        sigma = [ear.surroundings.get("capsule_sigma_mm", 1.2) / s for s in sub.spacing_mm[::-1]]
        capsule = np.clip(ndimage.gaussian_filter(frac, sigma, mode="nearest") / np.float32(0.035), 0.0, 1.0)
        _paint(out, capsule, t["otic_capsule"])
        _paint(out, frac, t["fluid"])  # partial volume from the twice finer voxelisation
    centre = np.asarray(grid.origin_lps_mm) + 0.5 * (np.array(grid.shape_zyx[::-1]) - 1) * np.asarray(grid.spacing_mm)
    hu = apply_physics(hu, grid, phys, isocentre_world_mm=centre, rng=np.random.default_rng(phys["seed"]),
                       blur_blocks=blocks)
    return grid.image(np.rint(hu).astype(np.int16)), {"poses": poses, "protocol": protocol}


def real_truth(labs: dict, poses: dict, reference: sitk.Image) -> sitk.Image:
    """Two-ear labels of the real labyrinths at their poses on `reference`'s grid."""
    out = np.zeros(reference.GetSize()[::-1], np.uint8)
    for side, lab in labs.items():
        rot, shift = poses[side.value]
        vals = voxelise(lab, reference, rot, shift)
        np.copyto(out, (vals + side.label_offset).astype(np.uint8), where=vals > 0)
    img = sitk.GetImageFromArray(out)
    img.CopyInformation(reference)
    return img


#: Each rendering's place in a subject pair's seed. Fixed by name, not by the order of --renderings, so one
#: rendering split across processes draws the same scans as in one run (until 2026-12-03 the seed was the
#: rendering's position in the list, and a run of "foreign mdct,foreign cbct" drew other scans).
RENDERINGS = ("own mdct", "foreign mdct", "foreign cbct")


def render_seed(first_subject: int, rendering: str) -> int:
    """The seed of one rendering of the pair starting at `first_subject`."""
    if rendering not in RENDERINGS:
        raise SystemExit(f"unknown rendering {rendering!r}; choose from {', '.join(RENDERINGS)}")
    return 100 * first_subject + RENDERINGS.index(rendering)


def render_real(labs: dict, rendering: str, seed: int, placement: str = "scanner") -> tuple[sitk.Image, dict]:
    """CT of two real labyrinths ({side: RealLabyrinth}) in `rendering`; meta holds their ``poses``.

    ``placement="scanner"``: each labyrinth turned as it lay in its own scanner (``scanner_turn``) inside the
    rendering's head-aligned temporal bone; ``"ear"``: its centroid frame on the head's axes. ``poses`` in
    the meta include the turn.
    """
    turns = {side: lab.scanner_turn() for side, lab in labs.items()} if placement == "scanner" else {}
    if rendering.startswith("own"):
        return own_render_real(labs, seed, rendering.split()[-1], ear_turns=turns)
    ct, _, meta = render_foreign(turned(real_labels_fn(labs), turns), rendering.split()[-1], seed)
    meta["poses"] = {k: (rot @ turns.get(Side(k), np.eye(3)), shift) for k, (rot, shift) in meta["poses"].items()}
    return ct, meta


def real_rows(pair, rendering: str, seed: int, predictor, split: str, *, placement: str = "scanner") -> list[dict]:
    labs = {Side.RIGHT: pair[0], Side.LEFT: pair[1]}
    data = real_data_name(rendering, placement)
    ct, meta = render_real(labs, rendering, seed, placement)
    case = f"subjects {pair[0].subject:02d}/{pair[1].subject:02d}"
    try:
        result = _segment(ct, predictor)
    except NoEarFound as exc:
        # Automatic location refused: no segmentation, which scores Dice 0 for every ear (kept in the medians).
        return [{"data": data, "split": split, "case": case, "side": side.value,
                 "found": False, "refused": str(exc)[:200], "measures": None, "labyrinth_dice": 0.0,
                 **{f"{s.key}_dice": 0.0 for s in STRUCTURES}} for side in labs
                if side.value in meta.get("ears_in_view", [sd.value for sd in labs])]
    truth = real_truth(labs, meta["poses"], result.label_image)
    return ear_rows(result, truth, ct, data=data, split=split, case=case)


def real_data_name(rendering: str, placement: str) -> str:
    """Row name of real shapes in `rendering`; the ear-frame placement is named as such."""
    return f"real shapes, {rendering}" + ("" if placement == "scanner" else ", ear axes on head axes")


# --------------------------------------------------------------------------- table
def _stat(rows, key):
    vals = [r[f"{key}_dice"] for r in rows if r.get(f"{key}_dice") is not None]
    return statistics.median(vals) if vals else float("nan")


def _flag(row, options):
    return "missing" if row["measures"] is None else flag_from_measures(row["measures"], options).flag


def markdown(rows: list[dict], options: TrustOptions) -> str:
    groups = {}
    for r in rows:
        if r["data"] == "own phantom, given centre":
            if r["condition"] in ("offset", "rotation"):
                name = f"own phantom, centre error {r['offset_mm']:g} mm, rotation {r['rotation_deg']:g}°"
            else:
                continue
        else:
            name = r["data"]
        groups.setdefault((name, r["split"]), []).append(r)
    lines = ["| data | split | ears | " + " | ".join(f"{k} (median Dice)" for k in KEYS) + " | flagged |",
             "|---|---|---|" + "---|" * (len(KEYS) + 1)]
    for (name, split), group in sorted(groups.items(), key=lambda kv: (kv[0][1] != "report", kv[0][0])):
        flagged = sum(_flag(r, options) != "plausible" for r in group)
        lines.append(f"| {name} | {split} | {len(group)} | " + " | ".join(f"{_stat(group, k):.3f}" for k in KEYS)
                     + f" | {flagged}/{len(group)} |")
    lines += ["", "Trust flag (thresholds: TrustOptions defaults):", ""]
    for split in ("development", "report"):
        part = [r for r in rows if r["split"] == split]
        normal = [r for r in part if r["data"] == "own phantom"]
        bad = [r for r in part if r["labyrinth_dice"] < 0.7]
        n_norm = sum(_flag(r, options) != "plausible" for r in normal)
        n_bad = sum(_flag(r, options) != "plausible" for r in bad)
        lines.append(f"- {split}: flagged on own normal phantoms {n_norm}/{len(normal)}; flagged among results with "
                     f"labyrinth Dice < 0.7: {n_bad}/{len(bad)}; all results flagged "
                     f"{sum(_flag(r, options) != 'plausible' for r in part)}/{len(part)}")
    return "\n".join(lines) + "\n"


def _range(text: str) -> list[int]:
    lo, _, hi = text.partition("-")
    return list(range(int(lo), int(hi or lo) + 1))


def _renderings(text: str) -> tuple[str, ...]:
    """--renderings checked when the arguments are read, before any scan is made."""
    chosen = tuple(r.strip() for r in text.split(","))
    for rendering in chosen:
        render_seed(0, rendering)
    return chosen


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder", type=Path, nargs="?", default=Path("/work/main/.work/real/labyrinths"),
                    help="real labyrinth surfaces (real_labyrinths.py); absent: the real rows are skipped")
    ap.add_argument("--subjects", type=_range, default=_range("11-22"), help="report subjects, e.g. 11-40")
    ap.add_argument("--dev-subjects", type=_range, default=_range("1-6"), help="development subjects")
    ap.add_argument("--cases", type=int, default=6, help="held-out normal phantoms (seeds 5000+)")
    ap.add_argument("--dev-cases", type=int, default=3, help="development normal phantoms (seeds 7000+)")
    ap.add_argument("--sweep-cases", type=int, default=2, help="phantoms per split with the centre/rotation sweep")
    ap.add_argument("--renderings", type=_renderings, default=RENDERINGS,
                    help="comma-separated, from: " + ", ".join(RENDERINGS))
    ap.add_argument("--placement", choices=PLACEMENTS, default="scanner",
                    help="how a real labyrinth is turned in the head: as it lay in its own scanner (default), or "
                         "with its centroid frame's axes on the head's axes (about 30 deg from real ears)")
    ap.add_argument("--model", type=Path)
    ap.add_argument("--rows", type=Path, help="re-tabulate these stored rows instead of running")
    ap.add_argument("--out", type=Path)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    if args.rows:
        rows = json.loads(args.rows.read_text())
    else:
        rows = run(args)
    text = markdown(rows, TrustOptions())
    print(text)
    if args.out:
        args.out.write_text(text)
    return 0


def run(args) -> list[dict]:
    from InnerEarSegLib.model.package import load_model_package
    from InnerEarSegLib.model.predictor import build_predictor
    from InnerEarSegLib.pipeline import default_model_path

    predictor = build_predictor(load_model_package(args.model or default_model_path()), "cpu")
    rows: list[dict] = []
    t0 = time.perf_counter()

    def add(new):
        rows.extend(new)
        for r in new:
            print(json.dumps({k: (round(v, 3) if isinstance(v, float) else v) for k, v in r.items()
                              if k != "measures"}), f"{time.perf_counter() - t0:.0f}s", flush=True)
        if args.json:
            args.json.write_text(json.dumps(rows, indent=1))

    for split, n, first in (("development", args.dev_cases, DEV_FIRST_SEED), ("report", args.cases, FIRST_SEED)):
        for i, (seed, protocol) in enumerate(normal_plan(n, first)):
            new, (ct, meta) = own_phantom_rows(seed, protocol, predictor, split)
            add(new)
            if i < args.sweep_cases:
                add(sweep_rows(seed, ct, meta, predictor, split))
    try:
        subjects = {s.subject: s for s in load_subjects(args.folder, sorted(set(args.subjects + args.dev_subjects)))}
    except RealDataMissing as err:
        print(f"real rows skipped: {err}")
        return rows
    for split, chosen in (("development", args.dev_subjects), ("report", args.subjects)):
        ids = [s for s in chosen if s in subjects]
        for k in range(0, len(ids) - 1, 2):
            pair = (subjects[ids[k]], subjects[ids[k + 1]])
            for rendering in args.renderings:
                add(real_rows(pair, rendering, render_seed(ids[k], rendering), predictor, split,
                              placement=args.placement))
    return rows


if __name__ == "__main__":
    sys.exit(main())
