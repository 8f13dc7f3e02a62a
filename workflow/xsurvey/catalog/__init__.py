"""Band-merged catalogues (catalog.smk): merging, photometry in every band, reliability
of the merged catalogue, IAU names, per-epoch catalogues and the demo's truth check.
"""

from .band_photometry import (
    band_columns,
    band_combination,
    band_combination_table,
    forced_at_positions,
)
from .build import (
    EPOCH_ONLY_COLUMNS,
    best_band_det_ml,
    build_catalog,
    epoch_only_sources,
    make_catalog,
    write_catalog,
    write_empty_products,
)
from .columns import (
    CATALOG_COLUMNS,
    FLUX_UNIT,
    UNDETECTED_DET_ML,
)
from .merge import (
    MasterList,
    merge_bands,
    select_above_threshold,
)
from .names import iau_names
from .reliability import (
    MERGED_COLUMNS,
    catalog_p_spurious,
    catalogue_calibration,
    expected_spurious_in_catalog,
    merged_p_spurious,
    merged_reliability,
    merged_summary,
    merged_thresholds,
    replica_catalogues,
    spurious_probability,
)
from .truth import (
    poisson_two_sided,
    stack_expected_counts,
    truth_match,
)

__all__ = [
    "best_band_det_ml",
    "EPOCH_ONLY_COLUMNS",
    "epoch_only_sources",
    "CATALOG_COLUMNS",
    "FLUX_UNIT",
    "MERGED_COLUMNS",
    "MasterList",
    "UNDETECTED_DET_ML",
    "band_columns",
    "band_combination",
    "band_combination_table",
    "build_catalog",
    "catalog_p_spurious",
    "catalogue_calibration",
    "expected_spurious_in_catalog",
    "forced_at_positions",
    "iau_names",
    "make_catalog",
    "merge_bands",
    "merged_p_spurious",
    "merged_reliability",
    "merged_summary",
    "merged_thresholds",
    "poisson_two_sided",
    "replica_catalogues",
    "select_above_threshold",
    "spurious_probability",
    "stack_expected_counts",
    "truth_match",
    "write_catalog",
    "write_empty_products",
]
