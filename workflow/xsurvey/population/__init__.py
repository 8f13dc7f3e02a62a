"""The source population (population.smk): measured number counts deconvolved into
intrinsic counts over a spectral distribution, and sources drawn on the sky from it.
"""

from .counts import (
    COUNTS_SHAPES,
    TABLE_FLUX_RANGE,
    BrokenPowerLawCounts,
    CountsModel,
    SmoothBrokenPowerLawCounts,
    TabulatedCounts,
    counts_model_from_config,
)
from .model import (
    LOG_NH_RANGE,
    LOG_STEP,
    MODES,
    PHOTON_INDEX_RANGE,
    REDSHIFT_MAX,
    SAMPLE_SEED,
    SAMPLE_SIZE,
    Population,
    SpectralDistribution,
    deconvolve_counts,
    mix_counts,
    population_from_config,
    powerlaw_energy_flux,
    spectra_from_config,
)
from .sky import (
    draw_positions,
    draw_positions_in_mask,
    draw_sources,
    mask_area_deg2,
    region_area_deg2,
    sky_to_tangent,
    tangent_to_sky,
)

__all__ = [
    "BrokenPowerLawCounts",
    "COUNTS_SHAPES",
    "CountsModel",
    "LOG_NH_RANGE",
    "LOG_STEP",
    "MODES",
    "PHOTON_INDEX_RANGE",
    "Population",
    "REDSHIFT_MAX",
    "SAMPLE_SEED",
    "SAMPLE_SIZE",
    "SmoothBrokenPowerLawCounts",
    "SpectralDistribution",
    "TABLE_FLUX_RANGE",
    "TabulatedCounts",
    "counts_model_from_config",
    "deconvolve_counts",
    "draw_positions",
    "draw_positions_in_mask",
    "draw_sources",
    "mask_area_deg2",
    "mix_counts",
    "population_from_config",
    "powerlaw_energy_flux",
    "region_area_deg2",
    "sky_to_tangent",
    "spectra_from_config",
    "tangent_to_sky",
]
