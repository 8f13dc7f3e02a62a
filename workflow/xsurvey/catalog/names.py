"""IAU names of the catalogue sources."""

from __future__ import annotations

import logging

import numpy as np

from xsurvey.catalog.band_photometry import _letters

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- names
def iau_names(ra, dec, prefix: str = "XS") -> np.ndarray:
    """IAU-style names ``'<PREFIX> JHHMMSS.s+DDMMSS'`` with truncated coordinates.

    RA is truncated (not rounded) to 0.1 s of time and Dec to 1 arcsec, as
    the IAU recommends, so that a name never points to a neighbouring cell.
    A tolerance of 1e-6 of the last digit absorbs binary round-off (RA
    150.1 deg gives ``10 00 24.0``, not ``23.9``). Names are fixed-width, so
    sorting them sorts by RA (then by Dec for positive declinations).

    Collisions (two sources in one 0.1 s x 1" cell, impossible after a 30"
    merge but possible in general) are made unique by appending ``'a'``,
    ``'b'``, ... to every name of the group, in order of increasing
    (RA, Dec); a name without a suffix is therefore unique.

    Parameters
    ----------
    ra, dec : array_like
        ICRS position, deg.
    prefix : str
        Catalogue acronym (e.g. ``'NuSTAR'``, ``'XS'``).

    Returns
    -------
    numpy.ndarray of str
    """
    ra = np.atleast_1d(np.asarray(ra, dtype=np.float64)) % 360.0
    dec = np.atleast_1d(np.asarray(dec, dtype=np.float64))
    if np.any(~np.isfinite(ra) | ~np.isfinite(dec)) or np.any(np.abs(dec) > 90):
        raise ValueError("iau_names: positions must be finite with |dec| <= 90 deg")
    tenths = np.floor(ra * 2400.0 + 1e-6).astype(np.int64) % 864000  # 0.1 s of time
    hh, rem = np.divmod(tenths, 36000)
    mm, rem = np.divmod(rem, 600)
    ss, ds = np.divmod(rem, 10)
    arcsec = np.floor(np.abs(dec) * 3600.0 + 1e-6).astype(np.int64)
    dd, rem = np.divmod(arcsec, 3600)
    dm, dsec = np.divmod(rem, 60)
    sign = np.where(dec < 0, "-", "+")
    names = np.array([f"{prefix} J{h:02d}{m:02d}{s:02d}.{t:d}{g}{d:02d}{am:02d}{asec:02d}"
                      for h, m, s, t, g, d, am, asec in zip(hh, mm, ss, ds, sign, dd, dm, dsec,
                                                            strict=True)], dtype=object)
    uniq, inverse, counts = np.unique(names, return_inverse=True, return_counts=True)
    if np.any(counts > 1):
        for k in np.flatnonzero(counts > 1):
            members = np.flatnonzero(inverse == k)
            members = members[np.lexsort((dec[members], ra[members]))]
            log.warning("iau_names: %d sources share the name %s; suffixes a, b, ... added",
                        members.size, uniq[k])
            for j, i in enumerate(members):
                names[i] = f"{names[i]}{_letters(j)}"
    return names.astype(str)
