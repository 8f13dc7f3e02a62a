"""Deblending of the aperture photometry of close sources: each source's counts freed
of its neighbours' PSF wings by non-negative least squares (method.md §5)."""

from __future__ import annotations

import numpy as np
from scipy.optimize import nnls
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree


# ---------------------------------------------------------------------------
# Deblending
# ---------------------------------------------------------------------------
def aperture_pairs(x, y, pixel_arcsec: float, psf, aperture_arcsec: float,
                   deblend_radius_arcsec: float):
    """Off-diagonal terms of ``A_ij`` for pairs closer than the deblending radius.

    ``A_ij = psf.aperture_fraction(d_ij, aperture)`` is the fraction of
    source j's counts falling in the aperture of source i (symmetric: it
    depends on the separation only). Separations are taken on the tangent
    plane (pixel distance times the pixel size), exact to 1e-5 over a survey
    field.

    Parameters
    ----------
    x, y : array_like
        0-based pixel positions of the detections.
    pixel_arcsec : float
        Pixel size, arcsec.
    psf : xsurvey.instrument.RadialPSF
        Provides ``aperture_fraction``.
    aperture_arcsec, deblend_radius_arcsec : float
        Aperture and deblending radii, arcsec.

    Returns
    -------
    i, j : numpy.ndarray of int
        Pair indices, ``i < j``, each pair once.
    frac : numpy.ndarray
        ``A_ij = A_ji``.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.size < 2:
        return np.zeros(0, np.intp), np.zeros(0, np.intp), np.zeros(0)
    tree = cKDTree(np.column_stack([x, y]))
    pairs = tree.query_pairs(deblend_radius_arcsec / pixel_arcsec, output_type="ndarray")
    if pairs.size == 0:
        return np.zeros(0, np.intp), np.zeros(0, np.intp), np.zeros(0)
    i, j = pairs[:, 0].astype(np.intp), pairs[:, 1].astype(np.intp)
    d = np.hypot(x[i] - x[j], y[i] - y[j]) * pixel_arcsec
    return i, j, np.asarray(psf.aperture_fraction(d, aperture_arcsec), dtype=np.float64)


def aperture_matrix(n: int, eef: float, i, j, frac):
    """Sparse symmetric ``A`` (n x n) with ``A_ii = eef`` and the pair terms."""
    diag = np.arange(n)
    rows = np.concatenate([diag, i, j])
    cols = np.concatenate([diag, j, i])
    vals = np.concatenate([np.full(n, float(eef)), frac, frac])
    return coo_matrix((vals, (rows, cols)), shape=(n, n)).tocsr()


def solve_deblend(excess, eef: float, i, j, frac) -> np.ndarray:
    """Non-negative solution ``F`` of ``excess = A F`` (method.md §5).

    Groups of sources connected by pairs are solved independently: a lone
    source gets ``max(excess, 0) / eef``, a group ``scipy.optimize.nnls`` on
    its dense block. Identical to one NNLS over all detections, because
    ``A`` is block diagonal in its groups.

    Parameters
    ----------
    excess : array_like, shape (n,)
        ``N_i - B_i``, counts.
    eef : float
        ``A_ii``, the encircled-energy fraction of the aperture.
    i, j, frac : array_like
        Pair terms from :func:`aperture_pairs`.

    Returns
    -------
    numpy.ndarray
        Total source counts ``F >= 0``.
    """
    excess = np.asarray(excess, dtype=np.float64)
    n = excess.size
    flux = np.maximum(excess, 0.0) / eef
    if n == 0 or len(i) == 0:
        return flux
    graph = coo_matrix((np.ones(len(i)), (i, j)), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    # Sort members and pairs by group, then solve each multi-member group.
    members = np.argsort(labels, kind="stable")
    starts = np.searchsorted(labels[members], np.arange(labels.max() + 2))
    local = np.empty(n, np.intp)
    glab = labels[i]
    porder = np.argsort(glab, kind="stable")
    pstarts = np.searchsorted(glab[porder], np.arange(labels.max() + 2))
    for g in np.unique(glab):
        idx = members[starts[g]:starts[g + 1]]
        local[idx] = np.arange(idx.size)
        sel = porder[pstarts[g]:pstarts[g + 1]]
        block = np.eye(idx.size) * eef
        li, lj = local[i[sel]], local[j[sel]]
        block[li, lj] = frac[sel]
        block[lj, li] = frac[sel]
        flux[idx], _ = nnls(block, excess[idx])
    return flux


def deblend(counts, bkg, x, y, pixel_arcsec: float, psf, aperture_arcsec: float,
            deblend_radius_arcsec: float):
    """Deblend aperture counts of neighbouring detections (method.md §5).

    Solves ``N_i - B_i = sum_j A_ij F_j`` for ``F >= 0`` (all detections of
    the band, only pairs closer than the deblending radius) and returns the
    deblended background ``B_i' = B_i + sum_{j != i} A_ij F_j``.

    Parameters
    ----------
    counts, bkg : array_like, shape (n,)
        Total counts ``N_i`` and background ``B_i`` in each aperture.
    x, y : array_like, shape (n,)
        0-based pixel positions.
    pixel_arcsec, psf, aperture_arcsec, deblend_radius_arcsec
        As for :func:`aperture_pairs`; ``A_ii = psf.aperture_fraction(0)``,
        i.e. EEF(aperture).

    Returns
    -------
    total : numpy.ndarray
        Deblended total source counts ``F_j`` (the whole PSF, not only the
        aperture), counts.
    bkg_deblended : numpy.ndarray
        ``B_i'``, counts.
    """
    counts = np.asarray(counts, dtype=np.float64)
    bkg = np.asarray(bkg, dtype=np.float64)
    eef = float(psf.aperture_fraction(0.0, aperture_arcsec))
    i, j, frac = aperture_pairs(x, y, pixel_arcsec, psf, aperture_arcsec,
                                deblend_radius_arcsec)
    total = solve_deblend(counts - bkg, eef, i, j, frac)
    return total, bkg + neighbour_light(i, j, frac, total)


def neighbour_light(i, j, frac, total) -> np.ndarray:
    """Counts that neighbours put into each aperture: ``sum_{j != i} A_ij F_j``.

    Parameters
    ----------
    i, j, frac : array_like
        Pair terms from :func:`aperture_pairs` (each pair once; ``A`` is
        symmetric).
    total : array_like, shape (n,) or (n, m)
        Total source counts ``F`` of every source (optionally per epoch, one
        column each).

    Returns
    -------
    numpy.ndarray
        Same shape as ``total``, counts.
    """
    total = np.asarray(total, dtype=np.float64)
    weight = np.asarray(frac, dtype=np.float64).reshape(-1, *(1,) * (total.ndim - 1))
    light = np.zeros_like(total)
    np.add.at(light, i, weight * total[j])
    np.add.at(light, j, weight * total[i])
    return light
