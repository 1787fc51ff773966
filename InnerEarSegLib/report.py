"""The versioned schema of ``report.json``: one set of dataclasses that writes the report and reads it back.

``innerear-seg segment`` writes it (:func:`InnerEarSegLib.outputs.write_outputs`), the Slicer module
reads it (:func:`read_report`), and nothing reads report fields with ``dict.get(default)``: a field that
is renamed or missing is an error that names it, not a silently wrong panel. A report of a newer
schema than this library knows is refused with what to do.

Schema version 1 (fields in the order written):

``schema_version`` int; ``case_id`` str (:func:`InnerEarSegLib.cases.case_id_from_path`); ``created``
ISO time; ``input`` {path, size_xyz, spacing_mm_xyz, origin_lps_mm, direction, ...}; ``model`` {name,
version, architecture, sha256, labels, spacing_mm, box_size_vox}; ``device`` str; ``options``
(:meth:`SegmentOptions.to_dict`); ``timings_s`` {stage: s}; ``ears`` [{side, centre_lps_mm, confidence,
source, box {centre_lps_mm, size_vox, spacing_mm}, structures {key: {label, volume_mm3}},
labyrinth_volume_mm3, assessment (EarAssessment.to_dict) or null, trust (plausible / doubtful /
implausible with reasons) or null}]; ``outputs`` {kind: path relative to the report}.
"""
from __future__ import annotations

import dataclasses
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from .errors import InnerEarSegError
from .labels import STRUCTURES, label_value

#: The schema this library writes, and the newest it reads.
SCHEMA_VERSION = 1


class ReportError(InnerEarSegError, ValueError):
    """A report.json that this library cannot read: not JSON, a field missing, or a newer schema."""


def _build(cls, data: Any, where: str):
    """Build dataclass `cls` from a JSON object, naming `where` and the field on any problem."""
    if not isinstance(data, Mapping):
        raise ReportError(f"{where} must be a JSON object, got {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    missing = [name for name, f in fields.items() if name not in data
               and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    if missing:
        raise ReportError(f"{where} lacks the field(s) {missing}")
    return {name: data[name] for name in fields if name in data}


@dataclass(frozen=True)
class StructureRecord:
    """One structure of one ear: its two-ear label value and volume."""

    label: int
    volume_mm3: float


@dataclass(frozen=True)
class BoxRecord:
    """The model's box around one ear."""

    centre_lps_mm: tuple[float, float, float]
    size_vox: int
    spacing_mm: float
    recentred_mm: float = 0.0  # distance from the located centre, when the box was moved onto the network's labyrinth


@dataclass(frozen=True)
class EarRecord:
    """One ear of the report. ``trust`` is filled by the trust flag (plausible / doubtful / implausible)."""

    side: str
    centre_lps_mm: tuple[float, float, float]
    confidence: float
    source: str
    box: BoxRecord
    structures: dict[str, StructureRecord]
    labyrinth_volume_mm3: float
    assessment: dict | None = None
    trust: dict | None = None

    @classmethod
    def from_dict(cls, data: Mapping, *, where: str = "ear") -> "EarRecord":
        kw = _build(cls, data, where)
        box = _build(BoxRecord, kw["box"], f"{where}.box")
        kw["box"] = BoxRecord(**{**box, "centre_lps_mm": tuple(box["centre_lps_mm"])})
        if not isinstance(kw["structures"], Mapping):
            raise ReportError(f"{where}.structures must be a JSON object")
        kw["structures"] = {k: StructureRecord(**_build(StructureRecord, v, f"{where}.structures.{k}"))
                            for k, v in kw["structures"].items()}
        kw["centre_lps_mm"] = tuple(kw["centre_lps_mm"])
        return cls(**kw)


@dataclass(frozen=True)
class ModelRecord:
    """Which model made the result."""

    name: str
    version: str
    architecture: str = ""
    sha256: str = ""
    labels: dict = field(default_factory=dict)
    spacing_mm: float | None = None
    box_size_vox: int | None = None


@dataclass(frozen=True)
class SegmentationReport:
    """The whole ``report.json`` (schema :data:`SCHEMA_VERSION`)."""

    case_id: str
    model: ModelRecord
    device: str
    created: str = ""
    input: dict = field(default_factory=dict)
    options: dict = field(default_factory=dict)
    timings_s: dict = field(default_factory=dict)
    ears: tuple[EarRecord, ...] = ()
    outputs: dict = field(default_factory=dict)
    schema_version: int = SCHEMA_VERSION

    def ear(self, side: str) -> EarRecord | None:
        """The ear of `side` ("right" / "left"), None when it was not segmented."""
        return next((e for e in self.ears if e.side == side), None)

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d = {"schema_version": d.pop("schema_version"), **d}
        d["ears"] = [dict(e) for e in d["ears"]]
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_dict(cls, data: Any, *, source: str = "report.json") -> "SegmentationReport":
        """Read a report; raises :class:`ReportError` naming `source` and the field on any problem."""
        if not isinstance(data, Mapping):
            raise ReportError(f"{source} must hold a JSON object, got {type(data).__name__}")
        version = data.get("schema_version")
        if not isinstance(version, int) or isinstance(version, bool):
            raise ReportError(f"{source} has no integer schema_version (found {version!r}): it was written before "
                              "reports were versioned or by another program; run innerear-seg segment again")
        if version > SCHEMA_VERSION or version < 1:
            raise ReportError(f"{source} has report schema version {version}, but this InnerEarSeg reads versions "
                              f"1-{SCHEMA_VERSION}; update InnerEarSeg to read it")
        kw = _build(cls, data, source)
        kw["model"] = ModelRecord(**_build(ModelRecord, kw["model"], f"{source}: model"))
        ears = kw.get("ears", [])
        if not isinstance(ears, list):
            raise ReportError(f"{source}: ears must be a list")
        kw["ears"] = tuple(EarRecord.from_dict(e, where=f"{source}: ears[{i}]") for i, e in enumerate(ears))
        return cls(**kw)

    @classmethod
    def from_json(cls, text: str, *, source: str = "report.json") -> "SegmentationReport":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ReportError(f"{source} is not valid JSON ({exc})") from None
        return cls.from_dict(data, source=source)


def read_report(path: str | os.PathLike) -> SegmentationReport:
    """Read and check ``report.json`` at `path`.

    Raises
    ------
    ReportError : unreadable, not JSON, a field missing, or a newer schema (the message names which).
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ReportError(f"cannot read {path} ({exc})") from None
    return SegmentationReport.from_json(text, source=str(path))


def _r(values, digits: int) -> tuple:
    return tuple(round(float(v), digits) for v in values)


def ear_record(ear) -> EarRecord:
    """The report record of one :class:`~InnerEarSegLib.pipeline.EarResult`."""
    trust = getattr(ear, "trust", None)
    return EarRecord(
        side=ear.side.value,
        centre_lps_mm=_r(ear.centre_lps_mm, 3),
        confidence=round(float(ear.confidence), 4),
        source=ear.source,
        box=BoxRecord(_r(ear.box.centre_lps_mm, 4), int(ear.box.spec.size_vox), float(ear.box.spec.spacing_mm),
                      round(float(getattr(ear, "recentred_mm", 0.0)), 3)),
        structures={s.key: StructureRecord(label_value(ear.side, s), round(ear.volumes_mm3[s.key], 3))
                    for s in STRUCTURES},
        labyrinth_volume_mm3=round(sum(ear.volumes_mm3.values()), 3),
        assessment=ear.assessment.to_dict() if ear.assessment is not None else None,
        trust=trust.to_dict() if trust is not None else None,
    )


def report_from_result(result, *, case_id: str, outputs: Mapping[str, object],
                       timings_s: Mapping[str, float] | None = None) -> SegmentationReport:
    """The report of a :class:`~InnerEarSegLib.pipeline.SegmentationResult`."""
    return SegmentationReport(
        case_id=case_id,
        created=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        input=dict(result.input_info),
        model=ModelRecord(**_build(ModelRecord, result.model, "model summary")),
        device=str(result.device),
        options=result.options.to_dict(),
        timings_s=dict(timings_s if timings_s is not None else result.timings_s),
        ears=tuple(ear_record(ear) for ear in result.ears),
        outputs=dict(outputs),
    )
