"""Background of an observation: the focused-CXB component of a background map, and
the background estimated from the counts when no map is given (method.md §2)."""

from __future__ import annotations

import numpy as np


def fcxb_component(background, exposure, fcxb_fraction: float, fcxb_map=None):
    """Focused-CXB part of a background map.

    Parameters
    ----------
    background : numpy.ndarray
        Total background, counts per pixel.
    exposure : numpy.ndarray
        Vignetting-corrected exposure on the same grid, s.
    fcxb_fraction : float
        On-axis fCXB share of the band background (instrument YAML), used only
        when the background file has no separate FCXB component.
    fcxb_map : numpy.ndarray, optional
        The FCXB extension of the background file, if any.

    Returns
    -------
    numpy.ndarray
        fCXB counts per pixel. Without ``fcxb_map`` it is approximated as
        ``fcxb_fraction * background * exposure / max(exposure)``: the fCXB
        follows the vignetting, which the exposure map traces.
    """
    if fcxb_map is not None:
        return np.asarray(fcxb_map, float)
    emax = float(np.max(exposure)) if np.size(exposure) else 0.0
    if emax <= 0:
        return np.zeros_like(np.asarray(background, float))
    return fcxb_fraction * np.asarray(background, float) * (np.asarray(exposure) / emax)


def estimate_background(counts, exposure, fcxb_fraction: float, clip_sigma: float = 3.0,
                        box_pix: int = 16, iterations: int = 5):
    """Background map of one observation and band from its own counts (no map supplied).

    The model has the shape of the instrument background: a component flat
    over the field (internal + stray light) and an fCXB component following
    the vignetting (traced by the exposure map), in the instrument's
    proportions (``fcxb_fraction`` on axis). Its one free normalisation is the
    Poisson maximum-likelihood value, sum(counts) / sum(template), over the
    pixels left after masking sources: boxes of ``box_pix`` pixels whose
    counts exceed the model by more than ``clip_sigma`` Poisson sigma are
    dropped, iteratively. Written by hand: a two-component template fit is
    what nuskybgd does with more components; no Python library provides it.

    Parameters
    ----------
    counts : numpy.ndarray
        Counts image of the observation in the band.
    exposure : numpy.ndarray
        Exposure map on the same grid, s.
    fcxb_fraction : float
        On-axis fCXB share of the band background (instrument YAML).
    clip_sigma, box_pix, iterations
        Source masking.

    Returns
    -------
    total, fcxb : numpy.ndarray
        Expected background counts per pixel and its fCXB part.
    """
    counts = np.asarray(counts, float)
    exposure = np.asarray(exposure, float)
    field = exposure > 0
    if not field.any():
        zero = np.zeros_like(counts)
        return zero, zero
    vig = exposure / exposure.max()
    template = np.where(field, (1.0 - fcxb_fraction) + fcxb_fraction * vig, 0.0)
    ny, nx = counts.shape
    by, bx = -(-ny // box_pix), -(-nx // box_pix)
    pad = ((0, by * box_pix - ny), (0, bx * box_pix - nx))
    c_box = np.pad(counts, pad).reshape(by, box_pix, bx, box_pix).sum(axis=(1, 3))
    t_box = np.pad(template, pad).reshape(by, box_pix, bx, box_pix).sum(axis=(1, 3))
    keep = t_box > 0
    norm = c_box[keep].sum() / t_box[keep].sum()
    for _ in range(iterations):
        model = norm * t_box
        keep = (t_box > 0) & (c_box <= model + clip_sigma * np.sqrt(np.maximum(model, 1.0)))
        norm = c_box[keep].sum() / t_box[keep].sum()
    total = norm * template
    fcxb = norm * np.where(field, fcxb_fraction * vig, 0.0)
    return total, fcxb
