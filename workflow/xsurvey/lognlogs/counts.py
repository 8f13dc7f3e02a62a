"""Cumulative number counts N(>S) (logN-logS, method.md §10).

Estimator: N(>S) = sum over sources with flux S_i >= S of 1/Omega(S_i)
(deg^-2), Omega the sky coverage (deg^2) at the source's flux, interpolated
log-log in the coverage curve of :func:`xsurvey.calibrate.sky_coverage`;
variance sum of 1/Omega(S_i)^2. The value at a source's flux includes the
source itself (the usual step curve evaluated just below each flux).

Errors: the weighted sum is treated as a Poisson count of ``n_eff =
N^2 / var`` effective sources scaled by ``N / n_eff``; the 1-sigma errors
are ``N (lambda_u(n_eff) - n_eff) / n_eff`` (upper) and ``N (n_eff -
lambda_l(n_eff)) / n_eff`` (lower) with the Gehrels (1986) limits
(:mod:`xsurvey.detect.photometry`). For many sources both tend to
``sqrt(sum 1/Omega_i^2)``; for a handful they give the asymmetric Poisson
interval (with equal weights, exactly Gehrels on the number of sources).

Sample (method.md §10): sources above the 95% threshold, S/N > 2.5 and flux
between 1/3 of the half-area sensitivity and a maximum (default 1e-13,
6e-14 for 8-16 keV) (:func:`select_for_counts`). With a finite
``flux_max`` the estimator measures N(>S) - N(>flux_max): compare it with a
model truncated the same way (``flux_max`` of :func:`compare_to_model`).

Validation: :func:`replica_number_counts` applies the same selection and
estimator to the replica detections (measured fluxes, so the Eddington bias
is included) and averages the replicas on a flux grid;
:func:`compare_to_model` gives the ratio and pull against the input model
(the population's counts in the band, :meth:`xsurvey.population.Population.band_counts`).

Units: fluxes in erg cm^-2 s^-1, areas in deg^2, N(>S) in deg^-2.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from xsurvey.calibrate.intervals import log_bins
from xsurvey.calibrate.reliability import above_threshold
from xsurvey.detect.photometry import gehrels_lower, gehrels_upper
from xsurvey.instrument.core import band_suffix

log = logging.getLogger(__name__)




#: Default maximum flux of the number-counts sample (erg cm^-2 s^-1).
DEFAULT_FLUX_MAX = 1e-13


#: Default minimum S/N of the number-counts sample.
DEFAULT_SNR_MIN = 2.5


#: Default lower flux limit as a fraction of the half-area sensitivity.
HALF_AREA_FRACTION = 1.0 / 3.0


# --------------------------------------------------------------------------- coverage
def _rows(table: pd.DataFrame, band, level) -> pd.DataFrame:
    t = table
    if band is not None and "band" in t.columns:
        t = t[t["band"].astype(str).to_numpy() == str(band)]
    if level is not None and "reliability" in t.columns:
        t = t[np.isclose(t["reliability"].to_numpy(float), float(level), rtol=0, atol=1e-9)]
    if len(t) == 0:
        raise ValueError(f"no rows for band {band!r} and reliability {level!r}")
    return t


def coverage_curve(skycoverage: pd.DataFrame, band: str | None = None,
                   level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Sky-coverage curve of one band and reliability level.

    Parameters
    ----------
    skycoverage : pandas.DataFrame
        :func:`xsurvey.calibrate.sky_coverage` output (``[band,]
        reliability, flux, area_deg2``), one or several bands.
    band : str, optional
        Band to select (needed when several are present).
    level : float
        Reliability level of the catalogue.

    Returns
    -------
    flux, area_deg2 : numpy.ndarray
        Sorted by flux (erg cm^-2 s^-1); NaN areas (unknown) are kept.
    """
    t = _rows(skycoverage, band, level).sort_values("flux")
    if "band" in t.columns and t["band"].nunique() > 1:
        raise ValueError("coverage_curve: several bands present; pass band=")
    return t["flux"].to_numpy(float), t["area_deg2"].to_numpy(float)


def half_area_flux(sensitivity: pd.DataFrame, band: str | None = None,
                   level: float = 0.95) -> float:
    """Half-area sensitivity (erg cm^-2 s^-1) from :func:`xsurvey.calibrate.sensitivity`."""
    t = _rows(sensitivity, band, level)
    if len(t) != 1:
        raise ValueError(f"half_area_flux: {len(t)} rows for band {band!r}, level {level}")
    return float(t["flux_half_area"].iloc[0])


def coverage_at(flux, coverage_flux, coverage_area_deg2) -> np.ndarray:
    """Sky coverage at given fluxes, log-log interpolated.

    Only points with a finite, positive area are used. Above the brightest
    such point the coverage is held at its value (the curve saturates at
    the total area); below the faintest it is unknown (NaN).

    Parameters
    ----------
    flux : array_like
        Fluxes, erg cm^-2 s^-1.
    coverage_flux, coverage_area_deg2 : array_like
        Coverage curve: fluxes and areas (deg^2).

    Returns
    -------
    numpy.ndarray
        Coverage, deg^2 (NaN where unknown).
    """
    x = np.asarray(coverage_flux, float)
    y = np.asarray(coverage_area_deg2, float)
    ok = np.isfinite(x) & np.isfinite(y) & (x > 0) & (y > 0)
    x, y = x[ok], y[ok]
    order = np.argsort(x)
    x, y = x[order], y[order]
    f = np.asarray(flux, float)
    if x.size == 0:
        return np.full(f.shape, np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.exp(np.interp(np.log(f), np.log(x), np.log(y)))
    return np.where(f >= x[0], out, np.nan)


# --------------------------------------------------------------------------- estimator
def _poisson_scaled_errors(n_gt_s, variance):
    """Gehrels errors of a weighted count scaled from n_eff = N^2 / var sources."""
    n = np.asarray(n_gt_s, float)
    var = np.asarray(variance, float)
    with np.errstate(divide="ignore", invalid="ignore"):
        n_eff = np.where(var > 0, n * n / var, 0.0)
        scale = np.where(n_eff > 0, n / n_eff, 0.0)
    hi = (gehrels_upper(n_eff) - n_eff) * scale
    lo = (n_eff - gehrels_lower(n_eff)) * scale
    return hi, lo, n_eff


def number_counts(flux, coverage_flux, coverage_area_deg2, flux_min: float | None = None,
                  flux_max: float | None = None) -> pd.DataFrame:
    """Cumulative number counts N(>S) of a list of source fluxes.

    N(>S_k) = sum over sources with S_i >= S_k of 1/Omega(S_i), evaluated at
    every source flux S_k (so the point at S_k includes source k; sources
    of equal flux share one value). See the module docstring for the errors.

    Parameters
    ----------
    flux : array_like
        Source fluxes, erg cm^-2 s^-1 (e.g. :func:`catalog_sample`).
    coverage_flux, coverage_area_deg2 : array_like
        Sky coverage curve (:func:`coverage_curve`).
    flux_min, flux_max : float, optional
        Sources outside ``[flux_min, flux_max]`` are left out; with a finite
        ``flux_max`` the result is N(>S) - N(>flux_max).

    Returns
    -------
    pandas.DataFrame
        One row per source used, by increasing flux: ``flux``, ``n_gt_s``
        (deg^-2), ``n_err_lo``, ``n_err_hi`` (1 sigma, deg^-2),
        ``n_sources`` (sources with S_i >= S), ``omega_deg2`` (coverage at
        the source's flux), ``sigma_gauss`` (sqrt of the variance, deg^-2).
        Sources where the coverage is unknown or zero (fainter than the
        coverage curve) are left out with a warning; their number is in
        ``attrs["n_no_coverage"]``.
    """
    f = np.asarray(flux, float).ravel()
    keep = np.isfinite(f) & (f > 0)
    if flux_min is not None:
        keep &= f >= flux_min
    if flux_max is not None:
        keep &= f <= flux_max
    f = np.sort(f[keep])
    omega = coverage_at(f, coverage_flux, coverage_area_deg2)
    bad = ~(omega > 0)
    if bad.any():
        log.warning("number_counts: %d of %d sources fainter than the sky-coverage curve "
                    "(coverage unknown) are left out", int(bad.sum()), f.size)
        f, omega = f[~bad], omega[~bad]
    w = 1.0 / omega
    cum = np.cumsum(w[::-1])[::-1]
    cum2 = np.cumsum((w * w)[::-1])[::-1]
    first = np.searchsorted(f, f, side="left")           # first source of each flux value
    n_gt, var = cum[first], cum2[first]
    hi, lo, _ = _poisson_scaled_errors(n_gt, var)
    out = pd.DataFrame({
        "flux": f, "n_gt_s": n_gt, "n_err_lo": lo, "n_err_hi": hi,
        "n_sources": (f.size - first).astype(np.int64), "omega_deg2": omega,
        "sigma_gauss": np.sqrt(var),
    })
    out.attrs["n_no_coverage"] = int(bad.sum())
    return out


# --------------------------------------------------------------------------- selection
def select_for_counts(flux, snr, above, half_area_flux: float,
                      flux_max: float = DEFAULT_FLUX_MAX, snr_min: float = DEFAULT_SNR_MIN,
                      half_area_fraction: float = HALF_AREA_FRACTION) -> np.ndarray:
    """Sources that enter the number counts (method.md §10).

    ``above & (snr > snr_min) & (half_area_fraction * half_area_flux <=
    flux <= flux_max)``.

    Parameters
    ----------
    flux : array_like
        Band fluxes, erg cm^-2 s^-1.
    snr : array_like
        S/N of the band's detection (NaN for limits: not selected).
    above : array_like of bool
        Detected above the 95%-reliability threshold in the band.
    half_area_flux : float
        Half-area sensitivity of the band (erg cm^-2 s^-1).
    flux_max : float
        Maximum flux (default 1e-13; configure 6e-14 for 8-16 keV).
    snr_min : float
        Minimum S/N (strict).
    half_area_fraction : float
        Lower flux limit as a fraction of the half-area flux (1/3).

    Returns
    -------
    numpy.ndarray of bool
    """
    f = np.asarray(flux, float)
    with np.errstate(invalid="ignore"):
        return (np.asarray(above, bool) & (np.asarray(snr, float) > snr_min)
                & (f >= half_area_fraction * float(half_area_flux)) & (f <= flux_max))


def catalog_sample(catalog, band: str, half_area_flux: float,
                   flux_max: float = DEFAULT_FLUX_MAX, snr_min: float = DEFAULT_SNR_MIN,
                   half_area_fraction: float = HALF_AREA_FRACTION) -> np.ndarray:
    """Fluxes of the catalogue sources selected for the counts of ``band``.

    Parameters
    ----------
    catalog : astropy.table.Table or pandas.DataFrame
        :func:`xsurvey.catalog.build_catalog` output of the 95% catalogue
        (columns ``flux_<sfx>, snr_<sfx>, above_<sfx>``).
    band, half_area_flux, flux_max, snr_min, half_area_fraction
        See :func:`select_for_counts`.

    Returns
    -------
    numpy.ndarray
        Fluxes (erg cm^-2 s^-1) for :func:`number_counts`.
    """
    s = band_suffix(band)
    flux = np.asarray(catalog[f"flux_{s}"], float)
    sel = select_for_counts(flux, np.asarray(catalog[f"snr_{s}"], float),
                            np.asarray(catalog[f"above_{s}"], bool), half_area_flux, flux_max,
                            snr_min, half_area_fraction)
    return flux[sel]


# --------------------------------------------------------------------------- replicas
def replica_number_counts(detections: pd.DataFrame, thresholds: pd.DataFrame, coverage_flux,
                          coverage_area_deg2, half_area_flux: float,
                          flux_max: float = DEFAULT_FLUX_MAX, level: float = 0.95,
                          snr_min: float = DEFAULT_SNR_MIN,
                          half_area_fraction: float = HALF_AREA_FRACTION, flux_grid=None,
                          replicas=None, per_decade: int = 10) -> pd.DataFrame:
    """Number counts recovered from simulated catalogues, averaged over replicas.

    Each replica's detections are selected as the real catalogue's (DET_ML
    above the ``level`` threshold of their exposure interval, S/N >
    ``snr_min``, measured flux in range) and give N_r(>S) on a common flux
    grid with the same 1/Omega weights; the table reports the mean over
    replicas and the scatter between them (the uncertainty of one survey).

    Parameters
    ----------
    detections : pandas.DataFrame
        Replica detections of one band (:mod:`xsurvey.simulate` columns
        ``replica, det_ml, exposure_ks, flux, snr``).
    thresholds : pandas.DataFrame
        DET_ML thresholds of the band (:func:`xsurvey.calibrate.threshold_for_reliability`).
    coverage_flux, coverage_area_deg2 : array_like
        Sky coverage of the band at ``level`` (:func:`coverage_curve`).
    half_area_flux, flux_max, snr_min, half_area_fraction
        Selection, as :func:`select_for_counts`.
    level : float
        Reliability level of the thresholds.
    flux_grid : array_like, optional
        Fluxes at which N(>S) is evaluated (default: 10 per decade from the
        lower flux limit to ``flux_max``).
    replicas : array_like, optional
        Replica identifiers to average over (default: the distinct values of
        ``replica``; pass all simulated indices if some replica may have no
        detection at all).
    per_decade : int
        Grid density of the default grid.

    Returns
    -------
    pandas.DataFrame
        One row per grid flux: ``flux``, ``n_gt_s`` (mean over replicas,
        deg^-2), ``n_std`` (standard deviation between replicas), ``n_err_mean``
        (``n_std / sqrt(n_replicas)``), ``p16, p84`` (percentiles between
        replicas), ``n_sources`` (mean number of sources >= S per replica),
        ``n_replicas``.
    """
    for c in ("replica", "det_ml", "exposure_ks", "flux", "snr"):
        if c not in detections.columns:
            raise ValueError(f"replica detections lack column {c!r}")
    lo_flux = half_area_fraction * float(half_area_flux)
    if flux_grid is None:
        grid = log_bins(lo_flux, flux_max, per_decade)
    else:
        grid = np.sort(np.asarray(flux_grid, float))
    rep = detections["replica"].to_numpy()
    ids = np.unique(rep) if replicas is None else np.unique(np.asarray(replicas))
    if ids.size == 0:
        raise ValueError("replica_number_counts: no replicas")
    above = above_threshold(detections["det_ml"].to_numpy(float),
                                      detections["exposure_ks"].to_numpy(float), thresholds,
                                      level)
    flux = detections["flux"].to_numpy(float)
    sel = select_for_counts(flux, detections["snr"].to_numpy(float), above, half_area_flux,
                            flux_max, snr_min, half_area_fraction)
    r = np.searchsorted(ids, rep)
    sel &= (r < ids.size) & (ids[np.clip(r, 0, ids.size - 1)] == rep)
    omega = coverage_at(flux[sel], coverage_flux, coverage_area_deg2)
    ok = omega > 0
    if not ok.all():
        log.warning("replica_number_counts: %d selected detections fainter than the "
                    "sky-coverage curve are left out", int((~ok).sum()))
    f, r, w = flux[sel][ok], r[sel][ok], 1.0 / omega[ok]
    g = np.searchsorted(grid, f, side="right") - 1          # last grid point <= flux
    inside = g >= 0
    n_rep, n_grid = ids.size, grid.size
    flat = r[inside] * n_grid + g[inside]
    wsum = np.bincount(flat, weights=w[inside], minlength=n_rep * n_grid).reshape(n_rep, n_grid)
    nsum = np.bincount(flat, minlength=n_rep * n_grid).reshape(n_rep, n_grid)
    n_r = np.cumsum(wsum[:, ::-1], axis=1)[:, ::-1]           # N_r(>= grid point)
    k_r = np.cumsum(nsum[:, ::-1], axis=1)[:, ::-1]
    std = n_r.std(axis=0, ddof=1) if n_rep > 1 else np.full(n_grid, np.nan)
    return pd.DataFrame({
        "flux": grid,
        "n_gt_s": n_r.mean(axis=0),
        "n_std": std,
        "n_err_mean": std / np.sqrt(n_rep),
        "p16": np.percentile(n_r, 15.865, axis=0),
        "p84": np.percentile(n_r, 84.135, axis=0),
        "n_sources": k_r.mean(axis=0),
        "n_replicas": np.full(n_grid, n_rep, dtype=np.int64),
    })


# --------------------------------------------------------------------------- models
def compare_to_model(counts_table: pd.DataFrame, model_n_gt_s, flux_max: float | None = None,
                     sigma: str | None = None) -> pd.DataFrame:
    """Ratio and pull of measured number counts against a model.

    Parameters
    ----------
    counts_table : pandas.DataFrame
        :func:`number_counts` (``flux, n_gt_s, n_err_lo, n_err_hi``) or
        :func:`replica_number_counts` (``flux, n_gt_s, n_std``) output.
    model_n_gt_s : callable or array_like
        Model N(>S) (deg^-2): a function of flux (e.g. ``Population.band_counts``,
        ``CountsModel.n_gt_s``), or values at ``counts_table["flux"]``.
    flux_max : float, optional
        Maximum flux of the counted sample; the model is then compared as
        N(>S) - N(>flux_max), the quantity the estimator measures (only for
        a callable model).
    sigma : str, optional
        Error column(s) of the pull: ``"asymmetric"`` (``n_err_hi`` where
        the model lies above the data, ``n_err_lo`` below), or the name of
        one column (e.g. ``"n_std"``, ``"n_err_mean"``). Default:
        asymmetric if those columns exist, else ``n_std``.

    Returns
    -------
    pandas.DataFrame
        A copy of ``counts_table`` with ``model_n_gt_s``, ``ratio`` (data /
        model) and ``pull`` ((data - model) / sigma).
    """
    out = counts_table.copy()
    flux = out["flux"].to_numpy(float)
    if callable(model_n_gt_s):
        model = np.asarray(model_n_gt_s(flux), float)
        if flux_max is not None:
            model = model - float(np.asarray(model_n_gt_s(float(flux_max))))
    else:
        model = np.asarray(model_n_gt_s, float)
        if model.shape != flux.shape:
            raise ValueError(f"compare_to_model: {model.size} model values for {flux.size} rows")
    n = out["n_gt_s"].to_numpy(float)
    if sigma is None:
        sigma = "asymmetric" if {"n_err_lo", "n_err_hi"} <= set(out.columns) else "n_std"
    if sigma == "asymmetric":
        err = np.where(model > n, out["n_err_hi"].to_numpy(float),
                       out["n_err_lo"].to_numpy(float))
    else:
        err = out[sigma].to_numpy(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        out["model_n_gt_s"] = model
        out["ratio"] = n / model
        out["pull"] = np.where(err > 0, (n - model) / err, np.nan)
    return out
