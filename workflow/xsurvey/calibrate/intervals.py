"""Exposure intervals of the calibration (fixed edges or automatic, equal numbers of
replica detections) and the DET_ML and flux grids (method.md §7)."""

from __future__ import annotations

import math

import numpy as np

#: Default exposure-interval edges (ks, FPMA+B): 20-200, 200-500, >500 ks.
DEFAULT_EXPOSURE_EDGES_KS = (20.0, 200.0, 500.0, np.inf)


_INTERVAL = ["exp_lo_ks", "exp_hi_ks"]


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
