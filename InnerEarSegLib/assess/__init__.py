"""Automatic completeness review: per-structure present / incomplete / missing with evidence, and the
suggested Likert score of the seed paper's Table 1 (see :mod:`.rules` for how each rule reads)."""
from __future__ import annotations

from .api import EarAssessment, StructureAssessment, assess_ear, assess_label_image
from .rules import INCOMPLETE, MISSING, PRESENT, RuleOptions

__all__ = ["EarAssessment", "StructureAssessment", "assess_ear", "assess_label_image", "RuleOptions",
           "PRESENT", "INCOMPLETE", "MISSING"]
