"""Forward model of the survey's obscuration bias (obscuration.smk, method.md §16): which
sources the survey detects, what the staged spectral fits measure for them, and the
intrinsic obscured and Compton-thick fractions of the catalogue's population.
"""

from .inference import (
    COMPONENTS,
    LEVEL_90,
    OUTCOMES,
    SUMMARY_COLUMNS,
    FractionPosterior,
    class_given_outcome,
    measured_outcome,
    naive_fraction,
    population_fraction,
    response_counts,
    response_table,
)
from .mock import (
    FIT_COLUMNS,
    SPURIOUS,
    BackgroundModel,
    SpectralSetup,
    background_model,
    draw_sample,
    expected_source_counts,
    fit_mock,
    simulate_spectra,
    spectral_setup,
)
from .selection import (
    LEVEL_68,
    NH_CLASSES,
    binomial_interval,
    catalogue_selection,
    detection_fractions,
    nh_class,
    rest_frame_luminosity,
)

__all__ = [
    "COMPONENTS",
    "FIT_COLUMNS",
    "LEVEL_68",
    "LEVEL_90",
    "NH_CLASSES",
    "OUTCOMES",
    "SPURIOUS",
    "SUMMARY_COLUMNS",
    "BackgroundModel",
    "FractionPosterior",
    "SpectralSetup",
    "background_model",
    "binomial_interval",
    "catalogue_selection",
    "class_given_outcome",
    "detection_fractions",
    "draw_sample",
    "expected_source_counts",
    "fit_mock",
    "measured_outcome",
    "naive_fraction",
    "nh_class",
    "population_fraction",
    "response_counts",
    "response_table",
    "rest_frame_luminosity",
    "simulate_spectra",
    "spectral_setup",
]
