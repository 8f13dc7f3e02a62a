"""Counterparts (counterparts.smk): soft X-ray association, then optical/IR
counterparts by likelihood ratio.
"""

from .ancillary import (
    KINDS,
    MAG_SENTINEL,
    load_ancillary,
)
from .coverage import (
    coverage_mask,
    surface_density,
)
from .identify import (
    CTP_COLUMNS,
    combine_identifications,
    identify,
    run_counterparts,
    xo_constant,
    xo_magnitude,
    xo_ratio,
)
from .likelihood_ratio import (
    CLASSES,
    LRResult,
    classify_sources,
    counterpart_magnitude_distribution,
    field_magnitude_density,
    likelihood_ratio,
    likelihood_ratio_match,
    lr_summary,
    magnitude_edges,
    reliability_completeness,
)
from .softx import (
    associate_soft,
    band_flux_conversion,
    chance_probability,
    sigma_for_sources,
    xray_positions,
)

__all__ = [
    "CLASSES",
    "CTP_COLUMNS",
    "KINDS",
    "LRResult",
    "MAG_SENTINEL",
    "associate_soft",
    "band_flux_conversion",
    "chance_probability",
    "classify_sources",
    "combine_identifications",
    "counterpart_magnitude_distribution",
    "coverage_mask",
    "field_magnitude_density",
    "identify",
    "likelihood_ratio",
    "likelihood_ratio_match",
    "load_ancillary",
    "lr_summary",
    "magnitude_edges",
    "reliability_completeness",
    "run_counterparts",
    "sigma_for_sources",
    "surface_density",
    "xo_constant",
    "xo_magnitude",
    "xo_ratio",
    "xray_positions",
]
