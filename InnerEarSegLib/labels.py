"""The structure catalogue: the one owner of which structures exist and how each is labelled.

Every fact about a structure lives in one row of :data:`CATALOGUE`: its machine key, display name,
terminology name (the ``CodeMeaning`` of ``InnerEarSeg.term.json``), colour, per-ear label value and
whether the seed paper's Likert scale counts it. The side of an ear owns the label offset of a
two-ear label map (right +0, left +10). Everything else -- the library, the CLI, the Slicer module,
the report and the tests -- derives from these two tables, so nothing restates how many structures
there are, which label values they take or what they are called.

>>> [info.value for info in all_labels()][:2], label_info(14).name
([1, 2], 'Left lateral canal')
"""
from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np


class Structure(enum.IntEnum):
    """An inner-ear structure; its value is its label in a per-ear label map (0 = background).

    The order here is the catalogue's order (cochlea first). Facts about a structure are read from
    its :data:`CATALOGUE` row through the properties below.
    """

    COCHLEA = 1
    VESTIBULE = 2
    SUPERIOR_CANAL = 3
    LATERAL_CANAL = 4
    POSTERIOR_CANAL = 5

    @property
    def spec(self) -> "StructureSpec":
        return _BY_STRUCTURE[self]

    @property
    def key(self) -> str:
        """Short machine name: ``cochlea``, ``vestibule``, ``superior``, ``lateral``, ``posterior``."""
        return self.spec.key

    @property
    def display_name(self) -> str:
        """Human name without side: "cochlea", "superior canal", ..."""
        return self.spec.display_name

    @property
    def terminology_name(self) -> str:
        """The type's ``CodeMeaning`` in the module's terminology file: "Superior semicircular canal", ..."""
        return self.spec.terminology_name

    @property
    def color_rgb(self) -> tuple[float, float, float]:
        """Segment colour, RGB 0-1 (the same on both sides)."""
        return self.spec.color_rgb

    @classmethod
    def from_key(cls, key: str) -> "Structure":
        """The structure named `key`; also accepts its display or terminology name, any case.

        Raises
        ------
        ValueError : naming the unknown name and the keys that exist.
        """
        wanted = str(key).strip().lower()
        for spec in CATALOGUE:
            if wanted in (spec.key, spec.display_name, spec.terminology_name.lower()):
                return spec.structure
        raise ValueError(f"unknown structure {key!r}; expected one of {list(STRUCTURE_KEYS)}")


class Side(str, enum.Enum):
    """Patient side of an ear. LPS world: the left ear has the larger x (x grows towards patient left)."""

    RIGHT = "right"
    LEFT = "left"

    @property
    def label_offset(self) -> int:
        """Added to a per-ear label in a two-ear label map (right +0, left +10)."""
        return _LABEL_OFFSET[self]

    @property
    def display_name(self) -> str:
        """"Right" or "Left", as segment names start."""
        return self.value.capitalize()


_LABEL_OFFSET = {Side.RIGHT: 0, Side.LEFT: 10}


@dataclass(frozen=True)
class StructureSpec:
    """One row of the catalogue.

    Attributes
    ----------
    structure : the enum member; its value is the per-ear label.
    key : machine name used in reports, ratings, CSV columns and model manifests.
    display_name : human name without side ("superior canal").
    terminology_name : ``CodeMeaning`` of the structure's type in ``InnerEarSeg.term.json``.
    color_rgb : segment colour, RGB 0-1; chosen to be told apart by colour-blind readers (Okabe-Ito).
    likert : counted by the seed paper's Likert scale (Table 1: "one structure missing" ...).
    """

    structure: Structure
    key: str
    display_name: str
    terminology_name: str
    color_rgb: tuple[float, float, float]
    likert: bool = True


#: The catalogue, in label order.
CATALOGUE: tuple[StructureSpec, ...] = (
    StructureSpec(Structure.COCHLEA, "cochlea", "cochlea", "Cochlea", (0.902, 0.624, 0.000)),  # orange
    StructureSpec(Structure.VESTIBULE, "vestibule", "vestibule", "Vestibule", (0.337, 0.706, 0.914)),  # sky blue
    StructureSpec(Structure.SUPERIOR_CANAL, "superior", "superior canal", "Superior semicircular canal",
                  (0.000, 0.620, 0.451)),  # bluish green
    StructureSpec(Structure.LATERAL_CANAL, "lateral", "lateral canal", "Lateral semicircular canal",
                  (0.941, 0.894, 0.259)),  # yellow
    StructureSpec(Structure.POSTERIOR_CANAL, "posterior", "posterior canal", "Posterior semicircular canal",
                  (0.800, 0.475, 0.655)),  # reddish purple
)
_BY_STRUCTURE = {spec.structure: spec for spec in CATALOGUE}
if sorted(_BY_STRUCTURE) != sorted(Structure) or len(_BY_STRUCTURE) != len(CATALOGUE):
    raise RuntimeError("the structure catalogue needs exactly one row per Structure")

STRUCTURES: tuple[Structure, ...] = tuple(spec.structure for spec in CATALOGUE)
STRUCTURE_KEYS: tuple[str, ...] = tuple(spec.key for spec in CATALOGUE)
#: The structures the Likert scale counts (all of them in the seed paper).
LIKERT_STRUCTURES: tuple[Structure, ...] = tuple(spec.structure for spec in CATALOGUE if spec.likert)
CANALS: tuple[Structure, ...] = (Structure.SUPERIOR_CANAL, Structure.LATERAL_CANAL, Structure.POSTERIOR_CANAL)
#: Segment colours (RGB, 0-1) by structure, from the catalogue.
STRUCTURE_COLORS_RGB: dict[Structure, tuple[float, float, float]] = {s.structure: s.color_rgb for s in CATALOGUE}
SIDES: tuple[Side, ...] = (Side.RIGHT, Side.LEFT)
#: Name of class 0 in model manifests, and of the single foreground class of a binary (labyrinth) model.
BACKGROUND_CLASS = "background"
LABYRINTH_CLASS = "labyrinth"


@dataclass(frozen=True)
class LabelInfo:
    """One entry of a two-ear label map: value, side, structure, segment name and colour."""

    value: int
    side: Side
    structure: Structure

    @property
    def name(self) -> str:
        """Segment name: "Right cochlea", "Left lateral canal"."""
        return f"{self.side.display_name} {self.structure.display_name}"

    @property
    def segment_id(self) -> str:
        """Stable segment id: "Right_cochlea"."""
        return self.name.replace(" ", "_")

    @property
    def color_rgb(self) -> tuple[float, float, float]:
        return self.structure.color_rgb


def label_value(side: Side, structure: Structure) -> int:
    """Label of `structure` of the `side` ear in a two-ear label map."""
    return side.label_offset + int(structure)


def all_labels() -> list[LabelInfo]:
    """Every label of a two-ear map, right ear first, in catalogue order."""
    return [LabelInfo(label_value(s, st), s, st) for s in SIDES for st in STRUCTURES]


#: Every non-zero value of a two-ear label map.
TWO_EAR_LABEL_VALUES: frozenset[int] = frozenset(info.value for info in all_labels())
_BY_VALUE = {info.value: info for info in all_labels()}


def _ranges(values: Iterable[int]) -> str:
    values = sorted(values)
    return f"{values[0]}-{values[-1]}" if values == list(range(values[0], values[-1] + 1)) else \
        ",".join(map(str, values))


def describe_two_ear_labels() -> str:
    """The label values in words, for messages and help: ``"right ear 1-5, left ear 11-15"``."""
    return ", ".join(f"{side.value} ear {_ranges(label_value(side, s) for s in STRUCTURES)}" for side in SIDES)


def label_info(value: int) -> LabelInfo:
    """Decode a two-ear label value.

    Raises
    ------
    ValueError : for a value no ear uses (the message lists the valid ones).
    """
    try:
        return _BY_VALUE[int(value)]
    except KeyError:
        ranges = " or ".join(_ranges(label_value(side, s) for s in STRUCTURES) for side in SIDES)
        raise ValueError(f"label {value} is not a two-ear inner-ear label (expected {ranges})") from None


def to_two_ear(labels: np.ndarray, side: Side) -> np.ndarray:
    """Per-ear labels (0 and structure values) of the `side` ear -> its two-ear values (uint8)."""
    out = np.asarray(labels).astype(np.uint8, copy=True)
    out[out > 0] += side.label_offset
    return out


def split_two_ear(labels: np.ndarray) -> dict[Side, np.ndarray]:
    """A two-ear label array -> per side, the per-ear labels (structure values, 0 elsewhere).

    Raises
    ------
    ValueError : if the array holds values that are not two-ear labels.
    """
    labels = np.asarray(labels)
    bad = sorted(set(np.unique(labels).tolist()) - TWO_EAR_LABEL_VALUES - {0})
    if bad:
        raise ValueError(f"label image holds values {bad[:5]}; expected {describe_two_ear_labels()}")
    out = {}
    for side in SIDES:
        ear_values = np.array([label_value(side, s) for s in STRUCTURES])
        inside = np.isin(labels, ear_values)
        out[side] = np.where(inside, labels - side.label_offset, 0).astype(np.uint8)
    return out


def structure_of_class_name(name: str) -> Structure:
    """The structure a model class is named after (key, display or terminology name).

    Raises
    ------
    ValueError : naming the unknown class and the catalogue keys a class may take.
    """
    try:
        return Structure.from_key(name)
    except ValueError:
        raise ValueError(f"model class {name!r} is not a structure of the catalogue; name classes with "
                         f"{list(STRUCTURE_KEYS)} (or {LABYRINTH_CLASS!r} for a one-class labyrinth model)") from None


def class_structures(labels: Mapping[int, str]) -> dict[int, Structure]:
    """Model class index -> structure, by name, for a per-structure model's ``labels`` manifest entry.

    Classes are matched by name, never by position: ``{1: "vestibule", 2: "cochlea"}`` maps class 1
    to the vestibule. Class 0 must be background; a model may cover a subset of the structures.

    Raises
    ------
    ValueError : class 0 is not background, a name is unknown, or two classes name one structure.
    """
    if labels.get(0) != BACKGROUND_CLASS:
        raise ValueError(f"model class 0 must be {BACKGROUND_CLASS!r}, got {labels.get(0)!r}")
    out: dict[int, Structure] = {}
    for index, name in sorted(labels.items()):
        if index == 0:
            continue
        structure = structure_of_class_name(name)
        if structure in out.values():
            raise ValueError(f"model classes name {structure.key!r} twice ({dict(labels)})")
        out[int(index)] = structure
    return out


def class_to_label_lut(labels: Mapping[int, str]) -> np.ndarray:
    """Look-up table (uint8, one entry per class) from class index to per-ear structure label, by name."""
    lut = np.zeros(max(labels) + 1, np.uint8)
    for index, structure in class_structures(labels).items():
        lut[index] = int(structure)
    return lut
