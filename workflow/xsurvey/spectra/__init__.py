"""X-ray spectra of the catalogue sources (spectra.smk): extraction, responses, OGIP files,
fits with the Cash statistic (method.md §15).
"""

from .extract import aperture_spectra, elementary_bands
from .fit import (
    BOUNDS,
    DELTA_90,
    LUMINOSITY_BANDS,
    AbsorbedPowerLaw,
    FitResult,
    Response,
    SpectralFit,
    cstat,
    fit_columns,
    group,
    intrinsic_luminosity,
    profile_background,
    staged_fit,
    wstat,
)
from .ogip import (
    Spectrum,
    SpectrumError,
    check_response,
    read_arf,
    read_pha,
    read_rmf,
    write_arf,
    write_pha,
    write_rmf,
)
from .response import ChannelGrid, channel_grid, gaussian_rmf, model_energies, source_arf
from .source import SourceSpectrum, load_source_spectrum

__all__ = [
    "BOUNDS",
    "DELTA_90",
    "LUMINOSITY_BANDS",
    "AbsorbedPowerLaw",
    "ChannelGrid",
    "FitResult",
    "Response",
    "SourceSpectrum",
    "SpectralFit",
    "Spectrum",
    "SpectrumError",
    "aperture_spectra",
    "channel_grid",
    "check_response",
    "cstat",
    "elementary_bands",
    "fit_columns",
    "gaussian_rmf",
    "group",
    "intrinsic_luminosity",
    "load_source_spectrum",
    "model_energies",
    "profile_background",
    "read_arf",
    "read_pha",
    "read_rmf",
    "source_arf",
    "staged_fit",
    "wstat",
    "write_arf",
    "write_pha",
    "write_rmf",
]
