"""Aperture spectra of catalogue sources from event lists (method.md §15).

Source spectrum: the events within the photometry aperture. Background spectrum: the events
in an annulus around the source, away from every catalogue source, whose *shape* it gives;
its normalisation comes from the background maps (the catalogue's aperture background), so
that ``alpha`` = (map background in the aperture) / (annulus counts) scales it to the
aperture.
"""

from __future__ import annotations

import numpy as np
from astropy.io import fits
from scipy.spatial import cKDTree

from xsurvey.spectra.ogip import SpectrumError


def _histogram(source_index, channel, n_sources: int, grid) -> np.ndarray:
    """``(n_sources, n_channels)`` counts of events (source index, PI channel) on the grid
    (channels outside it are left out)."""
    k = np.asarray(channel, np.int64) - grid.first
    keep = (k >= 0) & (k < grid.size)
    flat = np.asarray(source_index, np.int64)[keep] * grid.size + k[keep]
    return np.bincount(flat, minlength=n_sources * grid.size).reshape(n_sources, grid.size)


def _pairs(tree: cKDTree, centres, radius) -> tuple[np.ndarray, np.ndarray]:
    """(source index, event index) of every event within ``radius`` of each centre."""
    hits = tree.query_ball_point(centres, radius)
    src = np.repeat(np.arange(len(hits)), [len(h) for h in hits])
    ev = np.concatenate([np.asarray(h, np.int64) for h in hits]) if len(hits) else \
        np.zeros(0, np.int64)
    return src, ev


def aperture_spectra(x, y, pi, src_x, src_y, grid, radius_pix: float, annulus_pix,
                     mask_pix: float, mask_x=None, mask_y=None) -> tuple[np.ndarray, np.ndarray]:
    """Source and background spectra of many sources from one event list.

    Parameters
    ----------
    x, y : array_like
        Event sky pixel positions.
    pi : array_like
        Event PI channels.
    src_x, src_y : array_like
        Source positions on the same pixels.
    grid : xsurvey.spectra.ChannelGrid
        Channels of the spectra.
    radius_pix : float
        Source aperture radius (pixels).
    annulus_pix : (float, float)
        Inner and outer radius of the background annulus (pixels).
    mask_pix : float
        Events closer than this to any catalogue source (``mask_x, mask_y``, default the
        sources themselves) are left out of the annuli.

    Returns
    -------
    source, background : numpy.ndarray
        ``(n_sources, n_channels)`` counts.
    """
    events = np.column_stack([np.asarray(x, float), np.asarray(y, float)])
    centres = np.column_stack([np.asarray(src_x, float), np.asarray(src_y, float)])
    n = len(centres)
    if len(events) == 0 or n == 0:
        empty = np.zeros((n, grid.size), np.int64)
        return empty, empty.copy()
    pi = np.asarray(pi)
    tree = cKDTree(events)
    src, ev = _pairs(tree, centres, radius_pix)
    source = _histogram(src, pi[ev], n, grid)
    masks = centres if mask_x is None else np.column_stack([mask_x, mask_y])
    near, _ = cKDTree(masks).query(events, distance_upper_bound=mask_pix)
    free = ~np.isfinite(near)
    src, ev = _pairs(tree, centres, annulus_pix[1])
    r = np.hypot(*(events[ev] - centres[src]).T)
    keep = (r >= annulus_pix[0]) & free[ev]
    background = _histogram(src[keep], pi[ev[keep]], n, grid)
    return source, background


def elementary_bands(instrument, bands, e_lo_kev: float, e_hi_kev: float) -> list[str]:
    """The bands inside ``[e_lo_kev, e_hi_kev]`` that contain no other of them (e.g. 3-8,
    8-16, 16-24 from 3-24, 3-8, 8-24, 8-16, 16-24): their exposure maps give the energy
    dependence of the vignetting."""
    inside = [b for b in bands if e_lo_kev <= instrument.band(b).e_lo_kev
              and instrument.band(b).e_hi_kev <= e_hi_kev]

    def contains(a, b):
        return a != b and instrument.band(a).e_lo_kev <= instrument.band(b).e_lo_kev \
            and instrument.band(b).e_hi_kev <= instrument.band(a).e_hi_kev

    return [a for a in inside if not any(contains(a, b) for b in inside)]


def events_exposure_s(path) -> float:
    """Exposure (s) of an event file: ``EXPOSURE`` of its EVENTS header (else ``LIVETIME``,
    ``ONTIME``); a SpectrumError naming the file if none is > 0."""
    header = fits.getheader(path, "EVENTS")
    for key in ("EXPOSURE", "LIVETIME", "ONTIME"):
        value = header.get(key)
        if value is not None and float(value) > 0:
            return float(value)
    raise SpectrumError(f"event file {path}: no EXPOSURE, LIVETIME or ONTIME > 0 in its "
                        f"EVENTS header, to weight its RMF and ARF")
