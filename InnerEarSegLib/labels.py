"""Label conventions shared by every stage (see DESIGN.md, "Conventions").

Structures are numbered 1-5 (cochlea, vestibule, superior, lateral, posterior canal). A label map
that holds both ears uses 1-5 for the right ear and 11-15 for the left ear. Segment names read
"Right cochlea", "Left lateral canal", ...
"""
from __future__ import annotations

import enum
from dataclasses import dataclass


class Structure(enum.IntEnum):
    """The five structures that the seed paper's Likert scale counts, with their per-ear label."""

    COCHLEA = 1
    VESTIBULE = 2
    SUPERIOR_CANAL = 3
    LATERAL_CANAL = 4
    POSTERIOR_CANAL = 5

    @property
    def key(self) -> str:
        """Short machine name: ``cochlea``, ``vestibule``, ``superior``, ``lateral``, ``posterior``."""
        return _KEYS[self]

    @property
    def display_name(self) -> str:
        """Human name without side: "cochlea", "superior canal", ..."""
        return _DISPLAY[self]

    @classmethod
    def from_key(cls, key: str) -> "Structure":
        for structure, name in _KEYS.items():
            if name == key:
                return structure
        raise ValueError(f"unknown structure {key!r}; expected one of {sorted(_KEYS.values())}")


class Side(str, enum.Enum):
    """Patient side of an ear. LPS world: the left ear has the larger x (x grows towards patient left)."""

    RIGHT = "right"
    LEFT = "left"

    @property
    def label_offset(self) -> int:
        """Added to a Structure value in a two-ear label map: right 0 (1-5), left 10 (11-15)."""
        return 0 if self is Side.RIGHT else 10


_KEYS = {
    Structure.COCHLEA: "cochlea",
    Structure.VESTIBULE: "vestibule",
    Structure.SUPERIOR_CANAL: "superior",
    Structure.LATERAL_CANAL: "lateral",
    Structure.POSTERIOR_CANAL: "posterior",
}
_DISPLAY = {
    Structure.COCHLEA: "cochlea",
    Structure.VESTIBULE: "vestibule",
    Structure.SUPERIOR_CANAL: "superior canal",
    Structure.LATERAL_CANAL: "lateral canal",
    Structure.POSTERIOR_CANAL: "posterior canal",
}

#: Segment colours (RGB, 0-1), the same for both sides; chosen to be told apart by colour-blind readers.
STRUCTURE_COLORS_RGB: dict[Structure, tuple[float, float, float]] = {
    Structure.COCHLEA: (0.902, 0.624, 0.000),  # orange
    Structure.VESTIBULE: (0.337, 0.706, 0.914),  # sky blue
    Structure.SUPERIOR_CANAL: (0.000, 0.620, 0.451),  # bluish green
    Structure.LATERAL_CANAL: (0.941, 0.894, 0.259),  # yellow
    Structure.POSTERIOR_CANAL: (0.800, 0.475, 0.655),  # reddish purple
}

STRUCTURES: tuple[Structure, ...] = tuple(Structure)
SIDES: tuple[Side, ...] = (Side.RIGHT, Side.LEFT)


@dataclass(frozen=True)
class LabelInfo:
    """One entry of a two-ear label map: value, side, structure, segment name and colour."""

    value: int
    side: Side
    structure: Structure

    @property
    def name(self) -> str:
        return f"{self.side.value.capitalize()} {self.structure.display_name}"

    @property
    def color_rgb(self) -> tuple[float, float, float]:
        return STRUCTURE_COLORS_RGB[self.structure]


def label_value(side: Side, structure: Structure) -> int:
    """Label of `structure` of the `side` ear in a two-ear label map (right 1-5, left 11-15)."""
    return side.label_offset + int(structure)


def label_info(value: int) -> LabelInfo:
    """Decode a two-ear label value (1-5 or 11-15)."""
    side = Side.RIGHT if value < 10 else Side.LEFT
    try:
        structure = Structure(value - side.label_offset)
    except ValueError:
        raise ValueError(f"label {value} is not a two-ear inner-ear label (expected 1-5 or 11-15)") from None
    return LabelInfo(value, side, structure)


def all_labels() -> list[LabelInfo]:
    """The ten labels of a two-ear map, right ear first."""
    return [LabelInfo(label_value(s, st), s, st) for s in SIDES for st in STRUCTURES]
