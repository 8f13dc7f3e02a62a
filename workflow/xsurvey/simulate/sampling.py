"""Precomputed samplers of the replicas: Poisson realisations of a fixed mean map, and
PSF offset tables to scatter source counts (method.md §7)."""

from __future__ import annotations

import numpy as np
from numba import njit


class PoissonField:
    """Poisson realisations of a fixed map of expected counts, by inversion.

    Every replica draws the same smooth background map again. Pixels with a
    mean up to ``max_inversion_mean`` are drawn by inversion of the Poisson
    CDF with one uniform deviate per pixel: the CDF at 0 .. ``table_terms``-1
    counts is tabulated once, so most pixels (at 0.65 counts per pixel, 97%)
    take only comparisons; the few above the table continue the CDF term by
    term (one compiled pass, :func:`_add_inverted`). This is exact (the CDF
    in float64) and several times faster than ``Generator.poisson`` on such
    maps. Brighter pixels use
    ``Generator.poisson``. Written by hand: numpy has no Poisson sampler with
    precomputation for a fixed map.

    Parameters
    ----------
    mean : numpy.ndarray
        Expected counts per pixel (>= 0; zero pixels stay 0).
    max_inversion_mean : float
        Largest mean drawn by inversion.
    table_terms : int
        Number of tabulated CDF values per pixel (memory: 8 bytes each).
    """

    def __init__(self, mean, max_inversion_mean: float = 8.0, table_terms: int = 3):
        flat = np.asarray(mean, dtype=np.float64).ravel()
        self._small = np.flatnonzero((flat > 0) & (flat <= max_inversion_mean))
        self._mean = flat[self._small]
        term = np.exp(-self._mean)                       # P(0)
        cdf = term.copy()
        self._cdf = np.empty((int(table_terms), self._small.size))
        for k in range(int(table_terms)):
            self._cdf[k] = cdf
            term *= self._mean / (k + 1)
            cdf += term
        self._large = np.flatnonzero(flat > max_inversion_mean)
        self._mean_large = flat[self._large]

    def add_to(self, counts, rng: np.random.Generator):
        """Add one Poisson realisation to the integer map ``counts`` in place; returns it."""
        flat = counts.reshape(-1)
        _add_inverted(flat, self._small, self._cdf, self._mean, rng.random(self._small.size))
        if self._large.size:
            flat[self._large] += rng.poisson(self._mean_large)
        return counts


@njit(cache=True)
def _add_inverted(flat, pixels, cdf, mean, u):  # pragma: no cover (compiled)
    """Add to ``flat[pixels]`` the Poisson counts of CDF inversion of the deviates ``u``.

    The CDF of pixel ``i`` at 0 .. nterm-1 counts is ``cdf[:, i]``; beyond the
    table it is continued term by term (float64; stops where the terms no
    longer change it, as the CDF saturates near 1).
    """
    nterm = cdf.shape[0]
    for i in range(pixels.size):
        k = 0
        while k < nterm and u[i] > cdf[k, i]:
            k += 1
        if k == nterm:
            term = np.exp(-mean[i])
            for j in range(1, nterm + 1):
                term *= mean[i] / j                      # P(nterm)
            c = cdf[nterm - 1, i] + term
            while u[i] > c and term > 1e-17 * c:
                k += 1
                term *= mean[i] / k
                c += term
        flat[pixels[i]] += k


#: Number of bits of the PSF radius and angle tables (:func:`psf_offset_tables`).
PSF_TABLE_BITS = 16


def psf_offset_tables(inverse_eef, pixel_arcsec: float, bits: int = PSF_TABLE_BITS):
    """Radius and direction tables that place source counts with the PSF.

    ``2**bits`` radii at the mid-points of equal steps of the encircled
    energy (the PSF truncated at its kernel radius), and ``2**bits``
    directions at equal steps of angle: a count takes one radius and one
    direction chosen uniformly at random. The radial CDF is then exact to
    ``2**-bits`` (1.5e-5 for 16 bits), and a table look-up replaces the
    interpolation and trigonometry of every count.

    Parameters
    ----------
    inverse_eef : (numpy.ndarray, numpy.ndarray)
        :meth:`xsurvey.instrument.RadialPSF.inverse_eef_table`.
    pixel_arcsec : float
        Pixel size, arcsec.
    bits : int
        log2 of the table sizes.

    Returns
    -------
    radius : numpy.ndarray
        Radii, pixels.
    cos, sin : numpy.ndarray
        Direction cosines.
    """
    eef, radius = inverse_eef
    steps = (np.arange(2**bits) + 0.5) / 2**bits
    phi = 2.0 * np.pi * steps
    return np.interp(steps * eef[-1], eef, radius) / pixel_arcsec, np.cos(phi), np.sin(phi)
