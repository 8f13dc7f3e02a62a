"""Spectral responses: PI channel grids, a Gaussian redistribution matrix (RMF) from the
instrument's energy resolution, and a source's ancillary response (ARF).

Used when the observation table gives no ARF/RMF of its own (method.md §15). Written by
hand: the matrix is a Gaussian integrated over each channel (``scipy.special.ndtr``), which
no library builds from an instrument file.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr

#: Model energies (keV) kept beyond the channels at each end of an observation's own RMF
#: (more than 3 FWHM of NuSTAR's resolution, 0.4-0.9 keV).
MODEL_MARGIN_KEV = 3.0

#: FWHM of a Gaussian over its standard deviation.
FWHM_PER_SIGMA = 2.0 * np.sqrt(2.0 * np.log(2.0))


@dataclass(frozen=True)
class ChannelGrid:
    """PI channels ``first .. first + n - 1`` and their energy bounds (keV)."""

    first: int
    e_min: np.ndarray
    e_max: np.ndarray

    @property
    def channels(self) -> np.ndarray:
        """PI channel numbers."""
        return self.first + np.arange(self.e_min.size)

    @property
    def size(self) -> int:
        return int(self.e_min.size)


def channel_grid(instrument, e_lo_kev: float, e_hi_kev: float) -> ChannelGrid:
    """The PI channels whose energies lie in ``[e_lo_kev, e_hi_kev)``.

    Channel ``PI`` covers ``offset + kev_per_pi * [PI, PI + 1)`` keV (the instrument's
    ``energy_from_pi``).
    """
    lo, hi = instrument.pi_bounds(e_lo_kev, e_hi_kev)
    if hi <= lo:
        raise ValueError(f"no PI channel between {e_lo_kev} and {e_hi_kev} keV")
    pi = np.arange(lo, hi)
    e_min = instrument.pi_offset_kev + instrument.kev_per_pi * pi
    return ChannelGrid(lo, e_min, e_min + instrument.kev_per_pi)


def gaussian_rmf(energ_lo, energ_hi, grid: ChannelGrid, fwhm_kev) -> np.ndarray:
    """Redistribution matrix of a Gaussian energy resolution.

    Parameters
    ----------
    energ_lo, energ_hi : array_like
        Model energy bins (keV), the rows.
    grid : ChannelGrid
        The channels, the columns.
    fwhm_kev : callable
        FWHM (keV) at an energy, e.g. ``Instrument.resolution.fwhm``.

    Returns
    -------
    numpy.ndarray
        ``(n_energies, n_channels)``: the probability that a photon of the bin's mid energy
        is recorded in each channel (a row sums to less than 1 where the Gaussian spills
        beyond the channel grid).
    """
    mid = 0.5 * (np.asarray(energ_lo, float) + np.asarray(energ_hi, float))
    sigma = np.asarray(fwhm_kev(mid), float)[:, None] / FWHM_PER_SIGMA
    upper = ndtr((grid.e_max[None, :] - mid[:, None]) / sigma)
    lower = ndtr((grid.e_min[None, :] - mid[:, None]) / sigma)
    return upper - lower


def source_arf(instrument, energ_lo, energ_hi, eef: float, band_exposure_s: dict,
               exposure_s: float, area_cm2=None) -> np.ndarray:
    """Ancillary response (cm^2) of an aperture spectrum from exposure maps.

    ``A(E) * EEF * T_b(E) / T``: the on-axis area of one module, the aperture's
    encircled-energy fraction, and the energy dependence of the vignetting, taken from
    the band exposure maps at the source (``T_b``: the exposure of the band that holds
    ``E``, vignetting corrected, modules summed) relative to the spectrum's ``EXPOSURE``
    ``T``. Energies outside every band get the nearest band's exposure.

    Parameters
    ----------
    instrument : xsurvey.instrument.Instrument
    energ_lo, energ_hi : array_like
        Energy bins, keV.
    eef : float
        Encircled-energy fraction of the extraction aperture.
    band_exposure_s : dict
        ``{band: exposure at the source (s)}`` for bands that do not overlap
        (e.g. 3-8, 8-16, 16-24).
    exposure_s : float
        The spectrum's ``EXPOSURE`` (s), > 0.
    area_cm2 : array_like, optional
        On-axis area of one module on the energy bins (e.g. the mean of the observations'
        own ARFs); default the instrument's ``effective_area``.
    """
    if not exposure_s > 0:
        raise ValueError(f"exposure must be > 0 s, got {exposure_s}")
    mid = 0.5 * (np.asarray(energ_lo, float) + np.asarray(energ_hi, float))
    bands = sorted(band_exposure_s, key=lambda b: instrument.band(b).e_lo_kev)
    edges = np.array([instrument.band(b).e_hi_kev for b in bands[:-1]])
    which = np.searchsorted(edges, mid, side="right")
    t_rel = np.array([band_exposure_s[b] for b in bands], float)[which] / exposure_s
    area = instrument.effective_area(mid) if area_cm2 is None else np.asarray(area_cm2, float)
    return area * eef * t_rel


def model_energies(instrument, grid: ChannelGrid, margin_fwhm: float = 3.0):
    """Model energy bins (keV) of a response: the channels' width, over the channels'
    range widened by ``margin_fwhm`` times the resolution FWHM at each end, so that photons
    recorded in the spectrum's first and last channels from outside it are modelled.

    Returns
    -------
    energ_lo, energ_hi : numpy.ndarray
    """
    step = instrument.kev_per_pi
    fwhm = instrument.resolution.fwhm
    below = int(np.ceil(margin_fwhm * fwhm(grid.e_min[0]) / step))
    above = int(np.ceil(margin_fwhm * fwhm(grid.e_max[-1]) / step))
    lo = grid.e_min[0] + step * np.arange(-below, grid.size + above)
    lo = lo[lo >= step]  # positive energies
    return lo, lo + step
