"""Spectral models folded through an effective area.

Absorbed power laws give the count-rate-to-flux conversion factors (CF,
METHOD §2), the band fluxes of simulated sources and the hardness-ratio
tracks of METHOD §12. The response is diagonal (effective area only).

Absorbers (``absorber`` argument of :func:`absorbed_powerlaw`):

* ``"photoelectric"`` -- photoelectric absorption only (Galactic columns);
* ``"transmitted"`` -- photoelectric absorption times the Compton (Thomson)
  attenuation of the transmitted light, METHOD §12; the scattered light is lost;
* ``"sphere"`` -- a uniform sphere of column N_H (centre to edge) around the
  source: the transmitted light plus the Compton-scattered light that escapes
  (:func:`sphere_escape_fraction`). Above N_H ~ 5e23 cm^-2 the scattered
  continuum hardens the 8-24 keV band; models of this kind (e.g. BNSphere,
  MYTorus) underlie published Compton-thick hardness thresholds.

Energies in keV, areas in cm^2, column densities in cm^-2, photon spectra in
photons cm^-2 s^-1 keV^-1, energy fluxes in erg cm^-2 s^-1.
"""

from __future__ import annotations

import functools
import math

import numpy as np
from numba import njit
from scipy.interpolate import RegularGridInterpolator

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


#: Absorber models of :func:`absorbed_powerlaw`.
ABSORBERS = ("photoelectric", "transmitted", "sphere")
#: Thomson depth (centre to edge) nodes of the sphere table; 5 <=> N_H = 6.2e24 cm^-2.
_SPHERE_TAU_S = np.linspace(0.0, 5.0, 101)
#: log10 of the photoelectric depth nodes of the sphere table.
_SPHERE_LOG_TAU_A = np.linspace(-4.0, 3.0, 141)
_SPHERE_PHOTONS = 20_000
_SPHERE_SEED = 1997


def thomson_depth(nh_cm2):
    """Thomson optical depth ``1.21 N_H sigma_T`` of a column (solar abundances)."""
    return np.asarray(nh_cm2, dtype=float) * ELECTRONS_PER_H * SIGMA_THOMSON_CM2


@njit(cache=True)
def _thomson_cosine(u):
    """Scattering-angle cosine with the Thomson phase function (1 + mu^2).

    Inverse of the CDF ``(mu + mu^3/3 + 4/3) / (8/3) = u`` (Cardano's
    formula for ``mu^3 + 3 mu - (8u - 4) = 0``).
    """
    r = 8.0 * u - 4.0
    root = math.sqrt(0.25 * r * r + 1.0)
    a, b = 0.5 * r + root, 0.5 * r - root
    return math.copysign(abs(a) ** (1.0 / 3.0), a) + math.copysign(abs(b) ** (1.0 / 3.0), b)


@njit(cache=True)
def _sphere_walks(tau_thomson, n_photons, rng):
    """Compiled photon walks of :func:`sphere_path_lengths`."""
    path = np.empty(n_photons)
    n_scat = np.zeros(n_photons, dtype=np.int64)
    mean_free = 1.0 / tau_thomson if tau_thomson > 0 else np.inf
    for i in range(n_photons):
        dz = 2.0 * rng.random() - 1.0
        phi = 2.0 * np.pi * rng.random()
        st = math.sqrt(1.0 - dz * dz)
        dx, dy = st * math.cos(phi), st * math.sin(phi)
        x = y = z = 0.0
        length = 0.0
        while True:
            b = x * dx + y * dy + z * dz
            to_edge = -b + math.sqrt(max(b * b - (x * x + y * y + z * z - 1.0), 0.0))
            free = rng.exponential(mean_free) if tau_thomson > 0 else np.inf
            if free >= to_edge:
                length += to_edge
                break
            length += free
            x, y, z = x + free * dx, y + free * dy, z + free * dz
            n_scat[i] += 1
            ct = _thomson_cosine(rng.random())
            stt = math.sqrt(max(1.0 - ct * ct, 0.0))
            phi = 2.0 * np.pi * rng.random()
            cp, sp = math.cos(phi), math.sin(phi)
            perp = math.sqrt(max(1.0 - dz * dz, 0.0))
            if perp < 1e-10:                       # along z: any perpendicular basis
                dx, dy, dz = stt * cp, stt * sp, math.copysign(ct, dz)
            else:
                dx, dy, dz = (stt * (dx * dz * cp - dy * sp) / perp + dx * ct,
                              stt * (dy * dz * cp + dx * sp) / perp + dy * ct,
                              -stt * cp * perp + dz * ct)
        path[i] = length
    return path, n_scat


def sphere_path_lengths(tau_thomson, n_photons, seed):
    """Total path lengths of photons escaping a pure-scattering uniform sphere.

    Monte Carlo of photons emitted isotropically at the centre of a sphere
    of radius 1 and Thomson depth ``tau_thomson`` (centre to edge), Thomson
    phase function, no recoil; compiled (numba). Written by hand: no
    maintained Python library provides Compton-thick absorber transmission
    (XSPEC table models such as BNSphere are not a library).

    Parameters
    ----------
    tau_thomson : float
        Thomson depth from the centre to the edge.
    n_photons : int
    seed : int
        Seed of the walk (same seed, same paths).

    Returns
    -------
    path : numpy.ndarray
        Path length of each photon until it escapes, in units of the radius
        (exactly 1 for unscattered photons).
    n_scatterings : numpy.ndarray of int
    """
    return _sphere_walks(float(tau_thomson), int(n_photons), np.random.default_rng(seed))


def _laplace_binned(excess, tau_a, bins_per_dex=200):
    """``mean(exp(-tau_a * excess))`` with the positive excesses grouped in log bins.

    Each bin holds values within 1.2% of each other and enters at its mean;
    zeros (unscattered photons) contribute exactly 1.
    """
    pos = excess[excess > 0]
    if pos.size == 0:
        return np.ones_like(tau_a)
    k = np.floor(np.log10(pos) * bins_per_dex).astype(np.int64)
    k -= k.min()
    count = np.bincount(k)
    used = count > 0
    mean = np.bincount(k, weights=pos)[used] / count[used]
    total = np.exp(-np.outer(tau_a, mean)) @ count[used]
    return (total + (excess.size - pos.size)) / excess.size


@functools.cache
def _sphere_table():
    """Interpolator of ``ln f + tau_a`` on (tau_s, log10 tau_a) nodes.

    ``f = <exp(-tau_a L)>`` over the Monte-Carlo path lengths L: in a
    uniform medium absorption depends only on the total path, so one
    pure-scattering run per Thomson depth serves every photoelectric depth.
    Every node starts from the same fixed seed (common random numbers): the
    table is the same in every process and smooth in tau_s.
    """
    tau_a = 10.0 ** _SPHERE_LOG_TAU_A
    values = np.empty((_SPHERE_TAU_S.size, tau_a.size))
    for i, tau_s in enumerate(_SPHERE_TAU_S):
        path, _ = sphere_path_lengths(tau_s, _SPHERE_PHOTONS, _SPHERE_SEED)
        values[i] = np.log(_laplace_binned(path - 1.0, tau_a))
    return RegularGridInterpolator((_SPHERE_TAU_S, _SPHERE_LOG_TAU_A), values)


def sphere_escape_fraction(tau_thomson, tau_photoelectric):
    """Fraction of the photons of a central source escaping a uniform sphere.

    Transmitted plus Compton-scattered light (Thomson phase function,
    grey Thomson cross-section, no recoil, no fluorescence), tabulated by
    :func:`sphere_path_lengths` and interpolated. The limits are exact:
    ``exp(-tau_a)`` without scattering and 1 without absorption.

    Parameters
    ----------
    tau_thomson : array_like
        Thomson depth centre to edge (:func:`thomson_depth`), <= 5.
    tau_photoelectric : array_like
        Photoelectric depth centre to edge at the photon energy.

    Returns
    -------
    numpy.ndarray
        Broadcast shape of the inputs.
    """
    tau_s, tau_a = np.broadcast_arrays(np.asarray(tau_thomson, dtype=float),
                                       np.asarray(tau_photoelectric, dtype=float))
    if np.any(tau_s > _SPHERE_TAU_S[-1]):
        raise ValueError(f"sphere absorber tabulated up to Thomson depth {_SPHERE_TAU_S[-1]} "
                         f"(N_H = {_SPHERE_TAU_S[-1] / thomson_depth(1.0):.2g} cm^-2); "
                         f"got {tau_s.max():.3g}")
    if not np.any(tau_s):
        return np.exp(-tau_a)
    log_a = np.log10(np.clip(tau_a, 10.0 ** _SPHERE_LOG_TAU_A[0], 10.0 ** _SPHERE_LOG_TAU_A[-1]))
    excess = _sphere_table()(np.stack([tau_s.ravel(), log_a.ravel()], axis=1))
    return np.exp(excess.reshape(tau_s.shape) - tau_a)


def absorbed_powerlaw(energy_kev, photon_index, nh_cm2=0.0, redshift=0.0,
                      absorber="transmitted"):
    """Photon spectrum of an absorbed power law, unit normalisation at 1 keV.

    ``N(E) = E^-Gamma T(E (1+z))`` with the transmission ``T`` of the
    absorber: ``exp(-N_H sigma_pe)`` (photoelectric), times
    ``exp(-1.21 N_H sigma_T)`` (transmitted), or
    :func:`sphere_escape_fraction` (sphere). The absorber sits at the source
    redshift and the power law is written in the observed frame (its shape
    is redshift independent).

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
    absorber : {"photoelectric", "transmitted", "sphere"}
    """
    e = np.asarray(energy_kev, dtype=float)
    tau = nh_cm2 * photoelectric_cross_section(e * (1.0 + redshift))
    if absorber == "photoelectric":
        transmission = np.exp(-tau)
    elif absorber == "transmitted":
        transmission = np.exp(-(tau + thomson_depth(nh_cm2)))
    elif absorber == "sphere":
        transmission = sphere_escape_fraction(thomson_depth(nh_cm2), tau)
    else:
        raise ValueError(f"unknown absorber {absorber!r}; expected one of {ABSORBERS}")
    return e ** (-photon_index) * transmission


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
