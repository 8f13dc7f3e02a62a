"""Calibration of a detection method from simulated replicas (METHOD §8).

The replica simulator gives two tables per stack and band, concatenated over
many replicas:

* *detections* -- one row per detection: ``replica, det_ml, exposure_ks,
  flux, snr, input_id`` (``-1`` when not matched to an input source),
  ``input_flux, input_flux_ref, separation_arcsec`` (NaN when unmatched), ...
* *inputs* -- one row per simulated source: ``replica, input_id, flux,
  flux_ref, exposure_ks, matched, det_ml, det_exposure_ks`` (the last two NaN
  when unmatched).

From them this module derives, per exposure interval:

* the reliability curve R(DET_ML >= x) = N_matched(>= x) / N_detected(>= x)
  (:func:`reliability_curve`) and the DET_ML thresholds of given
  reliability levels (:func:`threshold_for_reliability`);
* the completeness versus input flux (:func:`completeness`), the geometric
  areas (:func:`geometric_areas`), the sky coverage and the half-area and
  20%-area sensitivities (:func:`sky_coverage`, :func:`sensitivity`);
* the positional accuracy (Rayleigh scale of the input-to-detection
  separations, :func:`positional_accuracy`) and the flux accuracy
  (:func:`flux_accuracy`);
* the expected number of spurious sources of a catalogue
  (:func:`expected_spurious`) and per-replica summary numbers
  (:func:`summary`).

Exposure intervals are half-open, ``[exp_lo_ks, exp_hi_ks)``, given by an
increasing array of edges in ks (FPMA+B exposure; the last edge may be
``inf``). Exposures below the first edge are "not surveyed": such detections
and inputs belong to no interval and are left out of every interval table,
consistently with :func:`geometric_areas`.

Tables are :class:`pandas.DataFrame`. Every function works on one band; the
optional ``band`` argument only adds a leading ``band`` column to the output
so that the caller can concatenate bands. Functions that take a table made
here (a curve, thresholds, completeness) carry its ``band`` column through.

Units: DET_ML is dimensionless (-ln P); exposures in ks (maps in s); fluxes
in erg cm^-2 s^-1; areas in deg^2; separations in arcsec.

Everything is vectorised (``numpy.bincount``/``searchsorted`` and pandas
groupby on integer keys); the only Python loops run over a handful of
groups (intervals, reliability levels, subsets), never over rows. Outputs
do not depend on the order of the input rows, so concatenating replica
chunks in any order gives the same tables; :func:`write_csv` writes them
byte-stably.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd

from xsurvey.io import atomic_path

__all__ = [
    "CSV_FLOAT_FORMAT",
    "DEFAULT_EXPOSURE_EDGES_KS",
    "DEFAULT_LEVELS",
    "above_threshold",
    "assign_interval",
    "auto_exposure_intervals",
    "band_reliability",
    "calibrate_band",
    "completeness",
    "default_det_ml_grid",
    "differential_reliability",
    "expected_spurious",
    "exposure_intervals",
    "flux_accuracy",
    "geometric_areas",
    "log_bins",
    "positional_accuracy",
    "rayleigh_sigma",
    "reliability_at",
    "reliability_curve",
    "sensitivity",
    "separation_subsets",
    "sky_coverage",
    "summary",
    "threshold_at",
    "threshold_for_reliability",
    "write_csv",
]

#: Default exposure-interval edges (ks, FPMA+B): 20-200, 200-500, >500 ks.
DEFAULT_EXPOSURE_EDGES_KS = (20.0, 200.0, 500.0, np.inf)
#: Default reliability levels of the DET_ML thresholds.
DEFAULT_LEVELS = (0.95, 0.99)
#: Float format of :func:`write_csv` (6 significant digits: byte-stable tables).
CSV_FLOAT_FORMAT = "%.6g"

_INTERVAL = ["exp_lo_ks", "exp_hi_ks"]


# --------------------------------------------------------------------------- helpers
def _require(table, columns, what):
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise ValueError(
            f"{what} table lacks column(s) {', '.join(missing)} "
            f"(found {', '.join(map(str, table.columns))})"
        )


def _with_band(df: pd.DataFrame, band) -> pd.DataFrame:
    if band is not None:
        df.insert(0, "band", band)
    return df


def _band_of(table, what):
    """The single band of a table with an optional ``band`` column (None if absent)."""
    if "band" not in table.columns:
        return None
    bands = pd.unique(table["band"])
    if len(bands) > 1:
        raise ValueError(f"{what} table holds several bands {list(bands)}; pass one band")
    return bands[0] if len(bands) else None


def _matched(detections) -> np.ndarray:
    return detections["input_id"].to_numpy() >= 0


def _level_mask(table, level) -> np.ndarray:
    return np.isclose(table["reliability"].to_numpy(float), float(level), rtol=0, atol=1e-9)


def _levels(table) -> np.ndarray:
    return np.unique(table["reliability"].to_numpy(float))


def _intervals_of(table, what) -> np.ndarray:
    """Contiguous edges (ks) of the intervals listed in ``exp_lo_ks, exp_hi_ks``."""
    pairs = table[_INTERVAL].drop_duplicates().sort_values("exp_lo_ks").to_numpy(float)
    if len(pairs) == 0:
        raise ValueError(f"{what} table has no exposure intervals")
    if np.any(pairs[1:, 0] != pairs[:-1, 1]) or np.any(pairs[:, 1] <= pairs[:, 0]):
        raise ValueError(
            f"{what} table: exposure intervals are not contiguous and increasing: "
            f"{pairs.tolist()}"
        )
    return np.append(pairs[:, 0], pairs[-1, 1])


def _interval_thresholds(thresholds, level) -> tuple[np.ndarray, np.ndarray]:
    """(edges_ks, DET_ML threshold of each interval) for one reliability level."""
    _require(thresholds, [*_INTERVAL, "det_ml_threshold"], "thresholds")
    _band_of(thresholds, "thresholds")
    t = thresholds
    if "reliability" in t.columns:
        sel = _level_mask(t, level)
        if not sel.any():
            raise ValueError(
                f"thresholds table has no reliability level {level:g} "
                f"(found {', '.join(f'{v:g}' for v in _levels(t))})"
            )
        t = t[sel]
    t = t.sort_values("exp_lo_ks")
    if t["exp_lo_ks"].duplicated().any():
        raise ValueError("thresholds table lists an exposure interval twice for one level")
    return _intervals_of(t, "thresholds"), t["det_ml_threshold"].to_numpy(float)


def _level_name(level: float) -> str:
    """Column suffix of a reliability level: 0.95 -> '95', 0.999 -> '99.9'."""
    return f"{round(100 * float(level), 6):g}"


def _cumulative_from_top(counts: np.ndarray) -> np.ndarray:
    """Reverse cumulative sum along the last axis: out[..., k] = sum(counts[..., k:])."""
    return np.cumsum(counts[..., ::-1], axis=-1)[..., ::-1]


# --------------------------------------------------------------------------- intervals
def exposure_intervals(edges_ks=DEFAULT_EXPOSURE_EDGES_KS) -> np.ndarray:
    """Validated exposure-interval edges.

    Parameters
    ----------
    edges_ks : sequence of float
        Increasing edges in ks (FPMA+B exposure); at least two; the first
        positive and finite (the survey's exposure floor), the last may be
        ``inf``. Interval ``i`` is ``[edges[i], edges[i+1])``. YAML users may
        write ``.inf`` for infinity.

    Returns
    -------
    numpy.ndarray
        The edges as float64.
    """
    edges = np.asarray(edges_ks, dtype=float).ravel()
    if edges.size < 2:
        raise ValueError(f"exposure intervals need at least two edges (ks), got {edges.tolist()}")
    if np.any(np.isnan(edges)) or not np.isfinite(edges[:-1]).all():
        raise ValueError(f"exposure edges must be finite except the last, got {edges.tolist()}")
    if edges[0] <= 0 or np.any(np.diff(edges) <= 0):
        raise ValueError(
            f"exposure edges must be positive and strictly increasing (ks), got {edges.tolist()}"
        )
    return edges


def auto_exposure_intervals(det_exposure_ks, n_intervals: int = 3,
                            floor_ks: float = 20.0) -> np.ndarray:
    """Exposure edges holding about equal numbers of detections.

    The inner edges are the ``1/n, 2/n, ...`` quantiles of the detections'
    exposures above the floor; the first edge is the floor and the last is
    ``inf``. Repeated quantiles (many detections at one exposure) are merged,
    so fewer than ``n_intervals`` intervals may come back.

    Parameters
    ----------
    det_exposure_ks : array_like
        Exposure (ks) at the detections (of all replicas of one band).
    n_intervals : int
        Number of intervals wanted (>= 1).
    floor_ks : float
        Exposure floor (ks): detections below it are ignored.

    Returns
    -------
    numpy.ndarray
        Edges in ks, as :func:`exposure_intervals` returns them.
    """
    n_intervals = int(n_intervals)
    if n_intervals < 1:
        raise ValueError(f"n_intervals must be >= 1, got {n_intervals}")
    e = np.asarray(det_exposure_ks, dtype=float).ravel()
    e = e[np.isfinite(e) & (e >= floor_ks)]
    if e.size == 0:
        raise ValueError(
            f"no detection has an exposure >= the floor {floor_ks:g} ks: cannot choose "
            "exposure intervals"
        )
    inner = np.quantile(e, np.arange(1, n_intervals) / n_intervals)
    inner = np.unique(inner[inner > floor_ks])
    return exposure_intervals(np.concatenate([[floor_ks], inner, [np.inf]]))


def assign_interval(exposure_ks, edges) -> np.ndarray:
    """Index of the exposure interval holding each exposure.

    Parameters
    ----------
    exposure_ks : array_like
        Exposures in ks.
    edges : array_like
        Interval edges in ks (see :func:`exposure_intervals`).

    Returns
    -------
    numpy.ndarray of int
        ``i`` with ``edges[i] <= exposure < edges[i+1]``; ``-1`` for exposures
        below the first edge, at or above a finite last edge, or NaN.
    """
    edges = np.asarray(edges, dtype=float)
    e = np.asarray(exposure_ks, dtype=float)
    idx = np.searchsorted(edges, e, side="right") - 1   # NaN sorts last: idx = edges.size - 1
    return np.where(idx >= edges.size - 1, -1, idx).astype(np.intp)


def log_bins(lo: float, hi: float, per_decade: int = 10) -> np.ndarray:
    """Logarithmic bin edges from ``lo`` to ``hi`` (inclusive), ``per_decade`` per decade.

    Parameters
    ----------
    lo, hi : float
        First and last edge (> 0), e.g. fluxes in erg cm^-2 s^-1.
    per_decade : int
        Bins per decade; the last bin ends exactly at ``hi`` (the number of
        bins is rounded up).
    """
    if not 0 < lo < hi:
        raise ValueError(f"log bins need 0 < lo < hi, got lo={lo:g}, hi={hi:g}")
    n = max(1, math.ceil(round(per_decade * np.log10(hi / lo), 9)))
    return np.logspace(np.log10(lo), np.log10(hi), n + 1)


def default_det_ml_grid(stop: float = 100.0, step: float = 0.1) -> np.ndarray:
    """DET_ML grid ``0, step, ..., stop`` of the reliability curves."""
    n = int(round(stop / step))
    return np.round(np.arange(n + 1) * step, 10)


# --------------------------------------------------------------------------- reliability
def reliability_curve(detections: pd.DataFrame, det_ml_grid=None,
                      edges_ks=DEFAULT_EXPOSURE_EDGES_KS, band=None) -> pd.DataFrame:
    """Cumulative reliability R(DET_ML >= x) per exposure interval.

    R(>= x) = N_matched(>= x) / N_detected(>= x), counting the detections of
    all replicas with ``det_ml >= x`` in the interval of their exposure; a
    detection is matched when ``input_id >= 0``.

    Parameters
    ----------
    detections : pandas.DataFrame
        Columns ``det_ml, exposure_ks`` (ks), ``input_id``.
    det_ml_grid : array_like, optional
        Strictly increasing DET_ML values x (default
        :func:`default_det_ml_grid`: 0 to 100 by 0.1).
    edges_ks : array_like
        Exposure-interval edges in ks.
    band : str, optional
        Written to a leading ``band`` column.

    Returns
    -------
    pandas.DataFrame
        One row per interval and grid value: ``exp_lo_ks, exp_hi_ks`` (ks),
        ``det_ml`` (x), ``reliability`` (NaN where nothing is detected),
        ``n_detected``, ``n_matched`` (counts with DET_ML >= x, all replicas).
    """
    _require(detections, ["det_ml", "exposure_ks", "input_id"], "detections")
    edges = exposure_intervals(edges_ks)
    grid = default_det_ml_grid() if det_ml_grid is None else np.asarray(det_ml_grid, float)
    if grid.ndim != 1 or grid.size == 0 or not np.isfinite(grid).all() or np.any(
            np.diff(grid) <= 0):
        raise ValueError("det_ml_grid must be a finite, strictly increasing 1-D array")
    n_int, n_grid = edges.size - 1, grid.size

    k = assign_interval(detections["exposure_ks"].to_numpy(float), edges)
    ml = detections["det_ml"].to_numpy(float)
    # grid bin b: grid[b] <= ml < grid[b+1]; b = -1 below the grid (never counted)
    b = np.searchsorted(grid, ml, side="right") - 1
    keep = (k >= 0) & (b >= 0) & ~np.isnan(ml)
    flat = k[keep] * n_grid + b[keep]
    size = n_int * n_grid
    n_det = np.bincount(flat, minlength=size).reshape(n_int, n_grid)
    n_mat = np.bincount(flat[_matched(detections)[keep]], minlength=size).reshape(n_int, n_grid)
    n_det, n_mat = _cumulative_from_top(n_det), _cumulative_from_top(n_mat)
    with np.errstate(invalid="ignore", divide="ignore"):
        rel = np.where(n_det > 0, n_mat / n_det, np.nan)
    out = pd.DataFrame({
        "exp_lo_ks": np.repeat(edges[:-1], n_grid),
        "exp_hi_ks": np.repeat(edges[1:], n_grid),
        "det_ml": np.tile(grid, n_int),
        "reliability": rel.ravel(),
        "n_detected": n_det.ravel().astype(np.int64),
        "n_matched": n_mat.ravel().astype(np.int64),
    })
    return _with_band(out, band)


def _min_detections_for(level: float, min_detections) -> int:
    if min_detections is not None:
        return max(1, int(min_detections))
    # smallest n with 1 - 1/n >= level: one spurious detection alone cannot fail the level
    return max(1, math.ceil(1.0 / (1.0 - level) - 1e-9))


def _threshold_one(x, rel, n, level, n_min):
    """Threshold of one sorted curve: (x_threshold, R there, n there) or NaNs."""
    valid = n >= n_min                      # a prefix of the grid (n is non-increasing)
    fail = valid & ~(rel >= level)
    if not valid.any():
        return np.nan, np.nan, 0
    j = np.flatnonzero(fail)[-1] + 1 if fail.any() else 0
    if j >= x.size or not valid[j]:
        return np.nan, np.nan, 0
    return x[j], rel[j], int(n[j])


def threshold_for_reliability(curve: pd.DataFrame, levels=DEFAULT_LEVELS,
                              min_detections: int | None = None) -> pd.DataFrame:
    """DET_ML thresholds of given reliability levels, per exposure interval.

    The threshold of level L is the smallest grid value x such that
    R(>= x') >= L for every grid value x' >= x at which the curve is
    measured. A dip below L at high DET_ML therefore pushes the threshold
    above the dip, not just above the first crossing.

    "Measured" means ``n_detected >= min_detections``. Its default,
    ``ceil(1 / (1 - L))`` (20 for 95%, 100 for 99%), is the smallest sample
    in which a single spurious detection cannot by itself bring R below L:
    at the top of the grid, where a handful of bright detections remain, R
    would otherwise drop to 0 or 0.5 because of one unlucky object and drive
    the threshold to the end of the grid. Since ``n_detected`` does not
    increase with x, the ignored points are the top tail of the curve only.
    Pass ``min_detections=1`` to use every point with a detection.

    When the level is never reached (R < L at the last measured grid point,
    or no point is measured) the threshold is NaN and ``n_detected`` is 0:
    nothing in that interval enters a catalogue of that reliability.

    Parameters
    ----------
    curve : pandas.DataFrame
        Output of :func:`reliability_curve` (optionally with ``band``).
    levels : sequence of float
        Reliability levels in (0, 1).
    min_detections : int, optional
        Minimum ``n_detected`` of a grid point for it to count (see above).

    Returns
    -------
    pandas.DataFrame
        One row per level and interval: ``[band,] exp_lo_ks, exp_hi_ks``,
        ``reliability`` (the level), ``det_ml_threshold``,
        ``n_detected`` (detections of all replicas with DET_ML >= threshold),
        ``reliability_at_threshold`` (R(>= threshold) measured).
    """
    _require(curve, [*_INTERVAL, "det_ml", "reliability", "n_detected"], "reliability curve")
    levels = np.atleast_1d(np.asarray(levels, float))
    if np.any((levels <= 0) | (levels >= 1)):
        raise ValueError(f"reliability levels must lie in (0, 1), got {levels.tolist()}")
    keys = (["band"] if "band" in curve.columns else []) + _INTERVAL
    c = curve.sort_values([*keys, "det_ml"], kind="stable")
    rows = []
    for level in levels:
        n_min = _min_detections_for(level, min_detections)
        for key, g in c.groupby(keys, sort=True):
            thr, rel, n = _threshold_one(g["det_ml"].to_numpy(float),
                                         g["reliability"].to_numpy(float),
                                         g["n_detected"].to_numpy(), level, n_min)
            rows.append((*key, level, thr, n, rel))
    return pd.DataFrame(rows, columns=[*keys, "reliability", "det_ml_threshold", "n_detected",
                                       "reliability_at_threshold"])


def threshold_at(exposure_ks, thresholds: pd.DataFrame, level: float = 0.95) -> np.ndarray:
    """DET_ML threshold of level ``level`` at given exposures.

    Parameters
    ----------
    exposure_ks : array_like
        Exposures (ks) of sources.
    thresholds : pandas.DataFrame
        Output of :func:`threshold_for_reliability` (one band), or any table
        with ``exp_lo_ks, exp_hi_ks, det_ml_threshold`` (one level).
    level : float
        Reliability level selected from the ``reliability`` column.

    Returns
    -------
    numpy.ndarray
        Threshold of each source's interval; NaN outside all intervals or
        where the level is never reached.
    """
    edges, thr = _interval_thresholds(thresholds, level)
    k = assign_interval(exposure_ks, edges)
    return np.where(k >= 0, thr[np.clip(k, 0, None)], np.nan)


def above_threshold(det_ml, exposure_ks, thresholds: pd.DataFrame,
                    level: float = 0.95) -> np.ndarray:
    """True where ``det_ml >= `` the threshold of the source's exposure interval.

    Sources outside all intervals, or in an interval whose level is never
    reached (NaN threshold), are False. See :func:`threshold_at`.
    """
    thr = threshold_at(exposure_ks, thresholds, level)
    with np.errstate(invalid="ignore"):
        return np.asarray(det_ml, float) >= thr


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
    completeness of METHOD §8 (:func:`completeness`, in input flux) is kept
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
        S/N cut of the counted sample (METHOD §10).

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


# --------------------------------------------------------------------------- spurious
def differential_reliability(curve: pd.DataFrame) -> pd.DataFrame:
    """Reliability of detections *at* a DET_ML, from the cumulative curve.

    In grid bin ``[x_k, x_{k+1})`` r_k = (M_k - M_{k+1}) / (N_k - N_{k+1}),
    the fraction of matched detections with DET_ML in the bin (N, M:
    cumulative detected and matched counts); the last bin is
    ``[x_last, inf)`` with r = M / N there. Empty bins take the value of the
    nearest non-empty bin below them (or above, at the bottom of the grid).

    Parameters
    ----------
    curve : pandas.DataFrame
        Output of :func:`reliability_curve` (needs ``n_matched``).

    Returns
    -------
    pandas.DataFrame
        ``[band,] exp_lo_ks, exp_hi_ks, det_ml`` (bin lower edge),
        ``reliability`` (differential), ``n_detected`` (detections in the bin).
    """
    _require(curve, [*_INTERVAL, "det_ml", "n_detected", "n_matched"], "reliability curve")
    keys = (["band"] if "band" in curve.columns else []) + _INTERVAL
    c = curve.sort_values([*keys, "det_ml"], kind="stable").reset_index(drop=True)
    grp = c.groupby(keys, sort=False)
    n_next = grp["n_detected"].shift(-1, fill_value=0)
    m_next = grp["n_matched"].shift(-1, fill_value=0)
    dn = (c["n_detected"] - n_next).to_numpy(float)
    dm = (c["n_matched"] - m_next).to_numpy(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = pd.Series(np.where(dn > 0, dm / dn, np.nan))
    r = r.groupby([c[k] for k in keys], sort=False).transform(lambda s: s.ffill().bfill())
    out = c[[*keys, "det_ml"]].copy()
    out["reliability"] = r.to_numpy(float)
    out["n_detected"] = dn.astype(np.int64)
    return out


def reliability_at(det_ml, exposure_ks, curve: pd.DataFrame,
                   kind: str = "differential") -> np.ndarray:
    """Reliability of sources at their DET_ML in the curve of their exposure interval.

    Parameters
    ----------
    det_ml, exposure_ks : array_like
        DET_ML and exposure (ks) of the sources.
    curve : pandas.DataFrame
        Output of :func:`reliability_curve` (one band).
    kind : {"differential", "cumulative"}
        ``"differential"``: the probability that a detection with this
        DET_ML is real (:func:`differential_reliability`, step function of
        the grid bins). ``"cumulative"``: R(>= DET_ML), linearly interpolated
        between grid points where something is detected and held constant
        beyond them.

    Returns
    -------
    numpy.ndarray
        NaN for sources outside all intervals or below the grid.
    """
    _band_of(curve, "reliability curve")
    if kind not in ("differential", "cumulative"):
        raise ValueError(f"kind must be 'differential' or 'cumulative', got {kind!r}")
    c = differential_reliability(curve) if kind == "differential" else curve
    edges = _intervals_of(c, "reliability curve")
    ml = np.asarray(det_ml, float)
    k = assign_interval(exposure_ks, edges)
    out = np.full(ml.shape, np.nan)
    c = c.sort_values([*_INTERVAL, "det_ml"])
    for i, (_, g) in enumerate(c.groupby(_INTERVAL, sort=True)):
        sel = k == i
        x, r = g["det_ml"].to_numpy(float), g["reliability"].to_numpy(float)
        ok = np.isfinite(r)
        if not ok.any() or not sel.any():
            continue
        if kind == "cumulative":
            val = np.interp(ml[sel], x[ok], r[ok])
        else:
            j = np.searchsorted(x, ml[sel], side="right") - 1
            val = r[np.clip(j, 0, None)]
        out[sel] = np.where(ml[sel] >= x[0], val, np.nan)
    return out


def expected_spurious(det_ml, exposure_ks, curve: pd.DataFrame,
                      kind: str = "differential") -> float:
    """Expected number of spurious sources in a list: sum of (1 - reliability).

    With ``kind="differential"`` (default) each source contributes the
    probability that a detection at its DET_ML is spurious; the sum is then
    an unbiased estimate of the number of spurious sources in any list
    selected on DET_ML (e.g. a catalogue above threshold). With
    ``kind="cumulative"`` it contributes 1 - R(>= its DET_ML); this is
    smaller, because R(>= x) averages over the more reliable detections above
    x (it underestimates the spurious count of a catalogue). Sources outside
    all intervals or below the grid (NaN reliability) are not counted.

    Parameters
    ----------
    det_ml, exposure_ks : array_like
        DET_ML and exposure (ks) of the sources.
    curve : pandas.DataFrame
        Output of :func:`reliability_curve` (one band).
    kind : {"differential", "cumulative"}
        See :func:`reliability_at`.

    Returns
    -------
    float
    """
    r = reliability_at(det_ml, exposure_ks, curve, kind)
    return float(np.nansum(1.0 - r))


# --------------------------------------------------------------------------- summary
def summary(detections: pd.DataFrame, thresholds: pd.DataFrame, n_replicas: int | None = None,
            band=None) -> pd.DataFrame:
    """Mean numbers per replica: detections, matches, detections above the thresholds.

    Parameters
    ----------
    detections : pandas.DataFrame
        Columns ``replica, det_ml, exposure_ks, input_id``.
    thresholds : pandas.DataFrame
        Output of :func:`threshold_for_reliability`.
    n_replicas : int, optional
        Number of replicas simulated (replicas without any detection count
        too); default: the distinct ``replica`` values.
    band : str, optional
        Leading ``band`` column (default: the thresholds' band, if any).

    Returns
    -------
    pandas.DataFrame
        One row: ``[band,] n_replicas, n_detected, n_matched``, and per level
        L (e.g. 95, 99) ``n_above<L>`` and ``n_matched_above<L>`` (means per
        replica).
    """
    _require(detections, ["replica", "det_ml", "exposure_ks", "input_id"], "detections")
    if n_replicas is None:
        n_replicas = int(detections["replica"].nunique())
    if n_replicas <= 0:
        raise ValueError("summary: n_replicas must be positive")
    matched = _matched(detections)
    ml = detections["det_ml"].to_numpy(float)
    expo = detections["exposure_ks"].to_numpy(float)
    row = {"n_replicas": int(n_replicas),
           "n_detected": len(detections) / n_replicas,
           "n_matched": matched.sum() / n_replicas}
    for level in _levels(thresholds):
        above = above_threshold(ml, expo, thresholds, level)
        row[f"n_above{_level_name(level)}"] = above.sum() / n_replicas
        row[f"n_matched_above{_level_name(level)}"] = (above & matched).sum() / n_replicas
    out = pd.DataFrame([row])
    return _with_band(out, band if band is not None else _band_of(thresholds, "thresholds"))


# --------------------------------------------------------------------------- output
def write_csv(df: pd.DataFrame, path) -> None:
    """Write a table as CSV atomically and byte-stably.

    Floats use ``%.6g`` (:data:`CSV_FLOAT_FORMAT`), lines end with ``\\n``,
    no index; NaN is written as an empty field.
    """
    with atomic_path(path) as tmp:
        df.to_csv(tmp, index=False, float_format=CSV_FLOAT_FORMAT, lineterminator="\n")


def band_reliability(detections: pd.DataFrame, band: str, edges_ks="auto", n_intervals: int = 3,
                     floor_ks: float = 20.0, levels=DEFAULT_LEVELS):
    """Reliability curves and DET_ML thresholds of one band from its replicas.

    Parameters
    ----------
    detections : pandas.DataFrame
        Replica detections of the band (:mod:`xsurvey.simulate` columns).
    band : str
    edges_ks : sequence of float or "auto"
        Exposure-interval edges (ks), or automatic (equal numbers of detections).
    n_intervals, floor_ks : int, float
        For ``"auto"``: number of intervals and exposure floor.
    levels : sequence of float
        Reliability levels.

    Returns
    -------
    curve, thresholds : pandas.DataFrame
        :func:`reliability_curve` and :func:`threshold_for_reliability`.
    """
    if isinstance(edges_ks, str):
        edges = auto_exposure_intervals(detections["exposure_ks"], n_intervals, floor_ks)
    else:
        edges = exposure_intervals(edges_ks)
    curve = reliability_curve(detections, default_det_ml_grid(), edges, band=band)
    return curve, threshold_for_reliability(curve, levels)


def calibrate_band(detections: pd.DataFrame, inputs: pd.DataFrame, exposure_map_s,
                   pixel_area_deg2, band: str, n_replicas: int, thresholds: pd.DataFrame,
                   bright_flux: float = 1e-13, bins_per_decade: int = 8,
                   snr_min: float = 2.5) -> dict:
    """Calibration tables of one band from its replicas and its thresholds.

    Parameters
    ----------
    detections, inputs : pandas.DataFrame
        Replica tables of one band (:mod:`xsurvey.simulate` columns;
        :func:`xsurvey.simulate.band_inputs`).
    exposure_map_s : numpy.ndarray
        Stack exposure map, s (the one the replicas used).
    pixel_area_deg2 : float
        Pixel area of the map.
    band : str
    n_replicas : int
    thresholds : pandas.DataFrame
        The band's thresholds per level (:func:`band_reliability`, or raised
        for the merged catalogue); their intervals and levels are used.
    bright_flux : float
        Reference-band flux separating the bright and faint position subsets.
    bins_per_decade : int
        Flux bins per decade for completeness and flux accuracy.
    snr_min : float
        S/N cut of the number-counts sample (:func:`counts_coverage`).

    Returns
    -------
    dict of pandas.DataFrame
        ``completeness, skycoverage, countscoverage, sensitivity, positions,
        positions_det_ml, separations, flux_vs_flux, flux_vs_snr, summary``.
    """
    levels = _levels(thresholds)
    edges = _intervals_of(thresholds, "thresholds")
    fluxes = inputs["flux"].to_numpy()
    fluxes = fluxes[fluxes > 0]
    flux_bins = log_bins(fluxes.min(), fluxes.max(), bins_per_decade)
    comp = completeness(inputs, thresholds, flux_bins)
    areas = geometric_areas(exposure_map_s, pixel_area_deg2, edges)
    coverage = sky_coverage(comp, areas)
    snr = detections["snr"].to_numpy(float)
    snr = snr[np.isfinite(snr) & (snr > 0)]
    # S/N bins of the detections (a placeholder range when the replicas detected nothing)
    snr_bins = log_bins(max(snr.min(), 0.5), max(snr.max(), 1.0), bins_per_decade) \
        if snr.size else log_bins(0.5, 100.0, bins_per_decade)
    return {
        "completeness": comp,
        "skycoverage": coverage,
        "countscoverage": counts_coverage(detections, inputs, thresholds, flux_bins,
                                          float((np.asarray(exposure_map_s) > 0).sum())
                                          * pixel_area_deg2, snr_min),
        "sensitivity": sensitivity(coverage, float(areas["area_deg2"].sum())),
        "positions": positional_accuracy(detections, thresholds, levels[0], bright_flux,
                                         band=band),
        "positions_det_ml": positional_accuracy_by_det_ml(detections, thresholds, levels[0],
                                                          band=band),
        "separations": separation_subsets(detections, thresholds, levels[0], bright_flux),
        "flux_vs_flux": flux_accuracy(detections, flux_bins, by="input_flux", band=band),
        "flux_vs_snr": flux_accuracy(detections, snr_bins, by="snr", band=band),
        "summary": summary(detections, thresholds, n_replicas, band=band),
    }
