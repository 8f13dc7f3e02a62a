"""Survey area above each exposure (quality_area_exposure)."""

from __future__ import annotations

import numpy as np


def cumulative_area(exposure, pixel_area_deg2: float, exposure_grid=None):
    """Sky area with exposure above each threshold.

    Parameters
    ----------
    exposure : numpy.ndarray
        Exposure map, s.
    pixel_area_deg2 : float
        Area of one pixel, deg^2.
    exposure_grid : array_like, optional
        Thresholds in s; default 200 log-spaced values up to the maximum.

    Returns
    -------
    thresholds : numpy.ndarray
        Exposure thresholds, s.
    area_deg2 : numpy.ndarray
        Area with exposure >= threshold, deg^2.
    """
    e = np.asarray(exposure, float).ravel()
    e = np.sort(e[e > 0])
    if exposure_grid is None:
        top = e[-1] if e.size else 1.0
        exposure_grid = np.geomspace(top * 1e-3, top, 200)
    t = np.asarray(exposure_grid, float)
    n_above = e.size - np.searchsorted(e, t, side="left")
    return t, n_above * pixel_area_deg2
