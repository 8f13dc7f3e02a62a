"""Which simulated sources the survey detects, their column-density classes, luminosities and
detection fractions (method.md §16).

The survey's own selection: a replica input is in the catalogue when, in at least one band,
it is the true source of a detection (the replicas' strict truth rule) whose DET_ML passes
the catalogue's threshold at its exposure.
"""

from __future__ import annotations

import astropy.units as u
import numpy as np
import pandas as pd
from astropy.cosmology import Planck18
from scipy.stats import beta

from xsurvey.calibrate.reliability import above_threshold
from xsurvey.instrument import band_suffix
from xsurvey.population.model import powerlaw_energy_flux
from xsurvey.tables import band_rows

#: Names of the column-density classes below, between and above two thresholds.
NH_CLASSES = ("unobscured", "obscured", "compton_thick")

#: Probability inside the two-sided intervals of the fractions (1 sigma).
LEVEL_68 = 0.6827

#: Bin edges of the detection fractions: log10 N_H (cm^-2) and log10 L_2-10 (erg s^-1).
DETECTION_BINS = {"log_nh": np.arange(20.0, 25.01, 0.25),
                  "log_lum_2_10": np.arange(40.0, 47.01, 0.5)}

#: Smallest column (cm^-2) taken for an unabsorbed source (log10: 19), below any class.
NH_FLOOR_CM2 = 1e19


def log_column(nh_cm2) -> np.ndarray:
    """log10 N_H (cm^-2) of the replicas' sources, unabsorbed ones at :data:`NH_FLOOR_CM2`."""
    return np.log10(np.maximum(np.asarray(nh_cm2, float), NH_FLOOR_CM2))


def nh_class(log_nh, log_thresholds) -> np.ndarray:
    """Class index of log10 N_H (cm^-2): 0 below the first threshold, 1 between, 2 above
    the second (:data:`NH_CLASSES`); a value equal to a threshold is in the class above."""
    return np.digitize(np.asarray(log_nh, float), np.asarray(log_thresholds, float))


def catalogue_selection(inputs: pd.DataFrame, thresholds: pd.DataFrame, level: float,
                        bands) -> np.ndarray:
    """Replica inputs that are in the replica's catalogue at ``level``.

    Parameters
    ----------
    inputs : pandas.DataFrame
        Replica inputs (:data:`xsurvey.simulate.INPUT_COLUMNS` and per band ``matched_<b>``,
        ``det_ml_<b>``, ``det_exposure_ks_<b>``).
    thresholds : pandas.DataFrame
        The catalogue's DET_ML thresholds (``band, exp_lo_ks, exp_hi_ks, reliability,
        det_ml_threshold``).
    level : float
        Reliability level of the catalogue (e.g. 0.95).
    bands : sequence of str

    Returns
    -------
    numpy.ndarray of bool
    """
    selected = np.zeros(len(inputs), bool)
    for b in bands:
        s = band_suffix(b)
        matched = inputs[f"matched_{s}"].to_numpy(bool)
        det_ml = np.nan_to_num(inputs[f"det_ml_{s}"].to_numpy(float), nan=-np.inf)
        expo = np.nan_to_num(inputs[f"det_exposure_ks_{s}"].to_numpy(float), nan=0.0)
        selected |= matched & above_threshold(det_ml, expo, band_rows(thresholds, b), level)
    return selected


def rest_frame_luminosity(flux_int, photon_index, redshift, flux_band_kev,
                          band_kev=(2.0, 10.0)) -> np.ndarray:
    """Intrinsic rest-frame luminosity (erg s^-1) in ``band_kev`` of power laws of intrinsic
    (unabsorbed, observed-frame) flux ``flux_int`` in ``flux_band_kev`` (erg cm^-2 s^-1).

    ``L = 4 pi D_L^2 F (1 + z)^(Gamma - 2) I(band) / I(flux band)`` with ``I`` the energy
    integral of ``E^-Gamma`` (Planck 2018 cosmology); equal to
    :func:`xsurvey.spectra.intrinsic_luminosity` for the same power law, vectorised.
    NaN where z <= 0.
    """
    g = np.asarray(photon_index, float)
    z = np.asarray(redshift, float)
    ok = np.isfinite(z) & (z > 0)
    d_l = np.full(z.shape, np.nan)
    if ok.any():
        d_l[ok] = Planck18.luminosity_distance(z[ok]).to_value(u.cm)
    ratio = powerlaw_energy_flux(g, *band_kev) / powerlaw_energy_flux(g, *flux_band_kev)
    with np.errstate(invalid="ignore"):
        return 4.0 * np.pi * d_l**2 * np.asarray(flux_int, float) * (1.0 + z) ** (g - 2.0) \
            * ratio


def binomial_interval(k, n, level: float = LEVEL_68):
    """Equal-tailed Jeffreys interval of a binomial fraction ``k / n`` (Beta(k + 1/2,
    n - k + 1/2) quantiles); ``(nan, nan)`` for n = 0."""
    k, n = np.asarray(k, float), np.asarray(n, float)
    a, b = k + 0.5, n - k + 0.5
    tail = 0.5 * (1.0 - level)
    with np.errstate(invalid="ignore"):
        lo = np.where(n > 0, np.where(k > 0, beta.ppf(tail, a, b), 0.0), np.nan)
        hi = np.where(n > 0, np.where(k < n, beta.ppf(1.0 - tail, a, b), 1.0), np.nan)
    return lo, hi


def detection_fractions(values, selected, edges, quantity: str) -> pd.DataFrame:
    """Fraction of the simulated sources in bins of ``values`` that the survey detects.

    Returns
    -------
    pandas.DataFrame
        ``quantity, lo, hi, n_input, n_detected, fraction, fraction_lo, fraction_hi``
        (68% Jeffreys interval).
    """
    values = np.asarray(values, float)
    selected = np.asarray(selected, bool)
    edges = np.asarray(edges, float)
    which = np.digitize(values, edges) - 1
    inside = (which >= 0) & (which < edges.size - 1)
    n = np.bincount(which[inside], minlength=edges.size - 1)
    k = np.bincount(which[inside & selected], minlength=edges.size - 1)
    lo, hi = binomial_interval(k, n)
    with np.errstate(invalid="ignore", divide="ignore"):
        fraction = np.where(n > 0, k / np.maximum(n, 1), np.nan)
    return pd.DataFrame({"quantity": quantity, "lo": edges[:-1], "hi": edges[1:],
                         "n_input": n, "n_detected": k, "fraction": fraction,
                         "fraction_lo": lo, "fraction_hi": hi})
