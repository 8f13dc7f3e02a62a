"""Quality of the mosaics (quality.smk): area above each exposure, and the validation
of the background maps.
"""

from .area_exposure import cumulative_area
from .bgcheck import (
    background_residuals,
    bgcheck_observation,
    circle_sums,
    residual_statistics,
    spread_circles,
)

__all__ = [
    "background_residuals",
    "bgcheck_observation",
    "circle_sums",
    "cumulative_area",
    "residual_statistics",
    "spread_circles",
]
