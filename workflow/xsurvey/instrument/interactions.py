"""Photon-matter interactions of the absorbers: photoelectric absorption (Morrison &
McCammon 1983, solar abundances), Thomson and Klein-Nishina scattering by the electrons
of the gas (1.21 per hydrogen atom), and the sampling of scattering angles for the
Monte-Carlo absorbers (:mod:`xsurvey.instrument.spectral`,
:mod:`xsurvey.instrument.reprocessing`).

Energies in keV, cross-sections in cm^2 (per H atom or per electron), columns in cm^-2.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, vectorize

#: Thomson cross-section (cm^2) and electrons per hydrogen atom for solar abundances.
SIGMA_THOMSON_CM2 = 6.6524587e-25


ELECTRONS_PER_H = 1.21


# Morrison & McCammon (1983, ApJ 270, 119) Table 2: photoelectric cross-section
# per hydrogen atom, solar abundances, sigma = (c0 + c1 E + c2 E^2) E^-3 1e-24 cm^2.
# Columns: upper edge of the interval (keV), c0, c1, c2. Above 10 keV the last
# interval is extrapolated (the published fit stops at 10 keV).
MM83_COEFFICIENTS = np.array(
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
    idx = np.searchsorted(MM83_COEFFICIENTS[:, 0], e, side="right")
    idx = np.clip(idx, 0, len(MM83_COEFFICIENTS) - 1)
    c0, c1, c2 = MM83_COEFFICIENTS[idx, 1], MM83_COEFFICIENTS[idx, 2], MM83_COEFFICIENTS[idx, 3]
    return (c0 + c1 * e + c2 * e**2) / e**3 * 1e-24


@njit(cache=True)
def photoelectric_cross_section_compiled(energy_kev):
    """:func:`photoelectric_cross_section` of one energy inside compiled (numba) code, which
    cannot call the numpy version: the same table and formula, equal to 1e-15 (tested)."""
    k = 0
    while k < MM83_COEFFICIENTS.shape[0] - 1 and energy_kev >= MM83_COEFFICIENTS[k, 0]:
        k += 1
    c0, c1, c2 = MM83_COEFFICIENTS[k, 1], MM83_COEFFICIENTS[k, 2], MM83_COEFFICIENTS[k, 3]
    return (c0 + c1 * energy_kev + c2 * energy_kev**2) / energy_kev**3 * 1e-24


def thomson_depth(nh_cm2):
    """Thomson optical depth ``1.21 N_H sigma_T`` of a column (solar abundances)."""
    return np.asarray(nh_cm2, dtype=float) * ELECTRONS_PER_H * SIGMA_THOMSON_CM2


@njit(cache=True)
def thomson_cosine(u):
    """Scattering-angle cosine with the Thomson phase function (1 + mu^2).

    Inverse of the CDF ``(mu + mu^3/3 + 4/3) / (8/3) = u`` (Cardano's
    formula for ``mu^3 + 3 mu - (8u - 4) = 0``).
    """
    r = 8.0 * u - 4.0
    root = math.sqrt(0.25 * r * r + 1.0)
    a, b = 0.5 * r + root, 0.5 * r - root
    return math.copysign(abs(a) ** (1.0 / 3.0), a) + math.copysign(abs(b) ** (1.0 / 3.0), b)


@njit(cache=True)
def isotropic_direction(rng):
    """A unit direction ``(dx, dy, dz)`` drawn isotropically (cosine, then azimuth)."""
    dz = 2.0 * rng.random() - 1.0
    phi = 2.0 * math.pi * rng.random()
    st = math.sqrt(1.0 - dz * dz)
    return st * math.cos(phi), st * math.sin(phi), dz


@njit(cache=True)
def scatter_direction(dx, dy, dz, cos_theta, phi):
    """Unit direction after a scattering by the angle ``arccos(cos_theta)`` at the
    azimuth ``phi`` (radians) around the incoming unit direction ``(dx, dy, dz)``."""
    stt = math.sqrt(max(1.0 - cos_theta * cos_theta, 0.0))
    cp, sp = math.cos(phi), math.sin(phi)
    perp = math.sqrt(max(1.0 - dz * dz, 0.0))
    if perp < 1e-10:                       # along z: any perpendicular basis
        return stt * cp, stt * sp, math.copysign(cos_theta, dz)
    return (stt * (dx * dz * cp - dy * sp) / perp + dx * cos_theta,
            stt * (dy * dz * cp + dx * sp) / perp + dy * cos_theta,
            -stt * cp * perp + dz * cos_theta)


#: Electron rest energy, keV.
ELECTRON_KEV = 510.99895


def klein_nishina_cross_section(energy_kev):
    """Klein-Nishina total cross-section per electron (cm^2).

    Parameters
    ----------
    energy_kev : array_like
        Photon energy, keV.
    """
    x = np.asarray(energy_kev, dtype=float) / ELECTRON_KEV
    return klein_nishina_ratio(x) * SIGMA_THOMSON_CM2


@vectorize(["float64(float64)"], cache=True)
def klein_nishina_ratio(x):
    """sigma_KN / sigma_T at ``x = E / m_e c^2`` (series below 1e-3: cancellations)."""
    if x < 1e-3:
        return 1.0 - 2.0 * x + 5.2 * x * x
    l2 = math.log1p(2.0 * x)
    return 0.75 * ((1.0 + x) / x ** 3 * (2.0 * x * (1.0 + x) / (1.0 + 2.0 * x) - l2)
                   + l2 / (2.0 * x) - (1.0 + 3.0 * x) / (1.0 + 2.0 * x) ** 2)


@njit(cache=True)
def klein_nishina_cosine(x, rng):
    """Scattering-angle cosine and energy ratio E'/E from the Klein-Nishina cross-section
    (rejection from a uniform cosine; the density ``r^2 (r + 1/r - sin^2)`` is <= 2)."""
    while True:
        mu = 2.0 * rng.random() - 1.0
        r = 1.0 / (1.0 + x * (1.0 - mu))
        if 2.0 * rng.random() <= r * r * (r + 1.0 / r - (1.0 - mu * mu)):
            return mu, r
