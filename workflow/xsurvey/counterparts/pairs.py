"""Pairs of sources on the sky: coordinates, all pairs within a radius, ranks within
groups (shared by the soft X-ray and likelihood-ratio matching)."""

from __future__ import annotations

import astropy.units as u
import numpy as np
from astropy.coordinates import SkyCoord


# --------------------------------------------------------------------------- small helpers
def _coords(ra, dec) -> SkyCoord:
    return SkyCoord(np.atleast_1d(np.asarray(ra, float)) * u.deg,
                    np.atleast_1d(np.asarray(dec, float)) * u.deg)


def _pairs(ra1, dec1, ra2, dec2, radius_arcsec: float):
    """All pairs closer than ``radius_arcsec``: indices into set 1, set 2, separation (arcsec).

    Thin wrapper of :meth:`SkyCoord.search_around_sky` that accepts empty sets.
    """
    ra1, ra2 = np.atleast_1d(ra1), np.atleast_1d(ra2)
    if ra1.size == 0 or ra2.size == 0 or not radius_arcsec > 0:
        e = np.zeros(0, dtype=np.int64)
        return e, e.copy(), np.zeros(0)
    i1, i2, sep, _ = _coords(ra2, dec2).search_around_sky(_coords(ra1, dec1),
                                                          radius_arcsec * u.arcsec)
    sep = sep.to_value(u.arcsec)
    order = np.lexsort((sep, i1))
    return i1[order].astype(np.int64), i2[order].astype(np.int64), sep[order]


def _rank_in_groups(group: np.ndarray, order: np.ndarray) -> np.ndarray:
    """Rank (1 = first) of each element within its group, in the order ``order``.

    ``order`` must sort the elements by group first (e.g. ``np.lexsort((key, group))``).
    """
    rank = np.empty(group.size, np.int32)
    if group.size == 0:
        return rank
    g = group[order]
    first = np.r_[True, g[1:] != g[:-1]]
    start = np.maximum.accumulate(np.where(first, np.arange(g.size), 0))
    rank[order] = np.arange(g.size) - start + 1
    return rank
