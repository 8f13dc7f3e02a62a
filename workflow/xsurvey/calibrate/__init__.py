"""Calibration from the replicas (calibrate.smk): reliability and DET_ML thresholds,
completeness, sky coverage, sensitivity, positional and flux accuracy.
"""

from .accuracy import (
    flux_accuracy,
    positional_accuracy,
    positional_accuracy_by_det_ml,
    rayleigh_sigma,
    separation_subsets,
    sigma_from_det_ml,
)
from .band import (
    calibrate_band,
    summary,
)
from .completeness import (
    completeness,
    counts_coverage,
    geometric_areas,
    sensitivity,
    sky_coverage,
)
from .intervals import (
    DEFAULT_EXPOSURE_EDGES_KS,
    assign_interval,
    auto_exposure_intervals,
    default_det_ml_grid,
    exposure_intervals,
    log_bins,
)
from .reliability import (
    DEFAULT_LEVELS,
    above_threshold,
    band_reliability,
    differential_reliability,
    expected_spurious,
    reliability_at,
    reliability_curve,
    threshold_at,
    threshold_for_reliability,
)

__all__ = [
    "sigma_from_det_ml",
    "DEFAULT_EXPOSURE_EDGES_KS",
    "DEFAULT_LEVELS",
    "above_threshold",
    "assign_interval",
    "auto_exposure_intervals",
    "band_reliability",
    "calibrate_band",
    "completeness",
    "counts_coverage",
    "default_det_ml_grid",
    "differential_reliability",
    "expected_spurious",
    "exposure_intervals",
    "flux_accuracy",
    "geometric_areas",
    "log_bins",
    "positional_accuracy",
    "positional_accuracy_by_det_ml",
    "rayleigh_sigma",
    "reliability_at",
    "reliability_curve",
    "sensitivity",
    "separation_subsets",
    "sky_coverage",
    "summary",
    "threshold_at",
    "threshold_for_reliability",
]
