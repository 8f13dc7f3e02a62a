"""Cross-checks of every observation's input files before any mosaic (checks.smk).
"""

from .observation import (
    check_duplicates,
    check_observation,
    duplicate_events,
    gti_total,
)

__all__ = [
    "check_duplicates",
    "check_observation",
    "duplicate_events",
    "gti_total",
]
