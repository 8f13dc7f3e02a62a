"""Mock skies: number-count models and uniform source positions (method.md §7 step 1).

A *counts model* gives the cumulative number of sources per square degree
brighter than a flux, N(>S), in the reference band, and draws fluxes from it
by inverse-CDF sampling. Two kinds share one interface
(:class:`CountsModel`):

- :class:`BrokenPowerLawCounts`: N(>S) = norm (S/flux_ref)^-slope_bright above
  ``flux_break``, continuing with ``slope_faint`` below it (continuous).
- :class:`TabulatedCounts`: a user table of (flux, N(>S)), interpolated
  linearly in log-log space.

Positions are drawn uniformly *on the sphere* either over a square region of
the tangent plane (gnomonic projection about a centre) or over the allowed
pixels of a WCS image (boolean mask), which is what replica simulations use.
:func:`draw_sources` combines both into a source list with a Poisson number
of sources.

Units: fluxes in erg cm^-2 s^-1, surface densities in deg^-2, angles in
degrees unless a name says ``arcmin`` / ``arcsec``. Every random draw takes a
``numpy.random.Generator`` so that callers control the streams.
"""

from __future__ import annotations

import numpy as np
from astropy.table import Table

from xsurvey.population.counts import CountsModel

_ARCMIN_RAD = np.pi / (180.0 * 60.0)


_SR_TO_DEG2 = (180.0 / np.pi) ** 2


# --------------------------------------------------------------------------- geometry
def tangent_to_sky(xi_deg, eta_deg, center_deg):
    """Gnomonic (TAN) deprojection of tangent-plane offsets.

    Parameters
    ----------
    xi_deg, eta_deg : array_like
        Tangent-plane coordinates in degrees, ``xi`` towards east (increasing
        RA), ``eta`` towards north.
    center_deg : (float, float)
        Tangent point (RA, Dec), degrees.

    Returns
    -------
    ra, dec : numpy.ndarray
        Degrees, RA in [0, 360).
    """
    ra0, dec0 = np.radians(center_deg[0]), np.radians(center_deg[1])
    xi, eta = np.radians(xi_deg), np.radians(eta_deg)
    denom = np.cos(dec0) - eta * np.sin(dec0)
    ra = ra0 + np.arctan2(xi, denom)
    dec = np.arctan2(np.sin(dec0) + eta * np.cos(dec0), np.hypot(xi, denom))
    return np.degrees(ra) % 360.0, np.degrees(dec)


def sky_to_tangent(ra_deg, dec_deg, center_deg):
    """Gnomonic (TAN) projection, inverse of :func:`tangent_to_sky` (degrees)."""
    ra0, dec0 = np.radians(center_deg[0]), np.radians(center_deg[1])
    ra, dec = np.radians(ra_deg), np.radians(dec_deg)
    cosc = np.sin(dec0) * np.sin(dec) + np.cos(dec0) * np.cos(dec) * np.cos(ra - ra0)
    xi = np.cos(dec) * np.sin(ra - ra0) / cosc
    eta = (np.cos(dec0) * np.sin(dec) - np.sin(dec0) * np.cos(dec) * np.cos(ra - ra0)) / cosc
    return np.degrees(xi), np.degrees(eta)


def _half_sizes_rad(size_arcmin) -> tuple[float, float]:
    size = np.broadcast_to(np.asarray(size_arcmin, dtype=float), (2,))
    if np.any(size <= 0):
        raise ValueError(f"region size must be > 0 arcmin, got {size_arcmin}")
    return 0.5 * size[0] * _ARCMIN_RAD, 0.5 * size[1] * _ARCMIN_RAD


def region_area_deg2(size_arcmin) -> float:
    """Solid angle (deg^2) of a square/rectangular tangent-plane region.

    ``Omega = 4 arcsin(sin(a) sin(b))`` with ``tan a``, ``tan b`` the half
    sides in the tangent plane.

    Parameters
    ----------
    size_arcmin : float or (float, float)
        Side(s) of the region measured in the tangent plane, arcmin.
    """
    hx, hy = _half_sizes_rad(size_arcmin)
    sa, sb = hx / np.hypot(1.0, hx), hy / np.hypot(1.0, hy)
    return float(4.0 * np.arcsin(sa * sb) * _SR_TO_DEG2)


def draw_positions(rng, n: int, center_deg, size_arcmin):
    """Positions uniform on the sphere inside a tangent-plane square.

    Points are drawn uniformly in the tangent-plane rectangle and accepted
    with probability ``(1 + r^2)^-3/2`` (the solid angle per unit
    tangent-plane area, r in radians), which makes them uniform on the sky.

    Parameters
    ----------
    rng : numpy.random.Generator
        Random stream.
    n : int
        Number of positions.
    center_deg : (float, float)
        Tangent point (RA, Dec), degrees.
    size_arcmin : float or (float, float)
        Side(s) of the region in the tangent plane, arcmin.

    Returns
    -------
    ra, dec : numpy.ndarray
        Degrees, shape ``(n,)``.
    """
    hx, hy = _half_sizes_rad(size_arcmin)
    xi, eta = _accept_uniform_sphere(
        rng, int(n), lambda m: (rng.uniform(-hx, hx, m), rng.uniform(-hy, hy, m))
    )
    return tangent_to_sky(np.degrees(xi), np.degrees(eta), center_deg)


def _accept_uniform_sphere(rng, n, propose, density=None):
    """Rejection loop: ``propose(m)`` gives m candidates; keep with prob density/1."""
    xs, ys, have = [], [], 0
    while have < n:
        m = max(16, int(1.05 * (n - have)) + 16)
        x, y = propose(m)
        w = (1.0 + x**2 + y**2) ** -1.5 if density is None else density(x, y)
        keep = rng.random(m) < w
        xs.append(x[keep])
        ys.append(y[keep])
        have += int(keep.sum())
    return np.concatenate(xs)[:n], np.concatenate(ys)[:n]


def _is_tan(wcs) -> bool:
    return all(str(c).upper().endswith("-TAN") for c in list(wcs.celestial.wcs.ctype)[:2])


def _plane_radius_rad(wcs, x0, y0):
    """Tangent-plane distance (radians) of 0-based pixel positions from the reference point."""
    m = wcs.celestial.pixel_scale_matrix
    crpix = wcs.celestial.wcs.crpix - 1.0
    dx, dy = x0 - crpix[0], y0 - crpix[1]
    px = m[0, 0] * dx + m[0, 1] * dy
    py = m[1, 0] * dx + m[1, 1] * dy
    return np.radians(np.hypot(px, py))


def mask_area_deg2(wcs, mask) -> float:
    """Solid angle (deg^2) of the allowed pixels of a mask.

    For a TAN projection every pixel counts ``pixel area * (1 + r^2)^-3/2``
    (r = tangent-plane distance of its centre from the reference point, in
    radians); for other projections the pixels are taken as equal-area.

    Parameters
    ----------
    wcs : astropy.wcs.WCS
        Celestial WCS of the mask.
    mask : numpy.ndarray of bool
        Allowed pixels, numpy order ``mask[y, x]``.
    """
    mask = np.asarray(mask, dtype=bool)
    pix_area = abs(np.linalg.det(wcs.celestial.pixel_scale_matrix))
    if not _is_tan(wcs):
        return float(mask.sum() * pix_area)
    iy, ix = np.nonzero(mask)
    r = _plane_radius_rad(wcs, ix.astype(float), iy.astype(float))
    return float(pix_area * np.sum((1.0 + r**2) ** -1.5))


def draw_positions_in_mask(rng, n: int, wcs, mask):
    """Positions uniform on the sphere within the allowed pixels of an image.

    A pixel is chosen uniformly among the allowed ones, a position uniformly
    within it, and for a TAN WCS the point is kept with probability
    ``(1 + r^2)^-3/2`` (solid angle per unit tangent-plane area), making the
    distribution exactly uniform on the sky; other projections are treated as
    equal-area per pixel.

    Parameters
    ----------
    rng : numpy.random.Generator
        Random stream.
    n : int
        Number of positions.
    wcs : astropy.wcs.WCS
        Celestial WCS of the mask.
    mask : numpy.ndarray of bool
        Allowed pixels, numpy order ``mask[y, x]``; at least one True.

    Returns
    -------
    ra, dec : numpy.ndarray
        Degrees, shape ``(n,)``.
    """
    mask = np.asarray(mask, dtype=bool)
    if mask.ndim != 2:
        raise ValueError(f"mask must be 2-D, got shape {mask.shape}")
    allowed = np.flatnonzero(mask)
    if allowed.size == 0:
        raise ValueError("mask has no allowed pixel")
    nx = mask.shape[1]

    def propose(m):
        pix = allowed[rng.integers(0, allowed.size, m)]
        x = (pix % nx) + rng.uniform(-0.5, 0.5, m)
        y = (pix // nx) + rng.uniform(-0.5, 0.5, m)
        return x, y

    if _is_tan(wcs):
        def density(x, y):
            return (1.0 + _plane_radius_rad(wcs, x, y) ** 2) ** -1.5
    else:
        def density(x, y):
            return np.ones_like(x)

    x, y = _accept_uniform_sphere(rng, int(n), propose, density)
    ra, dec = wcs.celestial.wcs_pix2world(x, y, 0)
    return np.asarray(ra, dtype=float) % 360.0, np.asarray(dec, dtype=float)


def draw_sources(rng, model: CountsModel, *, center_deg=None, size_arcmin=None, wcs=None,
                 mask=None, flux_min=None, flux_max=None, first_id: int = 1) -> Table:
    """Draw a mock source list: Poisson number, fluxes from ``model``, uniform positions.

    Give either a tangent-plane square (``center_deg`` and ``size_arcmin``) or
    a WCS with a boolean ``mask`` of allowed pixels. The number of sources is
    Poisson with mean ``model.expected_number(area, flux_min, flux_max)``.
    Draw order on ``rng``: number, fluxes, positions.

    Parameters
    ----------
    rng : numpy.random.Generator
        Random stream.
    model : CountsModel
        Cumulative number counts (reference band).
    center_deg : (float, float), optional
        Tangent point of the square region (RA, Dec), degrees.
    size_arcmin : float or (float, float), optional
        Side(s) of the square region, arcmin.
    wcs : astropy.wcs.WCS, optional
        Celestial WCS of ``mask``.
    mask : numpy.ndarray of bool, optional
        Allowed pixels, ``mask[y, x]``.
    flux_min, flux_max : float, optional
        Flux range, erg cm^-2 s^-1 (default: the model's).
    first_id : int
        Id of the first source; ids are consecutive.

    Returns
    -------
    astropy.table.Table
        Columns ``id`` (int64), ``ra``, ``dec`` (deg), ``flux``
        (erg cm^-2 s^-1, reference band); ``meta`` holds ``AREA`` (deg^2) and
        ``EXPECTED`` (mean number).
    """
    square = center_deg is not None or size_arcmin is not None
    masked = wcs is not None or mask is not None
    if square == masked or (square and (center_deg is None or size_arcmin is None)) or (
        masked and (wcs is None or mask is None)
    ):
        raise ValueError("draw_sources needs either center_deg and size_arcmin, or wcs and mask")
    area = region_area_deg2(size_arcmin) if square else mask_area_deg2(wcs, mask)
    mu = float(model.expected_number(area, flux_min, flux_max))
    n = int(rng.poisson(mu))
    flux = model.draw_fluxes(rng, n, flux_min, flux_max)
    if square:
        ra, dec = draw_positions(rng, n, center_deg, size_arcmin)
    else:
        ra, dec = draw_positions_in_mask(rng, n, wcs, mask)
    tab = Table(
        {
            "id": np.arange(first_id, first_id + n, dtype=np.int64),
            "ra": ra,
            "dec": dec,
            "flux": flux,
        },
        meta={"AREA": area, "EXPECTED": mu},
    )
    tab["ra"].unit = tab["dec"].unit = "deg"
    tab["flux"].unit = "erg / (cm2 s)"
    return tab
