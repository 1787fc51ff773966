"""Study evaluation: Dice / HD95 / MSD in mm per case and structure, subgroup tables, Likert analysis,
and a CSV + Markdown + HTML report with plots (the seed paper's Tables 3-5)."""
from __future__ import annotations

from .metrics import OverlapMetrics, case_metrics, dice, overlap_metrics
from .run import StudyResult, run_study
from .study import LikertAnalysis, Summary, likert_analysis, match_cases, subgroup_table

__all__ = ["OverlapMetrics", "case_metrics", "dice", "overlap_metrics", "run_study", "StudyResult",
           "LikertAnalysis", "Summary", "likert_analysis", "match_cases", "subgroup_table"]
