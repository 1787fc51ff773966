"""Studies at scale: ``innerear-seg batch`` — discover the cases, skip those already done, segment the rest
in this process or on a Dask cluster (the model loaded once per worker), isolate failures and keep a study
manifest that a kill never leaves inconsistent.
"""
from __future__ import annotations

from .inputs import CaseInput, discover_cases
from .manifest import StudyManifest
from .run import StudyConfig, StudySummary, run_study

__all__ = ["CaseInput", "discover_cases", "StudyManifest", "StudyConfig", "StudySummary", "run_study"]
