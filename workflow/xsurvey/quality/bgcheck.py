"""Validation of the background maps: (Data - Bgd)/Bgd in circles spread over each
observation (method.md §2, quality_bgcheck)."""

from __future__ import annotations

import numpy as np
import sep
from astropy.stats import sigma_clipped_stats


def spread_circles(exposure, n_circles: int, radius_pix: float, min_exposure_frac: float):
    """Centres of ``n_circles`` circles spread evenly over an observation's field.

    Circles lie on a square lattice whose spacing is set so that about
    ``n_circles`` centres fall where the exposure exceeds
    ``min_exposure_frac`` of the maximum and the whole circle is inside the
    image; deterministic. Fewer circles are returned if the field is small.

    Parameters
    ----------
    exposure : numpy.ndarray
        Exposure map of the observation, s.
    n_circles : int
        Wanted number of circles (method.md §3: 64).
    radius_pix : float
        Circle radius in pixels.
    min_exposure_frac : float
        Centres only where exposure > this fraction of the maximum.

    Returns
    -------
    x, y : numpy.ndarray
        0-based pixel coordinates of the centres.
    """
    exposure = np.asarray(exposure, float)
    ny, nx = exposure.shape
    good = exposure > min_exposure_frac * exposure.max() if exposure.max() > 0 else None
    if good is None or not good.any():
        return np.empty(0), np.empty(0)
    spacing = np.sqrt(good.sum() / n_circles)
    for _ in range(60):
        xs = np.arange(radius_pix, nx - radius_pix, spacing)
        ys = np.arange(radius_pix, ny - radius_pix, spacing)
        gx, gy = np.meshgrid(xs, ys)
        inside = good[np.round(gy).astype(int), np.round(gx).astype(int)]
        if inside.sum() >= n_circles or spacing <= 1.0:
            break
        spacing *= 0.97
    cx, cy = gx[inside], gy[inside]
    if cx.size > n_circles:
        keep = np.linspace(0, cx.size - 1, n_circles).round().astype(int)
        cx, cy = cx[keep], cy[keep]
    return cx, cy


def circle_sums(image, x, y, radius_pix: float):
    """Exact sums of ``image`` in circles (sep, sub-pixel exact overlap)."""
    data = np.ascontiguousarray(image, dtype=np.float64)
    if len(x) == 0:
        return np.empty(0)
    s, _, _ = sep.sum_circle(data, np.asarray(x, float), np.asarray(y, float), radius_pix,
                             subpix=0)
    return s


def background_residuals(data_counts, background_counts):
    """(Data - Bgd) / Bgd per circle (NaN where the background is zero)."""
    d = np.asarray(data_counts, float)
    b = np.asarray(background_counts, float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(b > 0, (d - b) / b, np.nan)


def residual_statistics(residuals, clip_sigma: float = 3.0):
    """Mean and standard deviation of (Data - Bgd)/Bgd, plain and sigma-clipped.

    Circles that fall on bright sources form a long positive tail; the
    sigma-clipped values (astropy ``sigma_clipped_stats``) describe the bulk
    of the circles, i.e. the accuracy of the background map itself.

    Returns
    -------
    dict
        ``mean, std`` (ddof=1), ``clipped_mean, clipped_std`` and ``n`` (finite).
    """

    r = np.asarray(residuals, float)
    r = r[np.isfinite(r)]
    if r.size < 2:
        nan = float("nan")
        return {"mean": nan, "std": nan, "clipped_mean": nan, "clipped_std": nan,
                "n": int(r.size)}
    cmean, _, cstd = sigma_clipped_stats(r, sigma=clip_sigma, stdfunc="mad_std")
    return {"mean": float(r.mean()), "std": float(r.std(ddof=1)), "clipped_mean": float(cmean),
            "clipped_std": float(cstd), "n": int(r.size)}


def bgcheck_observation(data, background, exposure, n_circles: int, radius_pix: float,
                      min_exposure_frac: float):
    """Data and background counts in circles spread over one observation.

    Parameters
    ----------
    data : numpy.ndarray
        Counts image of the observation in the band, on the background grid.
    background : numpy.ndarray
        Background map, counts per pixel.
    exposure : numpy.ndarray
        Exposure on the same grid, s (places the circles).
    n_circles, radius_pix, min_exposure_frac
        See :func:`spread_circles`.

    Returns
    -------
    dict of numpy.ndarray
        ``x, y`` (0-based pixel centres), ``data`` and ``bkg`` (counts).
    """
    cx, cy = spread_circles(exposure, n_circles, radius_pix, min_exposure_frac)
    return {
        "x": cx,
        "y": cy,
        "data": circle_sums(data, cx, cy, radius_pix),
        "bkg": circle_sums(background, cx, cy, radius_pix),
    }
