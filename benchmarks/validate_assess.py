"""Validate the suggested Likert score on a phantom cohort with known defects.

Each ear is a phantom ROI box (``InnerEarSegLib.phantom.generate_roi``, labels only are used) with one
kind of defect whose true Likert score is known:

* ``normal``      no pathology (true score 1);
* ``benign``      a pathology that loses nothing: dehiscent superior canal, otosclerosis, fewer cochlear
                  turns, incomplete partition (Mondini), hypoplastic canal, cochlear implant (score 1);
* ``phantom``     the generator's own defects: missing canal(s), field of view cutting the superior
                  canal, common cavity (its meta ``likert``);
* ``deleted``     1-4 structures deleted from the true label map (score 1 + k, at most 4);
* ``truncated``   1-2 structures partly removed: a canal loses the top of its arc (the 30 % of it farthest
                  along the canal from the vestibule), or the cochlea one side of its modiolus (each
                  counts as lost, as the paper's reader counted it);
* ``disorganised`` the labyrinth cut into many fragments by 0.6 mm gaps every 1.8 mm (score 4).

Every ear is assessed twice: on its per-structure label map and on the binarised mask (split
geometrically first). Prints the confusion matrices (true x suggested) and writes a JSON summary.

Usage::

    .venv/bin/python benchmarks/validate_assess.py --n 120 --json validate_assess.json
"""
from __future__ import annotations

import argparse
import json
import logging
import time

import numpy as np
import SimpleITK as sitk

from scipy import ndimage

from InnerEarSegLib.assess import assess_ear
from InnerEarSegLib.assess.evidence import geodesic_distance_mm
from InnerEarSegLib.labels import Side, Structure

KINDS = ("normal", "benign", "phantom", "deleted", "truncated", "disorganised")
BENIGN = ("scd", "otosclerosis", "fewer_turns", "incomplete_partition", "hypoplastic_canal", "implant")
PHANTOM_DEFECTS = (("missing_canal",), ("missing_canal", "missing_canal"), ("incomplete_fov",),
                   ("common_cavity",), ("missing_canal", "scd"))
SPACING = (0.3, 0.3, 0.3)


def truncate(labels: np.ndarray, structure: Structure) -> np.ndarray:
    """Remove the part of `structure` farthest from the vestibule (canal arc top) or half the cochlea."""
    out = labels.copy()
    idx = np.argwhere(labels == structure)
    if structure is Structure.COCHLEA:
        centred = idx - idx.mean(axis=0)
        _, vecs = np.linalg.eigh(np.cov(centred.T))
        cut = centred @ vecs[:, 1] > 0  # a plane through the modiolus axis: half of every turn
    else:  # the top of the arc: the canal's part farthest along it from where it meets the vestibule
        canal = labels == structure
        seeds = ndimage.binary_dilation(labels == Structure.VESTIBULE, np.ones((3, 3, 3), bool)) & canal
        d = geodesic_distance_mm(canal, seeds, SPACING)[tuple(idx.T)]
        d = np.where(np.isfinite(d), d, d[np.isfinite(d)].max() if np.isfinite(d).any() else 0.0)
        cut = d > 0.7 * d.max()
    out[tuple(idx[cut].T)] = 0
    return out


def fragment(labels: np.ndarray) -> np.ndarray:
    """Cut the labyrinth into pieces: 2-voxel gaps every 6 voxels along all three axes."""
    out = labels.copy()
    for axis in range(3):
        k = np.arange(labels.shape[axis]) % 6 < 2
        sl = [slice(None)] * 3
        sl[axis] = k
        out[tuple(sl)] = 0
    return out


def make_case(i: int, seed0: int, rng: np.random.Generator) -> dict:
    kind = KINDS[i % len(KINDS)]
    side = Side.LEFT if (i // len(KINDS)) % 2 == 0 else Side.RIGHT
    seed = seed0 + i
    pathologies: tuple = ()
    if kind == "benign":
        pathologies = (BENIGN[(i // len(KINDS)) % len(BENIGN)],)
    elif kind == "phantom":
        pathologies = PHANTOM_DEFECTS[(i // len(KINDS)) % len(PHANTOM_DEFECTS)]
    # the module path, not the package attribute: `phantom.generate` is both a module and a function
    from InnerEarSegLib.phantom.generate import generate_roi

    _, labels_img, meta = generate_roi(seed, side, pathologies=pathologies)
    labels = sitk.GetArrayFromImage(labels_img)
    truth = int(meta["likert"])
    changed: list[str] = []
    if kind == "deleted":
        k = int(rng.integers(1, 5))
        for s in rng.choice(5, size=k, replace=False) + 1:
            labels[labels == s] = 0
            changed.append(Structure(int(s)).key)
        truth = min(1 + k, 4)
    elif kind == "truncated":
        k = int(rng.integers(1, 3))
        choices = rng.choice([1, 3, 3, 4, 5], size=k, replace=False)  # superior twice as likely, as in the paper
        for s in dict.fromkeys(int(c) for c in choices):
            labels = truncate(labels, Structure(s))
            changed.append(Structure(s).key)
        truth = min(1 + len(changed), 4)
    elif kind == "disorganised":
        labels = fragment(labels)
        truth = 4
    return {"index": i, "seed": seed, "side": side.value, "kind": kind, "pathologies": list(pathologies),
            "changed": changed, "truth": truth, "labels": labels}


def confusion(pairs) -> np.ndarray:
    m = np.zeros((4, 4), int)
    for t, s in pairs:
        m[t - 1, s - 1] += 1
    return m


def format_matrix(m: np.ndarray, title: str) -> str:
    lines = [f"{title}", "", "| true \\ suggested | 1 | 2 | 3 | 4 |", "|---|---|---|---|---|"]
    for t in range(4):
        lines.append(f"| **{t + 1}** | " + " | ".join(str(v) for v in m[t]) + " |")
    acc = np.trace(m) / max(m.sum(), 1)
    lines += ["", f"agreement: {np.trace(m)}/{m.sum()} = {100 * acc:.1f} %"]
    return "\n".join(lines)


def _cached_case(i: int, args, rng) -> dict:
    """make_case, or its saved copy in --cache (the rng is advanced the same way either way)."""
    import os

    state = rng.bit_generator.state
    if args.cache:
        path = os.path.join(args.cache, f"ear_{args.seed0}_{i:04d}.npz")
        if os.path.exists(path):
            with np.load(path, allow_pickle=False) as z:
                case = json.loads(str(z["meta"]))
                case["labels"] = z["labels"]
            rng.bit_generator.state = json.loads(str(np.load(path)["rng_after"]))
            return case
    case = make_case(i, args.seed0, rng)
    if args.cache:
        os.makedirs(args.cache, exist_ok=True)
        meta = {k: v for k, v in case.items() if k != "labels"}
        np.savez_compressed(path, labels=case["labels"], meta=json.dumps(meta),
                            rng_after=json.dumps(rng.bit_generator.state), rng_before=json.dumps(state))
    return case


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=120, help="number of ears")
    parser.add_argument("--seed0", type=int, default=5000, help="first phantom seed")
    parser.add_argument("--json", help="write the per-ear results and matrices here")
    parser.add_argument("--markdown", help="write the confusion matrices as Markdown here")
    parser.add_argument("--cache", help="folder to keep the generated cohort in (reused when present)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    rng = np.random.default_rng(args.seed0)
    results, t0 = [], time.perf_counter()
    timing = {"labels": 0.0, "binary": 0.0}
    for i in range(args.n):
        case = _cached_case(i, args, rng)
        labels = case.pop("labels")
        t = time.perf_counter()
        a = assess_ear(labels, SPACING, side=case["side"])
        timing["labels"] += time.perf_counter() - t
        t = time.perf_counter()
        b = assess_ear(labels > 0, SPACING, binary=True, side=case["side"])
        timing["binary"] += time.perf_counter() - t
        case.update(labels_likert=a.likert, labels_lost=a.lost, binary_likert=b.likert, binary_lost=b.lost,
                    labels_missing=[s.structure for s in a.structures if s.status == "missing"],
                    binary_missing=[s.structure for s in b.structures if s.status == "missing"])
        results.append(case)
        mark = "" if a.likert == case["truth"] and b.likert == case["truth"] else "   <-- differs"
        print(f"{i:4d} {case['kind']:<12} {'+'.join(case['pathologies'] + case['changed']) or '-':<40} "
              f"true {case['truth']} labels {a.likert} binary {b.likert}{mark}", flush=True)
    out = {"n": len(results), "seconds": round(time.perf_counter() - t0, 1),
           "seconds_per_ear": {k: round(v / max(len(results), 1), 3) for k, v in timing.items()}}
    md = []
    for mode in ("labels", "binary"):
        m = confusion((r["truth"], r[f"{mode}_likert"]) for r in results)
        normal = [r for r in results if r["truth"] == 1]
        wrong_missing = sum(len(r[f"{mode}_missing"]) for r in normal)
        per_kind = {k: f"{sum(r[f'{mode}_likert'] == r['truth'] for r in results if r['kind'] == k)}/"
                       f"{sum(r['kind'] == k for r in results)}" for k in KINDS}
        out[mode] = {"confusion": m.tolist(), "agreement": float(np.trace(m) / max(m.sum(), 1)),
                     "normal_ears": len(normal), "structures_called_missing_in_normal_ears": wrong_missing,
                     "per_kind": per_kind}
        title = ("Per-structure label maps" if mode == "labels" else "Binarised masks (split geometrically)")
        md.append(format_matrix(m, f"**{title}** ({len(results)} ears)"))
        md.append(f"structures called missing in the {len(normal)} ears whose true score is 1: {wrong_missing}; "
                  f"per kind: " + ", ".join(f"{k} {v}" for k, v in per_kind.items()))
        md.append("")
    text = "\n".join(md)
    print(text)
    print(f"time: {out['seconds']} s; per ear {out['seconds_per_ear']}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"summary": out, "ears": results}, fh, indent=1)
    if args.markdown:
        with open(args.markdown, "w") as fh:
            fh.write(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
