"""Positional and flux accuracy of the replicas' matched detections: Rayleigh scales and
measured/input flux (method.md §7)."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd

from xsurvey.calibrate.reliability import (
    _band_of,
    _level_name,
    _matched,
    _require,
    _with_band,
    above_threshold,
)
from xsurvey.io import InputError


# --------------------------------------------------------------------------- positions
def rayleigh_sigma(separations) -> tuple[float, float, int]:
    """Maximum-likelihood Rayleigh scale of 2-D offsets.

    For offsets r_i with density r / sigma^2 exp(-r^2 / 2 sigma^2),
    sigma_ML = sqrt(sum r_i^2 / 2N), with standard error sigma / (2 sqrt N)
    (inverse Fisher information 4N / sigma^2). The truncation of the offsets
    at the matching radius is ignored (negligible when the radius is several
    sigma). NaN separations are ignored.

    Parameters
    ----------
    separations : array_like
        Offsets (any angle unit; the results are in the same unit).

    Returns
    -------
    sigma, sigma_err : float
        NaN when there is no offset.
    n : int
        Number of offsets used.
    """
    r = np.asarray(separations, float).ravel()
    r = r[np.isfinite(r)]
    n = r.size
    if n == 0:
        return np.nan, np.nan, 0
    sigma = float(np.sqrt(np.sum(r * r) / (2.0 * n)))
    return sigma, sigma / (2.0 * np.sqrt(n)), n


def separation_subsets(detections: pd.DataFrame, thresholds: pd.DataFrame,
                       level: float = 0.95, bright_flux: float = 1e-13) -> pd.DataFrame:
    """Input-to-detection separations of the positional-accuracy subsets (long table).

    Subsets (all among matched detections): ``all``; ``above<L>`` (e.g.
    ``above95``: DET_ML >= the level-L threshold of the detection's
    interval); ``bright`` (``input_flux_ref > bright_flux``) and ``faint``
    (``<= bright_flux``).

    Parameters
    ----------
    detections : pandas.DataFrame
        Columns ``input_id, separation_arcsec, det_ml, exposure_ks,
        input_flux_ref``.
    thresholds : pandas.DataFrame
        Output of :func:`threshold_for_reliability`.
    level : float
        Reliability level of the ``above`` subset.
    bright_flux : float
        Reference-band (3-24 keV) input flux (erg cm^-2 s^-1) splitting
        bright from faint.

    Returns
    -------
    pandas.DataFrame
        ``subset, separation_arcsec`` (a detection appears in every subset it
        belongs to).
    """
    _require(detections, ["input_id", "separation_arcsec", "det_ml", "exposure_ks",
                          "input_flux_ref"], "detections")
    m = detections[_matched(detections)]
    sep = m["separation_arcsec"].to_numpy(float)
    fref = m["input_flux_ref"].to_numpy(float)
    masks = {
        "all": np.ones(len(m), bool),
        f"above{_level_name(level)}": above_threshold(
            m["det_ml"].to_numpy(float), m["exposure_ks"].to_numpy(float), thresholds, level),
        "bright": fref > bright_flux,
        "faint": fref <= bright_flux,
    }
    subset = np.concatenate([np.full(int(v.sum()), k, dtype=object) for k, v in masks.items()])
    return pd.DataFrame({"subset": pd.Series(subset, dtype="str"),
                         "separation_arcsec": np.concatenate([sep[v] for v in masks.values()])})


def positional_accuracy(detections: pd.DataFrame, thresholds: pd.DataFrame,
                        level: float = 0.95, bright_flux: float = 1e-13,
                        band=None) -> pd.DataFrame:
    """Rayleigh scale of the input-to-detection separations for the subsets.

    See :func:`separation_subsets` for the subsets and :func:`rayleigh_sigma`
    for the estimator.

    Returns
    -------
    pandas.DataFrame
        ``[band,] subset, sigma_arcsec, sigma_err_arcsec, n`` (subsets in the
        order all, above<L>, bright, faint; NaN sigma for an empty subset).
    """
    s = separation_subsets(detections, thresholds, level, bright_flux)
    order = ["all", f"above{_level_name(level)}", "bright", "faint"]
    s = s[np.isfinite(s["separation_arcsec"].to_numpy(float))]
    r2 = s["separation_arcsec"].to_numpy(float) ** 2
    g = pd.DataFrame({"subset": s["subset"], "r2": r2}).groupby("subset")["r2"].agg(
        ["sum", "count"]).reindex(order)
    n = g["count"].fillna(0).to_numpy(np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        sigma = np.where(n > 0, np.sqrt(g["sum"].to_numpy(float) / (2.0 * n)), np.nan)
        err = sigma / (2.0 * np.sqrt(n))
    out = pd.DataFrame({"subset": order, "sigma_arcsec": sigma, "sigma_err_arcsec": err, "n": n})
    return _with_band(out, band if band is not None else _band_of(thresholds, "thresholds"))


def positional_accuracy_by_det_ml(detections: pd.DataFrame, thresholds: pd.DataFrame,
                                  level: float = 0.95, band=None, min_per_bin: int = 300,
                                  max_bins: int = 12) -> pd.DataFrame:
    """Rayleigh scale of the separations in DET_ML bins, above the level's threshold.

    The positional error of a source shrinks with its significance; one scale
    for the whole catalogue makes the faint sources' counterpart
    probabilities too confident and the bright ones' too cautious. Bins are
    quantiles of DET_ML among the matched detections above the threshold,
    with at least ``min_per_bin`` detections each (at most ``max_bins``).

    Parameters
    ----------
    detections : pandas.DataFrame
        Columns ``input_id, separation_arcsec, det_ml, exposure_ks``.
    thresholds : pandas.DataFrame
        Output of :func:`threshold_for_reliability`.
    level : float
        Reliability level of the threshold.
    band : str, optional
        Band label (default: from ``thresholds``).
    min_per_bin, max_bins : int
        Bin occupancy and number limits.

    Returns
    -------
    pandas.DataFrame
        ``band, det_ml_lo, det_ml_hi, det_ml_median, sigma_arcsec,
        sigma_err_arcsec, n`` (no rows when nothing is above the threshold).
    """
    _require(detections, ["input_id", "separation_arcsec", "det_ml", "exposure_ks"],
             "detections")
    m = detections[_matched(detections)]
    ml = m["det_ml"].to_numpy(float)
    sep = m["separation_arcsec"].to_numpy(float)
    ok = above_threshold(ml, m["exposure_ks"].to_numpy(float), thresholds, level) & np.isfinite(
        sep)
    ml, sep = ml[ok], sep[ok]
    nbin = int(min(max_bins, max(1, ml.size // max(int(min_per_bin), 1))))
    edges = np.unique(np.quantile(ml, np.linspace(0.0, 1.0, nbin + 1))) if ml.size else []
    rows = []
    for k, (lo, hi) in enumerate(itertools.pairwise(edges)):
        inside = (ml >= lo) & ((ml < hi) | (k == len(edges) - 2))
        sigma, err, n = rayleigh_sigma(sep[inside])
        rows.append((lo, hi, float(np.median(ml[inside])), sigma, err, n))
    out = pd.DataFrame(rows, columns=["det_ml_lo", "det_ml_hi", "det_ml_median", "sigma_arcsec",
                                      "sigma_err_arcsec", "n"])
    out["n"] = out["n"].astype(np.int64)
    return _with_band(out, band if band is not None else _band_of(thresholds, "thresholds"))


# --------------------------------------------------------------------------- fluxes
def flux_accuracy(detections: pd.DataFrame, bins, by: str = "input_flux",
                  band=None) -> pd.DataFrame:
    """Binned distribution of measured / input flux (Eddington bias).

    Uses matched detections with a positive, finite ``input_flux``.

    Parameters
    ----------
    detections : pandas.DataFrame
        Columns ``input_id, flux, input_flux`` and ``by``.
    bins : array_like
        Increasing bin edges of ``by`` (flux in erg cm^-2 s^-1, or S/N).
    by : {"input_flux", "snr"}
        Quantity binned along x.
    band : str, optional
        Written to a leading ``band`` column.

    Returns
    -------
    pandas.DataFrame
        One row per bin: ``bin_lo, bin_hi``, ``x`` (median of ``by`` in the
        bin), ``median_ratio, p16, p84`` (median and 16th/84th percentiles of
        flux / input_flux, linear interpolation), ``n``. Empty bins have
        ``n = 0`` and NaN statistics.
    """
    if by not in ("input_flux", "snr"):
        raise ValueError(f"flux_accuracy: by must be 'input_flux' or 'snr', got {by!r}")
    _require(detections, ["input_id", "flux", "input_flux", by], "detections")
    bins = np.asarray(bins, float)
    if bins.ndim != 1 or bins.size < 2 or np.any(np.diff(bins) <= 0):
        raise ValueError("flux_accuracy: bins must be strictly increasing edges (>= 2)")
    n_bins = bins.size - 1
    fin = detections["input_flux"].to_numpy(float)
    ok = _matched(detections) & np.isfinite(fin) & (fin > 0)
    x = detections[by].to_numpy(float)[ok]
    ratio = detections["flux"].to_numpy(float)[ok] / fin[ok]
    b = np.searchsorted(bins, x, side="right") - 1
    keep = (b >= 0) & (b < n_bins) & np.isfinite(ratio)
    df = pd.DataFrame({"b": b[keep], "x": x[keep], "ratio": ratio[keep]})
    q = df.groupby("b")["ratio"].quantile([0.16, 0.5, 0.84]).unstack()
    stats = pd.DataFrame({
        "x": df.groupby("b")["x"].median(),
        "median_ratio": q[0.5] if len(q) else pd.Series(dtype=float),
        "p16": q[0.16] if len(q) else pd.Series(dtype=float),
        "p84": q[0.84] if len(q) else pd.Series(dtype=float),
        "n": df.groupby("b").size(),
    }).reindex(np.arange(n_bins))
    out = pd.DataFrame({
        "bin_lo": bins[:-1], "bin_hi": bins[1:],
        "x": stats["x"].to_numpy(float),
        "median_ratio": stats["median_ratio"].to_numpy(float),
        "p16": stats["p16"].to_numpy(float),
        "p84": stats["p84"].to_numpy(float),
        "n": stats["n"].fillna(0).to_numpy(np.int64),
    })
    return _with_band(out, band)


def sigma_from_det_ml(best_band, det_ml, table, missing: str = "raise") -> np.ndarray:
    """Rayleigh scale (arcsec) of each source from its DET_ML, by band.

    Interpolated linearly in ``log DET_ML`` between the bin medians of
    ``positions_det_ml.csv`` (:func:`xsurvey.calibrate.positional_accuracy_by_det_ml`),
    constant beyond the first and last bins.

    Parameters
    ----------
    best_band : array_like of str
        Band of each source's position.
    det_ml : array_like
        DET_ML of each source in that band.
    table : pandas.DataFrame or astropy.table.Table
        ``band, det_ml_median, sigma_arcsec``.
    missing : {"raise", "nan"}
        A band without rows in ``table``: an error, or NaN for its sources.

    Returns
    -------
    numpy.ndarray
        Scales, arcsec.
    """
    band = np.asarray(table["band"]).astype(str)
    med = np.asarray(table["det_ml_median"], float)
    sig = np.asarray(table["sigma_arcsec"], float)
    best = np.asarray(best_band).astype(str)
    ml = np.asarray(det_ml, float)
    absent = sorted(str(b) for b in set(best) - set(band[np.isfinite(sig)]))
    if absent and missing == "raise":
        raise InputError(f"positional accuracy by DET_ML: no rows for band(s) {absent} "
                         f"(have {sorted(str(b) for b in set(band))})")
    bad = ~(np.isfinite(ml) & (ml > 0))
    if bad.any():
        raise InputError(f"positional accuracy by DET_ML: {int(bad.sum())} source(s) without a "
                         f"positive DET_ML in their best band")
    out = np.full(best.size, np.nan)
    for b in sorted(set(best) - set(absent)):
        rows = (band == b) & np.isfinite(sig)
        order = np.argsort(med[rows])
        at = best == b
        out[at] = np.interp(np.log(ml[at]), np.log(med[rows][order]), sig[rows][order])
    return out
