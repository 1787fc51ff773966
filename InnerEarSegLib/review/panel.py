"""State of the review panel, without Qt: the Slicer widget binds to it, tests drive it directly.

The state holds the current case, both ears x five structures with their automatic status and
colour, the suggested score per ear (hidden when blinded), the reader's choices and comment, a dirty
flag, and a study (a list of CTs walked with previous/next, "12 of 70", resumable from a state file).
Changes are announced through :class:`Signal` callbacks, ``state.changed.connect(fn)``; ``fn(event)``
receives a short event name ("case", "assessment", "reader", "saved", "blinded").
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..labels import STRUCTURES
from ..cases import case_id_from_path
from .ratings import RatingRecord, RatingStore, now_iso, write_text_atomic

log = logging.getLogger(__name__)
SIDES = ("right", "left")
STRUCTURE_KEYS = tuple(s.key for s in STRUCTURES)
#: Status colours (hex), distinguishable by colour-blind readers.
STATUS_COLORS = {"present": "#009E73", "incomplete": "#E69F00", "missing": "#D55E00", None: "#999999"}
CT_SUFFIXES = (".nii.gz", ".nii", ".nrrd", ".mha", ".mhd")


class Signal:
    """A plain-Python signal: ``connect(fn)``, ``disconnect(fn)``, ``emit(*args)``."""

    def __init__(self) -> None:
        self._slots: list[Callable] = []

    def connect(self, fn: Callable) -> None:
        self._slots.append(fn)

    def disconnect(self, fn: Callable) -> None:
        self._slots.remove(fn)

    def emit(self, *args) -> None:
        for fn in list(self._slots):
            fn(*args)


@dataclass(frozen=True)
class Row:
    """One line of the panel: a structure of an ear."""

    side: str
    structure: str
    auto_status: str | None
    color: str
    reader_status: str | None


def list_study_cases(folder: str | Path) -> list[str]:
    """CT files (and DICOM folders) directly in `folder`, sorted; label/segmentation files are skipped."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"study folder {str(folder)!r} does not exist or is not a folder")
    out = []
    for p in sorted(folder.iterdir()):
        name = p.name.lower()
        if name.startswith(".") or "label" in name or name.endswith(".seg.nrrd"):
            continue
        if p.is_file() and name.endswith(CT_SUFFIXES):
            out.append(str(p))
        elif p.is_dir() and any(c.suffix.lower() in (".dcm", "") for c in p.iterdir() if c.is_file()):
            out.append(str(p))
    return out


class ReviewPanelState:
    """Qt-free state of the "Review" panel.

    Parameters
    ----------
    reader_id, model_version : str
        Written into every rating.
    blinded : bool
        Hide the suggested scores (and statuses) from the reader, as the seed paper's reader was blinded.
    store_factory : callable, optional
        ``case_path -> RatingStore``; default: the store next to the case.
    state_path : path, optional
        Where the study position is saved for resuming.
    """

    def __init__(self, *, reader_id: str = "", model_version: str = "", blinded: bool = False,
                 store_factory: Callable[[str], RatingStore] | None = None,
                 state_path: str | Path | None = None) -> None:
        self.reader_id = reader_id
        self.model_version = model_version
        self._blinded = bool(blinded)
        self._store_factory = store_factory or RatingStore.for_case
        self.state_path = Path(state_path) if state_path else None
        self.changed = Signal()
        self.cases: list[str] = []
        self.index = -1
        self.case_path: str | None = None
        self.case_id: str | None = None
        self._clear_case()

    # ---- case ----------------------------------------------------------------------------------
    def _clear_case(self) -> None:
        self.auto_status = {s: {k: None for k in STRUCTURE_KEYS} for s in SIDES}
        self.reader_status = {s: {k: None for k in STRUCTURE_KEYS} for s in SIDES}
        self._suggested = {s: None for s in SIDES}
        self.scores = {s: None for s in SIDES}
        self.comments = {s: "" for s in SIDES}
        self.dirty = False

    def open_case(self, case_path: str | Path, *, case_id: str | None = None) -> None:
        """Show `case_path`; restores its saved ratings if there are any."""
        self._clear_case()
        self.case_path = str(case_path)
        self.case_id = case_id or case_id_from_path(case_path)
        for rec in self._store_factory(self.case_path).load():
            if rec.case_id != self.case_id or rec.side not in SIDES:
                continue
            self.auto_status[rec.side].update(rec.auto_status)
            self.reader_status[rec.side].update(rec.reader_status)
            self._suggested[rec.side] = rec.suggested_likert
            self.scores[rec.side] = rec.likert
            self.comments[rec.side] = rec.comment
        self.changed.emit("case")

    def set_assessments(self, assessments) -> None:
        """Fill the automatic statuses and suggestions from `EarAssessment` objects (or their dicts)."""
        for a in assessments:
            d = a.to_dict() if hasattr(a, "to_dict") else dict(a)
            side = d["side"]
            if side not in SIDES:
                raise ValueError(f"assessment side must be 'right' or 'left', got {side!r}")
            for key, st in d["structures"].items():
                self.auto_status[side][key] = st["status"]
                if self.reader_status[side].get(key) is None:
                    self.reader_status[side][key] = st["status"]
            self._suggested[side] = int(d["likert"])
        self.changed.emit("assessment")

    # ---- what the panel shows ------------------------------------------------------------------
    @property
    def blinded(self) -> bool:
        return self._blinded

    @blinded.setter
    def blinded(self, value: bool) -> None:
        self._blinded = bool(value)
        self.changed.emit("blinded")

    def suggested_score(self, side: str) -> int | None:
        """The automatic Likert suggestion for `side`; None while blinded or not assessed."""
        self._check_side(side)
        return None if self._blinded else self._suggested[side]

    def rows(self) -> list[Row]:
        """Both ears x five structures; automatic status and colour are hidden (None, grey) when blinded."""
        out = []
        for side in SIDES:
            for key in STRUCTURE_KEYS:
                auto = None if self._blinded else self.auto_status[side][key]
                out.append(Row(side, key, auto, STATUS_COLORS[auto], self.reader_status[side][key]))
        return out

    # ---- reader input --------------------------------------------------------------------------
    def set_score(self, side: str, score: int | None) -> None:
        self._check_side(side)
        if score is not None and score not in (1, 2, 3, 4):
            raise ValueError(f"score must be 1, 2, 3 or 4 (Table 1), got {score!r}")
        self.scores[side] = score
        self._touch()

    def set_reader_status(self, side: str, structure: str, status: str) -> None:
        self._check_side(side)
        if structure not in STRUCTURE_KEYS:
            raise ValueError(f"structure must be one of {STRUCTURE_KEYS}, got {structure!r}")
        if status not in ("present", "incomplete", "missing"):
            raise ValueError(f"status must be 'present', 'incomplete' or 'missing', got {status!r}")
        self.reader_status[side][structure] = status
        self._touch()

    def set_comment(self, side: str, text: str) -> None:
        self._check_side(side)
        self.comments[side] = str(text)
        self._touch()

    def accept_suggestion(self, side: str) -> None:
        """Take the suggested score as the reader's score (not possible while blinded)."""
        if self.suggested_score(side) is None:
            raise ValueError("no suggestion to accept (blinded, or the ear was not assessed)")
        self.set_score(side, self.suggested_score(side))

    def _touch(self) -> None:
        self.dirty = True
        self.changed.emit("reader")

    @staticmethod
    def _check_side(side: str) -> None:
        if side not in SIDES:
            raise ValueError(f"side must be 'right' or 'left', got {side!r}")

    # ---- saving --------------------------------------------------------------------------------
    def records(self) -> list[RatingRecord]:
        """A record per ear that has a score, automatic status or comment."""
        out = []
        for side in SIDES:
            auto = {k: v for k, v in self.auto_status[side].items() if v}
            if self.scores[side] is None and not auto and not self.comments[side]:
                continue
            out.append(RatingRecord(
                self.case_id, side, likert=self.scores[side], suggested_likert=self._suggested[side],
                auto_status=auto, reader_status={k: v for k, v in self.reader_status[side].items() if v},
                comment=self.comments[side], reader_id=self.reader_id, time_iso=now_iso(),
                model_version=self.model_version, blinded=self._blinded))
        return out

    def save(self) -> None:
        """Write the current case's ratings (atomically) and the study position."""
        if self.case_path is None:
            raise ValueError("no case is open: call open_case() or open_study() first")
        store = self._store_factory(self.case_path)
        for rec in self.records():
            store.upsert(rec)
        self.dirty = False
        self._save_study_state()
        self.changed.emit("saved")

    # ---- study mode ----------------------------------------------------------------------------
    def open_study(self, cases, *, start: int = 0) -> None:
        """Walk a folder of CTs or a list of CT paths, starting at index `start`."""
        if isinstance(cases, (str, Path)):
            cases = list_study_cases(cases)
        self.cases = [str(c) for c in cases]
        if not self.cases:
            raise ValueError("the study has no cases (no CT files found)")
        self.go_to(min(max(int(start), 0), len(self.cases) - 1))

    def go_to(self, index: int) -> None:
        if not 0 <= index < len(self.cases):
            raise IndexError(f"case index {index} outside the study (0-{len(self.cases) - 1})")
        if self.dirty:
            self.save()
        self.index = index
        self.open_case(self.cases[index])
        self._save_study_state()

    def next(self) -> bool:
        """Go to the next case (saving the current one if changed); False at the end of the study."""
        if self.index + 1 >= len(self.cases):
            return False
        self.go_to(self.index + 1)
        return True

    def previous(self) -> bool:
        if self.index <= 0:
            return False
        self.go_to(self.index - 1)
        return True

    @property
    def progress_text(self) -> str:
        """E.g. "12 of 70"; empty without a study."""
        return f"{self.index + 1} of {len(self.cases)}" if self.cases else ""

    def _save_study_state(self) -> None:
        if self.state_path is None or not self.cases:
            return
        state = {"cases": self.cases, "index": self.index, "blinded": self._blinded,
                 "reader_id": self.reader_id, "model_version": self.model_version}
        write_text_atomic(self.state_path, json.dumps(state, indent=2) + "\n")

    @classmethod
    def resume(cls, state_path: str | Path, **kwargs) -> "ReviewPanelState":
        """Reopen a study where the reader stopped (cases, position, blinded, reader id)."""
        state = json.loads(Path(state_path).read_text(encoding="utf-8"))
        kwargs.setdefault("reader_id", state.get("reader_id", ""))
        kwargs.setdefault("model_version", state.get("model_version", ""))
        kwargs.setdefault("blinded", state.get("blinded", False))
        panel = cls(state_path=state_path, **kwargs)
        panel.open_study(state["cases"], start=int(state.get("index", 0)))
        return panel
