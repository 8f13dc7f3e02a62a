"""Completeness, sky coverage and sensitivity from the replicas' inputs (method.md §7)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from xsurvey.calibrate.intervals import (
    _INTERVAL,
    DEFAULT_EXPOSURE_EDGES_KS,
    _intervals_of,
    assign_interval,
    exposure_intervals,
)
from xsurvey.calibrate.reliability import (
    _band_of,
    _interval_thresholds,
    _level_name,
    _levels,
    _require,
    _with_band,
    above_threshold,
)


# --------------------------------------------------------------------------- completeness
def completeness(inputs: pd.DataFrame, thresholds: pd.DataFrame, flux_bins) -> pd.DataFrame:
    """Completeness versus input flux per exposure interval and reliability level.

    An input source counts as detected at level L when it is matched and its
    matched detection has DET_ML >= the level-L threshold of the interval of
    the *detection's* exposure (``det_exposure_ks``). Inputs are binned by
    the interval of their *own* exposure (``exposure_ks``), the one of the
    geometric area they sample, and by input band flux. Inputs outside all
    intervals (unsurveyed) are left out.

    Parameters
    ----------
    inputs : pandas.DataFrame
        Columns ``flux`` (input band flux, erg cm^-2 s^-1), ``exposure_ks``,
        ``matched``, ``det_ml``, ``det_exposure_ks``.
    thresholds : pandas.DataFrame
        Output of :func:`threshold_for_reliability` (its intervals define the
        intervals here; its ``band`` column, if any, is carried through).
    flux_bins : array_like
        Increasing flux bin edges (> 0), e.g. :func:`log_bins`.

    Returns
    -------
    pandas.DataFrame
        One row per level, interval and flux bin: ``[band,] exp_lo_ks,
        exp_hi_ks, reliability, flux`` (geometric bin centre),
        ``flux_lo, flux_hi``, ``completeness`` (NaN for an empty bin),
        ``n_input``, ``n_detected``.
    """
    _require(inputs, ["flux", "exposure_ks", "matched", "det_ml", "det_exposure_ks"], "inputs")
    _require(thresholds, [*_INTERVAL, "reliability", "det_ml_threshold"], "thresholds")
    band = _band_of(thresholds, "thresholds")
    bins = np.asarray(flux_bins, float)
    if bins.ndim != 1 or bins.size < 2 or bins[0] <= 0 or np.any(np.diff(bins) <= 0):
        raise ValueError("flux_bins must be positive, strictly increasing edges (>= 2)")
    n_bins = bins.size - 1
    flux = inputs["flux"].to_numpy(float)
    fb = np.searchsorted(bins, flux, side="right") - 1
    fb = np.where((fb >= n_bins) | np.isnan(flux), -1, fb)
    matched = inputs["matched"].to_numpy(bool)
    ml = inputs["det_ml"].to_numpy(float)
    det_exp = inputs["det_exposure_ks"].to_numpy(float)

    frames = []
    for level in _levels(thresholds):
        edges, _ = _interval_thresholds(thresholds, level)
        n_int = edges.size - 1
        k = assign_interval(inputs["exposure_ks"].to_numpy(float), edges)
        keep = (k >= 0) & (fb >= 0)
        flat = k[keep] * n_bins + fb[keep]
        hit = matched & above_threshold(ml, det_exp, thresholds, level)
        n_in = np.bincount(flat, minlength=n_int * n_bins)
        n_hit = np.bincount(flat[hit[keep]], minlength=n_int * n_bins)
        with np.errstate(invalid="ignore", divide="ignore"):
            comp = np.where(n_in > 0, n_hit / n_in, np.nan)
        frames.append(pd.DataFrame({
            "exp_lo_ks": np.repeat(edges[:-1], n_bins),
            "exp_hi_ks": np.repeat(edges[1:], n_bins),
            "reliability": level,
            "flux": np.tile(np.sqrt(bins[:-1] * bins[1:]), n_int),
            "flux_lo": np.tile(bins[:-1], n_int),
            "flux_hi": np.tile(bins[1:], n_int),
            "completeness": comp,
            "n_input": n_in.astype(np.int64),
            "n_detected": n_hit.astype(np.int64),
        }))
    out = pd.concat(frames, ignore_index=True)
    return _with_band(out, band)


def counts_coverage(detections: pd.DataFrame, inputs: pd.DataFrame, thresholds: pd.DataFrame,
                    flux_bins, area_deg2: float, snr_min: float = 2.5) -> pd.DataFrame:
    """Sky coverage for number counts, in *measured* flux (flux-boosting aware).

    ``Omega(S) = A x N_selected(measured flux in bin) / N_input(input flux in bin)``:
    the selected detections (DET_ML above the level's threshold of their
    interval and S/N > ``snr_min``, matched or not) against all inputs drawn
    over the area ``A``. With it the 1/Omega estimator of
    :func:`xsurvey.lognlogs.number_counts`, applied to measured fluxes,
    returns the input counts on average: Eddington bias, flux boosting by
    neighbours and spurious detections are corrected with the replicas. The
    completeness of method.md §8 (:func:`completeness`, in input flux) is kept
    for the sensitivities; used with measured fluxes it overestimates the
    counts of a steep logN-logS by 30-50% on the demo.

    Parameters
    ----------
    detections, inputs : pandas.DataFrame
        Replica tables of one band (detections: ``det_ml, exposure_ks, flux,
        snr``; inputs: ``flux``).
    thresholds : pandas.DataFrame
        :func:`threshold_for_reliability` output of the band.
    flux_bins : array_like
        Flux bin edges, erg cm^-2 s^-1.
    area_deg2 : float
        Area over which the inputs were drawn (exposure > 0), deg^2.
    snr_min : float
        S/N cut of the counted sample (method.md §10).

    Returns
    -------
    pandas.DataFrame
        ``[band,] reliability, flux, area_deg2, n_selected, n_input``;
        NaN area where a bin has no input.
    """
    band = _band_of(thresholds, "thresholds")
    bins = np.asarray(flux_bins, float)
    centres = np.sqrt(bins[:-1] * bins[1:])
    n_in = np.histogram(inputs["flux"].to_numpy(float), bins)[0]
    det_flux = detections["flux"].to_numpy(float)
    good = np.isfinite(det_flux) & (detections["snr"].to_numpy(float) > snr_min)
    frames = []
    for level in _levels(thresholds):
        sel = good & above_threshold(detections["det_ml"].to_numpy(float),
                                     detections["exposure_ks"].to_numpy(float), thresholds,
                                     level)
        n_out = np.histogram(det_flux[sel], bins)[0]
        with np.errstate(invalid="ignore", divide="ignore"):
            area = np.where(n_in > 0, area_deg2 * n_out / n_in, np.nan)
        frames.append(pd.DataFrame({"reliability": level, "flux": centres, "area_deg2": area,
                                    "n_selected": n_out.astype(np.int64),
                                    "n_input": n_in.astype(np.int64)}))
    return _with_band(pd.concat(frames, ignore_index=True), band)


# --------------------------------------------------------------------------- areas
def geometric_areas(exposure_map_s, pixel_area_deg2,
                    edges_ks=DEFAULT_EXPOSURE_EDGES_KS) -> pd.DataFrame:
    """Geometric sky area of each exposure interval.

    Parameters
    ----------
    exposure_map_s : array_like
        Exposure map of the stack in s (FPMA+B); NaN pixels are not surveyed.
    pixel_area_deg2 : float or array_like
        Solid angle of a pixel in deg^2 (a scalar, or a map of the same shape
        for exact per-pixel areas).
    edges_ks : array_like
        Exposure-interval edges in ks. Pixels below the first edge are not
        surveyed and are in no interval.

    Returns
    -------
    pandas.DataFrame
        ``exp_lo_ks, exp_hi_ks, area_deg2``.
    """
    edges = exposure_intervals(edges_ks)
    expo = np.asarray(exposure_map_s, float)
    pix = np.broadcast_to(np.asarray(pixel_area_deg2, float), expo.shape)
    k = assign_interval(expo.ravel() / 1000.0, edges)
    keep = k >= 0
    area = np.bincount(k[keep], weights=pix.ravel()[keep], minlength=edges.size - 1)
    return pd.DataFrame({"exp_lo_ks": edges[:-1], "exp_hi_ks": edges[1:], "area_deg2": area})


def sky_coverage(completeness_table: pd.DataFrame, areas: pd.DataFrame) -> pd.DataFrame:
    """Sky coverage: area (deg^2) sensitive to a flux, summed over intervals.

    Omega(S) = sum_i C_i(S) * A_i over the exposure intervals i. Since every
    C_i <= 1, Omega never exceeds the total geometric area sum_i A_i. An
    interval with a positive area but no input source in a flux bin (NaN
    completeness) makes the coverage of that bin NaN: it is unknown, not 0.

    Parameters
    ----------
    completeness_table : pandas.DataFrame
        Output of :func:`completeness`.
    areas : pandas.DataFrame
        Output of :func:`geometric_areas` (same intervals).

    Returns
    -------
    pandas.DataFrame
        ``[band,] reliability, flux, area_deg2`` (sorted by level and flux).
    """
    _require(completeness_table, [*_INTERVAL, "reliability", "flux", "completeness"],
             "completeness")
    _require(areas, [*_INTERVAL, "area_deg2"], "areas")
    if not np.array_equal(_intervals_of(completeness_table, "completeness"),
                          _intervals_of(areas, "areas")):
        raise ValueError(
            "completeness and area tables have different exposure intervals: "
            f"{_intervals_of(completeness_table, 'completeness').tolist()} vs "
            f"{_intervals_of(areas, 'areas').tolist()}"
        )
    keys = (["band"] if "band" in completeness_table.columns else []) + ["reliability", "flux"]
    t = completeness_table.merge(areas[[*_INTERVAL, "area_deg2"]], on=_INTERVAL, how="left",
                                 validate="many_to_one")
    comp = t["completeness"].to_numpy(float)
    a = t["area_deg2"].to_numpy(float)
    t = t.assign(_contrib=np.where(a > 0, comp * a, 0.0),
                 _unknown=(a > 0) & np.isnan(comp))
    g = t.groupby(keys, sort=True)[["_contrib", "_unknown"]].agg(
        {"_contrib": "sum", "_unknown": "any"})
    cov = np.minimum(g["_contrib"].to_numpy(), float(areas["area_deg2"].sum()))
    out = g.index.to_frame(index=False)
    out["area_deg2"] = np.where(g["_unknown"].to_numpy(), np.nan, cov)
    return out


def _crossing(x, y, target):
    """Smallest x above which y stays >= target, log-log interpolated; NaN if undefined."""
    ok = np.isfinite(y) & (x > 0)
    x, y = x[ok], y[ok]
    if x.size == 0 or not (y[-1] >= target):
        return np.nan
    below = np.flatnonzero(y < target)
    if below.size == 0:
        return np.nan                    # already reached at the faintest bin: not resolved
    j = below[-1]
    if y[j] <= 0:
        return float(x[j + 1])
    t = (np.log(target) - np.log(y[j])) / (np.log(y[j + 1]) - np.log(y[j]))
    return float(np.exp(np.log(x[j]) + t * (np.log(x[j + 1]) - np.log(x[j]))))


def sensitivity(coverage: pd.DataFrame, total_area: float,
                fractions=(0.5, 0.2)) -> pd.DataFrame:
    """Fluxes at which the sky coverage reaches given fractions of the total area.

    For each level, the flux is the smallest one above which the coverage
    stays >= fraction * total_area: between the last bin below the target and
    the next one, log(flux) is interpolated linearly in log(coverage) (from a
    zero coverage, the next bin's flux is taken). NaN when the coverage
    never reaches the target, or already reaches it in the faintest finite
    bin (the bins do not resolve it).

    Parameters
    ----------
    coverage : pandas.DataFrame
        Output of :func:`sky_coverage` (one or several bands).
    total_area : float or dict
        Total geometric area in deg^2 (a ``{band: area}`` dict for several
        bands).
    fractions : sequence of float
        Fractions of the total area; the defaults 0.5 and 0.2 give the
        columns ``flux_half_area`` and ``flux_20pct_area``, others
        ``flux_<100 f>pct_area``.

    Returns
    -------
    pandas.DataFrame
        ``[band,] reliability, flux_half_area, flux_20pct_area`` (erg cm^-2 s^-1).
    """
    _require(coverage, ["reliability", "flux", "area_deg2"], "sky coverage")
    keys = (["band"] if "band" in coverage.columns else []) + ["reliability"]
    names = ["flux_half_area" if f == 0.5 else f"flux_{_level_name(f)}pct_area"
             for f in fractions]
    rows = []
    for key, g in coverage.sort_values([*keys, "flux"]).groupby(keys, sort=True):
        total = total_area[key[0]] if isinstance(total_area, dict) else total_area
        x, y = g["flux"].to_numpy(float), g["area_deg2"].to_numpy(float)
        rows.append((*key, *(_crossing(x, y, f * float(total)) for f in fractions)))
    return pd.DataFrame(rows, columns=[*keys, *names])
