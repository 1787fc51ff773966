"""Ear points placed by the reader (a markups point list) as the library's ear centres.

When the automatic search finds no ear (the process exits with ``EXIT_NO_EAR``), the panel asks for a
point on each inner ear. Each control point becomes one ``RoiHint``: its world position (parent
transforms applied) converted from Slicer's RAS to the library's LPS, and a side when the point's label
names one ("R", "right", "Left ear", ...); otherwise the library takes the side from the image's mid-line.
"""
from __future__ import annotations

import re

from InnerEarSegLib.errors import InputError
from InnerEarSegLib.geometry import ras_to_lps
from InnerEarSegLib.labels import Side
from InnerEarSegLib.options import RoiHint

_SIDE_WORDS = {"r": Side.RIGHT, "right": Side.RIGHT, "l": Side.LEFT, "left": Side.LEFT}


def sideFromLabel(label: str) -> Side | None:
    """The side a point's label names ("R-1", "right ear", "Left"), or None."""
    words = [w for w in re.split(r"[^a-z]+", label.lower()) if w]
    sides = {_SIDE_WORDS[w] for w in words if w in _SIDE_WORDS}
    return sides.pop() if len(sides) == 1 else None


def earPointsFromMarkups(markupsNode) -> tuple[RoiHint, ...]:
    """One ear centre (LPS mm) per control point of `markupsNode`; () for None or an empty list.

    Raises
    ------
    InputError
        More than two points, or some points name a side and others do not (the command line pairs
        one side with every centre, or none).
    """
    if markupsNode is None:
        return ()
    n = markupsNode.GetNumberOfControlPoints()
    if n > 2:
        raise InputError(f"'{markupsNode.GetName()}' holds {n} points; place one point on each inner ear (two at "
                         f"most) and delete the others.")
    hints = []
    for i in range(n):
        ras = [0.0, 0.0, 0.0]
        markupsNode.GetNthControlPointPositionWorld(i, ras)
        lps = ras_to_lps(ras)
        hints.append(RoiHint(tuple(float(v) for v in lps), sideFromLabel(markupsNode.GetNthControlPointLabel(i))))
    named = [h.side is not None for h in hints]
    if any(named) and not all(named):
        raise InputError(f"some points of '{markupsNode.GetName()}' name their side and others do not; name both "
                         f"(e.g. 'R' and 'L') or neither (the side is then taken from the image's mid-line).")
    return tuple(hints)
