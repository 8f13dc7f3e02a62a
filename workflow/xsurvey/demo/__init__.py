"""The embedded synthetic demo survey (demo.smk): a sky whose truth is known, the
observation files the NuSTAR pipeline would write, and ancillary catalogues.
"""

from .ancillary import (
    OPTICAL_COUNT_SLOPE,
    SOFT_EXTRA_SLOPE,
    make_ancillary_catalogs,
)
from .observation import (
    BACKGROUND_COMPONENTS,
    DEMO_MET_START,
    DEMO_MJDREF,
    DEMO_TIME_ZERO,
    ENERGY_STEP_KEV,
    SimulatedObservation,
    observation_wcs,
    simulate_observation,
    write_observation,
)
from .sky import (
    epoch_factor,
    make_demo_sky,
    region_area_arcmin2,
    source_rates,
    unresolved_rate_arcmin2,
)

__all__ = [
    "BACKGROUND_COMPONENTS",
    "DEMO_MET_START",
    "DEMO_MJDREF",
    "DEMO_TIME_ZERO",
    "ENERGY_STEP_KEV",
    "OPTICAL_COUNT_SLOPE",
    "SOFT_EXTRA_SLOPE",
    "SimulatedObservation",
    "epoch_factor",
    "make_ancillary_catalogs",
    "make_demo_sky",
    "observation_wcs",
    "region_area_arcmin2",
    "simulate_observation",
    "source_rates",
    "unresolved_rate_arcmin2",
    "write_observation",
]
