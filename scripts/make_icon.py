"""Draw the module icon (128 x 128 PNG): a stylised labyrinth, cochlea spiral + vestibule + three canals.

Usage: python scripts/make_icon.py [-o InnerEarSeg/Resources/Icons/InnerEarSeg.png]
Colours are the segment colours of InnerEarSegLib.labels (colour-blind safe).
"""
from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.patches import Ellipse, FancyBboxPatch  # noqa: E402

from InnerEarSegLib.labels import STRUCTURE_COLORS_RGB, Structure  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def draw(output: Path, size_px: int = 128) -> Path:
    fig = plt.figure(figsize=(1, 1), dpi=size_px)
    ax = fig.add_axes([0, 0, 1, 1])
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.axis("off")
    fig.patch.set_alpha(0)
    ax.add_patch(FancyBboxPatch((0.04, 0.04), 0.92, 0.92, boxstyle="round,pad=0,rounding_size=0.16",
                                facecolor="#1d2b3a", edgecolor="none"))
    c = STRUCTURE_COLORS_RGB
    outline = dict(solid_capstyle="round")
    # Three semicircular canals: loops leaving the vestibule in three directions.
    for centre, w, h, angle, structure in [((0.60, 0.75), 0.30, 0.30, 0, Structure.SUPERIOR_CANAL),
                                           ((0.80, 0.53), 0.27, 0.19, -10, Structure.LATERAL_CANAL),
                                           ((0.67, 0.28), 0.25, 0.27, 30, Structure.POSTERIOR_CANAL)]:
        ax.add_patch(Ellipse(centre, w, h, angle=angle, fill=False, linewidth=3.6, edgecolor=c[structure]))
    # Vestibule.
    ax.add_patch(Ellipse((0.55, 0.52), 0.17, 0.23, angle=15, facecolor=c[Structure.VESTIBULE], edgecolor="none"))
    # Cochlea: a 2.5-turn spiral whose outer end joins the vestibule.
    turns = 2.5
    t = np.linspace(0, turns * 2 * np.pi, 600)
    r = 0.018 + 0.17 * t / t[-1]
    phase = 0.35 - t[-1]  # the outer end points at the vestibule
    x, y = 0.25 + r * np.cos(t + phase), 0.40 + r * np.sin(t + phase)
    ax.plot(x, y, color=c[Structure.COCHLEA], linewidth=2.6, **outline)
    ax.plot([x[-1], 0.49], [y[-1], 0.48], color=c[Structure.COCHLEA], linewidth=2.6, **outline)
    output.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(output, dpi=size_px, transparent=True)
    plt.close(fig)
    return output


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", type=Path, default=REPO / "InnerEarSeg" / "Resources" / "Icons" / "InnerEarSeg.png")
    args = parser.parse_args(argv)
    print(draw(args.output))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
