"""The phantom's labyrinths beside real human labyrinths 01-40, measured the same way.

Both are voxelised on the same isotropic grid in their ear frame (phantom: its exact geometry via
``raster.rasterise_labels``; real: ``real_labyrinths.voxelise`` of the surface) and measured by
:func:`InnerEarSegLib.phantom.shape_measures.measure_labyrinth` -- one code path on label maps,
including the anatomical frame (from structure centroids) for the relative positions.

Real data: ``Daniel-Nicolae/Modelling-the-Human-Semicircular-Canals`` @
``a8343505728b90d38e4dc9e72f3409f0c8adff1d``, ``cochlea_data/NN.ply`` (subjects 01-40 only; 41-73
are held out). Without the folder the script says so and exits 0.

    .venv/bin/python benchmarks/compare_anatomy.py /work/main/.work/real/labyrinths --ears 40
    .venv/bin/python benchmarks/compare_anatomy.py /work/main/.work/real/labyrinths --anatomy calibrated

Columns: median and 5-95 % range of each, and ``inside``: the share of real subjects whose value
lies within the phantom's min-max range (what "the real shapes lie inside its distribution" means here).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import real_labyrinths as rl  # noqa: E402

from InnerEarSegLib.labels import Side  # noqa: E402
from InnerEarSegLib.phantom.case import build_scene, ear_in_head  # noqa: E402
from InnerEarSegLib.phantom.raster import rasterise_labels  # noqa: E402
from InnerEarSegLib.phantom.shape_measures import head_orientation_deg, measure_labyrinth  # noqa: E402


def phantom_shapes(seeds, grid, *, anatomy: str = "classic") -> list[dict]:
    """Measures of the generator's normal ears: seed k's right ear for even k, left ear for odd k.

    ``head_orientation_deg``: the ear frame in the head without the head's pose (a right ear mirrored).
    """
    out = []
    for seed in seeds:
        side = Side.LEFT if seed % 2 else Side.RIGHT
        kwargs = {} if anatomy == "classic" else {"anatomy": anatomy}
        scene, _ = build_scene(int(seed), {side: ()}, **kwargs)
        ear = scene.ears[0]
        labels = rasterise_labels(grid, ear.labyrinth, np.eye(3), np.zeros(3))
        spacing = grid.spacing_mm[::-1]
        out.append({**measure_labyrinth(labels, spacing).flat(),
                    **_prefixed(head_orientation_deg(labels, spacing, ear_in_head(scene, ear)),
                                "head_orientation_deg")})
    return out


def real_shapes(folder, grid) -> list[dict]:
    """Measures of the real subjects 01-40 (mirrored into the left-ear frame); ``head_orientation_deg``: the
    ear frame in the subject's own scanner (``RealLabyrinth.scanner_turn``)."""
    out = []
    for lab in rl.load_subjects(folder):
        labels, spacing = rl.voxelise(lab, grid), grid.spacing_mm[::-1]
        out.append({**measure_labyrinth(labels, spacing).flat(),
                    **_prefixed(head_orientation_deg(labels, spacing, lab.scanner_turn()), "head_orientation_deg")})
    return out


def _prefixed(values: dict, prefix: str) -> dict:
    return {f"{prefix}.{k}": v for k, v in values.items()}


def table(phantom: list[dict], real: list[dict]) -> str:
    """Side-by-side text table: measure | phantom median [P5-P95] (min-max) | real median [P5-P95] | inside."""
    rows = [f"{'measure':34s} {'phantom median [P5, P95] (min, max)':>40s}   {'real median [P5, P95] (min, max)':>38s}"
            "  inside"]
    for key in phantom[0]:
        p = np.array([d[key] for d in phantom])
        r = np.array([d[key] for d in real])
        inside = float(np.mean((r >= p.min()) & (r <= p.max())))
        rows.append(f"{key:34s} {_cell(p):>40s}   {_cell(r):>38s}  {100 * inside:5.0f} %")
    return "\n".join(rows)


def _cell(v: np.ndarray) -> str:
    q = np.percentile(v, [50, 5, 95])
    return f"{q[0]:7.2f} [{q[1]:6.2f}, {q[2]:6.2f}] ({v.min():6.2f}, {v.max():6.2f})"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("folder", nargs="?", default=str(rl.DEFAULT_FOLDER), help="real labyrinth folder")
    parser.add_argument("--ears", type=int, default=40, help="phantom ears (seeds 1000...)")
    parser.add_argument("--first-seed", type=int, default=1000)
    parser.add_argument("--spacing-mm", type=float, default=0.2, metavar="MM")
    parser.add_argument("--anatomy", default="classic", help="the generator's anatomy option")
    parser.add_argument("--json", type=Path, help="also write both lists of measures here")
    parser.add_argument("--real-cache", type=Path, help="reuse (or write) the real subjects' measures here "
                        "(derived numbers only; keep it outside the repository)")
    args = parser.parse_args(argv)
    try:
        rl.check_folder(args.folder)
    except rl.RealDataMissing as err:
        print(f"skipped: {err}")
        return 0
    grid = rl.ear_grid(args.spacing_mm)
    phantom = phantom_shapes(range(args.first_seed, args.first_seed + args.ears), grid, anatomy=args.anatomy)
    if args.real_cache and args.real_cache.is_file():
        real = json.loads(args.real_cache.read_text())
    else:
        real = real_shapes(args.folder, grid)
        if args.real_cache:
            args.real_cache.write_text(json.dumps(real))
    print(f"phantom: {len(phantom)} normal ears, anatomy={args.anatomy!r}, seeds {args.first_seed}-"
          f"{args.first_seed + args.ears - 1}; real: {len(real)} subjects of {rl.SOURCE}; grid {args.spacing_mm} mm")
    print(table(phantom, real))
    if args.json:
        args.json.write_text(json.dumps({"phantom": phantom, "real": real}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
