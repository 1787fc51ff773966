"""Run a study: skip the cases already done with the same model and options, segment the others through an
engine (this process, or Dask workers), journal each finished case, isolate failures.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Protocol

from ..errors import InnerEarSegError, InputError
from ..options import SegmentOptions
from ..progress import Cancelled
from .inputs import CaseInput
from .manifest import StudyManifest

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StudyConfig:
    """What every case of a study gets: the study folder, the segmentation options and the extra outputs."""

    study_dir: Path
    options: SegmentOptions = field(default_factory=SegmentOptions)
    preview: bool = False
    dicom_seg: bool = False

    def options_key(self) -> str:
        """A short hash of everything but the model's location that changes a case's outputs.

        The model itself is identified by the SHA-256 of its weights, so a moved model file still matches.
        """
        d = self.options.to_dict()
        d.pop("model_path", None)
        d.update(preview=self.preview, dicom_seg=self.dicom_seg)
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class ModelIdentity:
    name: str
    version: str
    sha256: str


def model_identity(options: SegmentOptions) -> ModelIdentity:
    """Name, version and weights SHA-256 from the model's manifest (no weights loaded; no torch)."""
    from ..model import default_model_path
    from pathlib import Path as _Path

    from ..model.package import _resolve_paths, read_manifest

    _, manifest_path = _resolve_paths(_Path(options.model_path or default_model_path()))
    m = read_manifest(manifest_path)  # the loader refuses weights whose SHA-256 differs from this one
    return ModelIdentity(m.name, m.version, m.weights_sha256)


@dataclass(frozen=True)
class StudySummary:
    """Counts of one run of a study, and the manifest it left."""

    total: int
    skipped: int
    done: int
    failed: int
    refused: int
    elapsed_s: float
    manifest_csv: Path
    records: dict  # case id -> latest record


class Engine(Protocol):
    """Runs cases somewhere and yields their manifest records as they finish (any order)."""

    def map(self, cases: list[CaseInput], config: StudyConfig) -> Iterator[dict]: ...


def process_case(segmenter, case: CaseInput, config: StudyConfig, *, worker: str = "local") -> dict:
    """Segment one case into ``study_dir/case_id`` and return its manifest record; never raises for a bad
    case (the record says ``refused`` for an input problem, ``failed`` for anything else), but lets
    Ctrl-C and cancellation through."""
    t0 = time.perf_counter()
    record = _empty_record(case, config, worker)
    model = segmenter.model
    record.update(model_name=model["name"], model_version=model["version"], model_sha256=model["sha256"])
    try:
        outcome = segmenter.run_case(case.path, config.study_dir / case.case_id, case_id=case.case_id,
                                     preview=config.preview, dicom_seg=config.dicom_seg)
    except (KeyboardInterrupt, Cancelled):
        raise
    except InputError as exc:
        record.update(status="refused", reason=str(exc))
    except InnerEarSegError as exc:
        record.update(status="failed", reason=str(exc))
    except Exception as exc:  # isolate the case: one broken CT must not stop the study
        log.exception("case %s failed", case.case_id)
        record.update(status="failed", reason=f"{type(exc).__name__}: {exc}")
    else:
        record.update(status="done", out_dir=case.case_id,
                      **{f"{k}_s": v for k, v in outcome.timings_s.items()})
        for ear in outcome.result.ears:
            record[f"{ear.side.value}_likert"] = ear.assessment.likert if ear.assessment is not None else None
            record[f"{ear.side.value}_trust"] = ear.trust.flag if ear.trust is not None else None
    if record["status"] != "done":
        record["total_s"] = round(time.perf_counter() - t0, 4)
    record["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    record["threads"] = _torch_threads()
    return record


def _torch_threads() -> int | None:
    import sys

    torch = sys.modules.get("torch")  # loaded by the segmenter; not imported here for a refused case
    return torch.get_num_threads() if torch is not None else None


def _empty_record(case: CaseInput, config: StudyConfig, worker: str) -> dict:
    from .manifest import COLUMNS

    record = {c: None for c in COLUMNS}
    record.update(case_id=case.case_id, path=case.path, group=case.group, reason="", worker=worker,
                  options_key=config.options_key(), status="failed")
    return record


class InProcessEngine:
    """Cases one after the other in this process, with one :class:`~InnerEarSegLib.segmenter.Segmenter`."""

    def __init__(self, segmenter=None) -> None:
        self._segmenter = segmenter

    def map(self, cases: list[CaseInput], config: StudyConfig) -> Iterator[dict]:
        from ..segmenter import Segmenter

        if cases and self._segmenter is None:
            self._segmenter = Segmenter(config.options)
        for case in cases:
            yield process_case(self._segmenter, case, config, worker=f"pid {os.getpid()}")


def is_current(record: dict | None, config: StudyConfig, model: ModelIdentity) -> bool:
    """True if `record` is a finished case made with this model and these options whose report still exists."""
    return bool(record and record.get("status") == "done" and record.get("model_sha256") == model.sha256
                and record.get("options_key") == config.options_key()
                and (config.study_dir / str(record.get("out_dir") or record["case_id"]) / "report.json").is_file())


def run_study(cases: list[CaseInput], config: StudyConfig, *, engine: Engine | None = None,
              progress: Callable[[dict], None] = lambda event: None) -> StudySummary:
    """Segment every case of `cases` not already done; return the counts and the manifest.

    `progress` receives events: ``{"event": "start", "total", "skipped", "pending"}`` and after each case
    ``{"event": "case", "case_id", "status", "reason", "finished", "pending", "elapsed_s", "eta_s"}``.
    Ctrl-C stops after the journal is consistent; cases finished so far stay done.
    """
    t0 = time.perf_counter()
    config.study_dir.mkdir(parents=True, exist_ok=True)
    manifest = StudyManifest(config.study_dir)
    order = [c.case_id for c in cases]
    model = model_identity(config.options)
    previous = manifest.records()
    pending = [c for c in cases if not is_current(previous.get(c.case_id), config, model)]
    skipped = len(cases) - len(pending)
    progress({"event": "start", "total": len(cases), "skipped": skipped, "pending": len(pending)})
    finished = 0
    try:
        for record in (engine or InProcessEngine()).map(pending, config) if pending else ():
            manifest.append(record)
            manifest.write_csv(order)
            finished += 1
            elapsed = time.perf_counter() - t0
            progress({"event": "case", "case_id": record["case_id"], "status": record["status"],
                      "reason": record["reason"], "finished": finished, "pending": len(pending),
                      "elapsed_s": round(elapsed, 2),
                      "eta_s": round(elapsed / finished * (len(pending) - finished), 1)})
    finally:
        csv_path = manifest.write_csv(order)
    latest = manifest.records()
    counts = {s: sum(1 for c in order if latest.get(c, {}).get("status") == s) for s in ("done", "failed", "refused")}
    return StudySummary(len(cases), skipped, counts["done"], counts["failed"], counts["refused"],
                        round(time.perf_counter() - t0, 3), csv_path, {c: latest[c] for c in order if c in latest})

