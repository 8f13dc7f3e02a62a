"""Calibration of a detection method from simulated replicas (method.md §8).

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

import math

import numpy as np
import pandas as pd

from xsurvey.calibrate.intervals import (
    _INTERVAL,
    DEFAULT_EXPOSURE_EDGES_KS,
    _intervals_of,
    assign_interval,
    auto_exposure_intervals,
    default_det_ml_grid,
    exposure_intervals,
)

#: Default reliability levels of the DET_ML thresholds.
DEFAULT_LEVELS = (0.95, 0.99)


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
