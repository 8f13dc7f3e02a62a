"""Number counts (lognlogs.smk): N(>S) of the catalogue with its sky coverage, and the
same recovered from replicas against the input model.
"""

from .counts import (
    DEFAULT_FLUX_MAX,
    DEFAULT_SNR_MIN,
    HALF_AREA_FRACTION,
    catalog_sample,
    compare_to_model,
    coverage_at,
    coverage_curve,
    half_area_flux,
    number_counts,
    replica_number_counts,
    select_for_counts,
)

__all__ = [
    "DEFAULT_FLUX_MAX",
    "DEFAULT_SNR_MIN",
    "HALF_AREA_FRACTION",
    "catalog_sample",
    "compare_to_model",
    "coverage_at",
    "coverage_curve",
    "half_area_flux",
    "number_counts",
    "replica_number_counts",
    "select_for_counts",
]
