"""Spectral models folded through an effective area.

Absorbed power laws give the count-rate-to-flux conversion factors (CF,
METHOD §2), the band fluxes of simulated sources and the hardness-ratio
tracks of METHOD §12. The response is diagonal (effective area only).

Energies in keV, areas in cm^2, column densities in cm^-2, photon spectra in
photons cm^-2 s^-1 keV^-1, energy fluxes in erg cm^-2 s^-1.
"""

from __future__ import annotations

import numpy as np

KEV_TO_ERG = 1.602176634e-9
#: Thomson cross-section (cm^2) and electrons per hydrogen atom for solar abundances.
SIGMA_THOMSON_CM2 = 6.6524587e-25
ELECTRONS_PER_H = 1.21

# Morrison & McCammon (1983, ApJ 270, 119) Table 2: photoelectric cross-section
# per hydrogen atom, solar abundances, sigma = (c0 + c1 E + c2 E^2) E^-3 1e-24 cm^2.
# Columns: upper edge of the interval (keV), c0, c1, c2. Above 10 keV the last
# interval is extrapolated (the published fit stops at 10 keV).
_MM83 = np.array(
    [
        [0.100, 17.3, 608.1, -2150.0],
        [0.284, 34.6, 267.9, -476.1],
        [0.400, 78.1, 18.8, 4.3],
        [0.532, 71.4, 66.8, -51.4],
        [0.707, 95.5, 145.8, -61.1],
        [0.867, 308.9, -380.6, 294.0],
        [1.303, 120.6, 169.3, -47.7],
        [1.840, 141.3, 146.8, -31.5],
        [2.471, 202.7, 104.7, -17.0],
        [3.210, 342.7, 18.7, 0.0],
        [4.038, 352.2, 18.7, 0.0],
        [7.111, 433.9, -2.4, 0.75],
        [8.331, 629.0, 30.9, 0.0],
        [np.inf, 701.2, 25.2, 0.0],
    ]
)


def photoelectric_cross_section(energy_kev):
    """Photoelectric absorption cross-section per H atom (cm^2), MM83.

    Parameters
    ----------
    energy_kev : array_like
        Photon energies in keV (>= 0.03).
    """
    e = np.asarray(energy_kev, dtype=float)
    idx = np.searchsorted(_MM83[:, 0], e, side="right")
    idx = np.clip(idx, 0, len(_MM83) - 1)
    c0, c1, c2 = _MM83[idx, 1], _MM83[idx, 2], _MM83[idx, 3]
    return (c0 + c1 * e + c2 * e**2) / e**3 * 1e-24


def absorbed_powerlaw(energy_kev, photon_index, nh_cm2=0.0, redshift=0.0, compton=True):
    """Photon spectrum of an absorbed power law, unit normalisation at 1 keV.

    ``N(E) = E^-Gamma exp(-N_H sigma_pe(E (1+z))) [exp(-1.21 N_H sigma_T)]``;
    the absorber sits at the source redshift and the power law is written in
    the observed frame (its shape is redshift independent).

    Parameters
    ----------
    energy_kev : array_like
        Observed-frame energies, keV.
    photon_index : float
        Power-law photon index Gamma.
    nh_cm2 : float
        Absorbing column density, cm^-2.
    redshift : float
        Redshift of the absorber.
    compton : bool
        Include Compton-scattering attenuation of the transmitted light.
    """
    e = np.asarray(energy_kev, dtype=float)
    tau = nh_cm2 * photoelectric_cross_section(e * (1.0 + redshift))
    if compton:
        tau = tau + nh_cm2 * ELECTRONS_PER_H * SIGMA_THOMSON_CM2
    return e ** (-photon_index) * np.exp(-tau)


def _band_grid(e_lo, e_hi, n=2001):
    return np.linspace(e_lo, e_hi, n)


def band_count_rate(spectrum, area_fn, e_lo, e_hi):
    """Count rate (counts/s) of a photon spectrum through an effective area.

    Parameters
    ----------
    spectrum : callable
        Photon spectrum N(E), photons cm^-2 s^-1 keV^-1.
    area_fn : callable
        Effective area A(E) in cm^2.
    e_lo, e_hi : float
        Band edges, keV.
    """
    e = _band_grid(e_lo, e_hi)
    return np.trapezoid(spectrum(e) * area_fn(e), e)


def band_energy_flux(spectrum, e_lo, e_hi):
    """Energy flux (erg cm^-2 s^-1) of a photon spectrum in a band."""
    e = _band_grid(e_lo, e_hi)
    return np.trapezoid(spectrum(e) * e, e) * KEV_TO_ERG
