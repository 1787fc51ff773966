"""Reader review: rating records saved atomically next to the case, and the Qt-free review panel state."""
from __future__ import annotations

from .panel import ReviewPanelState, Row, Signal, list_study_cases
from .ratings import RatingRecord, RatingStore, read_ratings_csv, write_text_atomic

__all__ = ["RatingRecord", "RatingStore", "read_ratings_csv", "write_text_atomic", "ReviewPanelState", "Row",
           "Signal", "list_study_cases"]
