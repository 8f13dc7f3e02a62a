"""Source detection, DET_ML and deblending (METHOD §4-5).

The detection of one band of one mosaic is split in two parts so that the
thousands of simulated replicas (METHOD §7) pay only for what changes:

* :class:`Detector` is built once per mosaic and band from the exposure map,
  the WCS, the instrument and the parameters. It holds the exposure mask, the
  FFT of the top-hat kernel at a fast FFT size, the smoothed background, the
  per-pixel detection threshold in smoothed counts, and the aperture and
  deblending geometry.
* :meth:`Detector.detect` then takes a counts map (and optionally another
  background map) and returns the deblended catalogue of the band.

:func:`detect_sources` does both in one call.

Method
------
1. Counts and background are multiplied by the exposure mask (exposure > 0)
   and summed in a circular top-hat (pixels whose centre lies within the
   smoothing radius, default the 20" photometry aperture) by FFT
   convolution. Both maps see exactly the same masked kernel, so a partial
   aperture at the edge of the exposure compares partial counts with partial
   background and creates no false peaks. Smoothed integer counts are
   rounded back to integers (FFT round-off).
2. ``-log10 P_false`` with ``P_false = gammainc(a, x)`` (regularised lower
   incomplete gamma, the Poisson probability of >= a counts from a mean x),
   ``a`` the smoothed counts and ``x`` the smoothed background, evaluated in
   log space (:func:`log_poisson_tail`): never saturates.
3. Peaks: connected regions of ``-log10 P >= threshold`` (8-connected),
   separated by Source Extractor's multi-threshold deblending
   (:func:`find_peaks`, the algorithm of ``sep.extract`` with no filtering
   and no cleaning, re-implemented so that it is deterministic and cheap on
   hundreds of small regions). The position of a detection is the pixel of
   the maximum of ``-log10 P`` in its deblended branch (never a centroid),
   refined by a 3-point parabola in x and in y through the exact
   ``-log10 P`` values (shift limited to half a pixel; optional).
4. Detections whose exposure (value at the position) is below the exposure
   floor are dropped.
5. Photometry in the aperture (exact sub-pixel sums, :mod:`xsurvey.photometry`),
   deblending (:func:`deblend`) and DET_ML (:func:`det_ml`).

Only pixels that can pass the threshold are evaluated exactly: ``gammainc(a,
x)`` decreases with ``a``, so a pixel whose smoothed counts lie below the
threshold counts ``a_thr(x)`` of its smoothed background (precomputed per
background, conservatively) cannot reach the threshold, and its value in
the map searched for peaks is set to 0 -- the search ignores every pixel
below the threshold, so this changes no detection. :meth:`Detector.significance`
gives the full map when it is wanted for display.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

import numpy as np
import scipy.fft
from astropy.table import Table
from astropy.wcs.utils import proj_plane_pixel_scales
from scipy import ndimage, special
from scipy.optimize import nnls
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from . import photometry

log = logging.getLogger(__name__)

LN10 = float(np.log(10.0))

# Below this value scipy's gammainc is replaced by the log-space series
# (well above the subnormal range, where relative precision degrades).
_P_TINY = 1e-280
_SERIES_BLOCK = 64
_SERIES_MAX_TERMS = 10_000_000


# ---------------------------------------------------------------------------
# Poisson tail probability in log space
# ---------------------------------------------------------------------------
def _log_gammainc_series(a: np.ndarray, x: np.ndarray) -> np.ndarray:
    """``ln P(a, x)`` for ``x < a + 1`` from the power series, in log space.

    ``P(a, x) = x**a e**-x / Gamma(a+1) * sum_k x**k / ((a+1)...(a+k))``.
    The prefactor is taken in log space, the sum (between 1 and
    ``(a+1)/(a+1-x)``) directly; terms are accumulated in vectorised blocks
    of :data:`_SERIES_BLOCK` until the geometric bound on the remainder is
    below 1e-17 of the sum. About ``sqrt(a)`` terms are needed where
    ``P < 1e-280`` (1000 for ``a = 1e6``).
    """
    a = np.asarray(a, dtype=np.float64)
    x = np.asarray(x, dtype=np.float64)
    total = np.ones_like(a)
    last = np.ones_like(a)
    active = np.arange(a.size)
    k0 = 0
    steps = np.arange(1, _SERIES_BLOCK + 1, dtype=np.float64)
    while active.size and k0 < _SERIES_MAX_TERMS:
        aa, xx = a[active], x[active]
        ratio = xx[:, None] / (aa[:, None] + (k0 + steps)[None, :])
        terms = last[active, None] * np.cumprod(ratio, axis=1)
        total[active] += terms.sum(axis=1)
        last[active] = terms[:, -1]
        r_next = xx / (aa + k0 + _SERIES_BLOCK + 1)
        with np.errstate(divide="ignore"):
            remainder = last[active] * r_next / (1.0 - r_next)
        done = (r_next < 1.0) & (remainder <= 1e-17 * total[active])
        active = active[~done]
        k0 += _SERIES_BLOCK
    return special.xlogy(a, x) - x - special.gammaln(a + 1.0) + np.log(total)


def log_poisson_tail(n, mu):
    """Natural log of the Poisson probability of ``>= n`` counts given a mean ``mu``.

    ``ln P(n, mu)`` with ``P`` the regularised lower incomplete gamma
    function (continuous in ``n``; for integer ``n`` it is exactly
    ``Prob(N >= n | mu)``). Finite and accurate to better than 1e-9
    relative wherever the result is representable:

    * ``P > 0.5``: ``log1p(-gammaincc(n, mu))`` (no cancellation as P -> 1);
    * ``1e-280 < P <= 0.5``: ``log(gammainc(n, mu))``;
    * smaller ``P`` (scipy underflows): the power series in log space
      (:func:`_log_gammainc_series`).

    Parameters
    ----------
    n : array_like
        Counts (real, >= 0). ``n <= 0`` gives 0 (P = 1).
    mu : array_like
        Expected counts (>= 0). ``mu <= 0`` with ``n > 0`` gives ``-inf``.

    Returns
    -------
    numpy.ndarray or float
        ``ln P`` (<= 0), broadcast shape of the inputs; NaN where an input is NaN.
    """
    a, x = np.broadcast_arrays(np.asarray(n, dtype=np.float64), np.asarray(mu, dtype=np.float64))
    out = np.zeros(a.shape)
    nan = np.isnan(a) | np.isnan(x)
    pos = (a > 0) & ~nan
    out[pos & (x <= 0)] = -np.inf
    work = pos & (x > 0)
    if work.any():
        aw, xw = a[work], x[work]
        p = special.gammainc(aw, xw)
        res = np.empty_like(p)
        big = p > 0.5
        res[big] = np.log1p(-special.gammaincc(aw[big], xw[big]))
        mid = ~big & (p > _P_TINY)
        res[mid] = np.log(p[mid])
        tiny = ~big & ~mid
        if tiny.any():
            res[tiny] = _log_gammainc_series(aw[tiny], xw[tiny])
        out[work] = res
    out[nan] = np.nan
    return out if out.ndim else float(out)


def det_ml(total_counts, background_counts):
    """Detection likelihood ``DET_ML = -ln P(N, B)`` (METHOD §4.5).

    ``P(N, B) = gammainc(N, B)``, the Poisson probability of at least ``N``
    counts from a background ``B``, computed in log space
    (:func:`log_poisson_tail`): accurate to 1e-6 relative or better (checked
    against mpmath for N from 1 to 1e6 and DET_ML from 1e-3 to 1e5) and never
    saturating for bright sources.

    Parameters
    ----------
    total_counts : array_like
        Total counts N in the aperture (``N <= 0`` gives 0).
    background_counts : array_like
        Expected background counts B in the aperture (``B <= 0`` with
        ``N > 0`` gives ``inf``).

    Returns
    -------
    numpy.ndarray or float
        DET_ML (dimensionless, >= 0).
    """
    return -log_poisson_tail(total_counts, background_counts)


def neg_log10_pfalse(smoothed_counts, smoothed_background):
    """``-log10 P_false`` of METHOD §4.2 for arrays of smoothed counts/background.

    Parameters
    ----------
    smoothed_counts, smoothed_background : array_like
        Counts ``a`` and expected background ``x`` in the top-hat.

    Returns
    -------
    numpy.ndarray
        ``-log10 gammainc(a, x)`` (>= 0, finite for ``x > 0``).
    """
    return -log_poisson_tail(smoothed_counts, smoothed_background) / LN10


def threshold_counts(smoothed_background, threshold_log10: float, margin: float = 1e-6):
    """Smallest smoothed counts that can give ``-log10 P_false >= threshold``.

    ``a_thr(x)`` solves ``gammainc(a, x) = 10**-threshold``. It is tabulated
    on a grid of ``a`` with ``x_thr(a) = gammaincinv(a, p)`` (exact), then
    inverted by linear interpolation. ``a_thr`` is concave in ``x``, so the
    chords lie below it; a further relative ``margin`` is subtracted. The
    result is therefore a lower bound: any pixel with ``a < a_thr(x)`` is
    certainly below the threshold.

    Parameters
    ----------
    smoothed_background : array_like
        Expected counts ``x`` in the top-hat.
    threshold_log10 : float
        Detection threshold on ``-log10 P_false`` (2.5 by default).
    margin : float
        Relative safety margin.

    Returns
    -------
    numpy.ndarray
        Lower bound on the threshold counts, same shape; ``inf`` where
        ``x <= 0`` (no detection possible).
    """
    x = np.asarray(smoothed_background, dtype=np.float64)
    p = 10.0 ** (-threshold_log10)
    xmax = float(np.nanmax(x)) if x.size else 1.0
    a_hi = max(10.0, 2.0 * xmax + 50.0 * np.sqrt(max(xmax, 1.0)) + 10.0 * threshold_log10)
    a_grid = np.concatenate([np.geomspace(1e-4, 1.0, 200, endpoint=False),
                             np.geomspace(1.0, a_hi, 4000)])
    x_grid = special.gammaincinv(a_grid, p)
    ok = np.isfinite(x_grid) & (x_grid > 0)
    a_grid, x_grid = a_grid[ok], x_grid[ok]
    keep = np.concatenate([[True], np.diff(x_grid) > 0])
    a_grid, x_grid = a_grid[keep], x_grid[keep]
    athr = np.interp(x, x_grid, a_grid, left=0.0)
    # Beyond the table (not reached in practice): a_thr(x) > x, as P(x, x) > 0.5.
    athr = np.where(x > x_grid[-1], x, athr)
    athr = athr * (1.0 - margin) - margin
    return np.where(x > 0, athr, np.inf)


# ---------------------------------------------------------------------------
# Top-hat smoothing
# ---------------------------------------------------------------------------
def tophat_kernel(radius_pix: float) -> np.ndarray:
    """Binary circular top-hat: 1 where the pixel centre is within ``radius_pix``.

    A binary kernel keeps smoothed counts integer (a sum of Poisson counts
    is Poisson), so ``gammainc(a, x)`` is the exact Poisson tail.

    Parameters
    ----------
    radius_pix : float
        Radius, pixels.

    Returns
    -------
    numpy.ndarray (float64), shape (2h+1, 2h+1) with ``h = floor(radius_pix)``.
    """
    half = int(np.floor(radius_pix))
    d = np.arange(-half, half + 1)
    return (d[None, :] ** 2 + d[:, None] ** 2 <= radius_pix**2 + 1e-9).astype(np.float64)


class FFTConvolver:
    """Linear convolution with a fixed small kernel on a fixed image shape.

    The kernel is wrapped around the origin of a zero-padded grid whose size
    is at least ``shape + kernel half-width`` and a fast FFT length
    (``scipy.fft.next_fast_len``); its real FFT is computed once.

    Parameters
    ----------
    shape : tuple of int
        Image shape (ny, nx).
    kernel : numpy.ndarray
        Odd-sized square kernel.
    workers : int, optional
        Threads used by scipy.fft (default 1: parallelism belongs to the
        workflow's jobs).
    """

    def __init__(self, shape, kernel, workers: int = 1):
        kernel = np.asarray(kernel, dtype=np.float64)
        half = kernel.shape[0] // 2
        self.shape = tuple(int(s) for s in shape)
        k = kernel.shape[0]
        self.fft_shape = tuple(scipy.fft.next_fast_len(max(s + half, k), real=True)
                               for s in self.shape)
        self.workers = workers
        grid = np.zeros(self.fft_shape)
        grid[:k, :k] = kernel
        grid = np.roll(grid, (-half, -half), axis=(0, 1))
        self._kernel_fft = scipy.fft.rfft2(grid, workers=workers)

    def __call__(self, image) -> np.ndarray:
        """Convolve ``image`` (shape ``self.shape``); returns float64, same shape."""
        f = scipy.fft.rfft2(image, s=self.fft_shape, workers=self.workers)
        f *= self._kernel_fft
        out = scipy.fft.irfft2(f, s=self.fft_shape, workers=self.workers)
        return out[: self.shape[0], : self.shape[1]]


# ---------------------------------------------------------------------------
# Peaks
# ---------------------------------------------------------------------------
_EIGHT = np.ones((3, 3), dtype=bool)
_MAX_DEBLEND_AREA = 3  # SExtractor's MAXDEBAREA: sub-threshold branches need min(minarea, 3) px


def _pack_boxes(heights, widths, gap: int = 1):
    """Shelf-pack boxes (sorted by height) into a canvas; returns offsets and canvas shape."""
    order = np.argsort(-heights, kind="stable")
    width = int(max(widths.max(), np.sqrt(np.sum((heights + gap) * (widths + gap))) * 1.5))
    oy = np.zeros(heights.size, np.intp)
    ox = np.zeros(heights.size, np.intp)
    x = y = shelf = 0
    for r in order:
        if x + widths[r] > width:
            y += shelf + gap
            x = shelf = 0
        oy[r], ox[r] = y, x
        x += widths[r] + gap
        shelf = max(shelf, int(heights[r]))
    return oy, ox, (y + shelf + gap, width + gap)


def _tree_peaks(value, is_max, region, cy, cx, canvas_shape, threshold, minarea, nthresh,
                cont):
    """Source Extractor's multi-threshold deblending of packed regions; branch peaks.

    All sub-threshold levels are labelled in one :func:`scipy.ndimage.label`
    call on a (level, y, x) stack connected within levels only; the tree is
    then cut top-down exactly as in sep's ``deblend()``.

    Parameters
    ----------
    value : numpy.ndarray, shape (P,)
        Pixel values (all >= threshold), sorted by region.
    is_max : numpy.ndarray of bool, shape (P,)
        Pixel is a local maximum of the image (ties broken by index).
    region : numpy.ndarray of int, shape (P,)
        Region index 0..R-1 of every pixel (non-decreasing; each region is
        8-connected).
    cy, cx : numpy.ndarray of int
        Pixel positions on a canvas where regions are separated by >= 1 empty pixel.
    canvas_shape : tuple
    threshold, minarea, nthresh, cont
        As :func:`find_peaks`.

    Returns
    -------
    numpy.ndarray of int
        Indices (into ``value``) of the peak pixel of every deblended object.
    """
    nreg = int(region[-1]) + 1
    starts = np.flatnonzero(np.r_[True, region[1:] != region[:-1]])
    peak = np.maximum.reduceat(value, starts)
    value0 = cont * np.add.reduceat(value, starts)
    log_ratio = np.log(np.maximum(peak, threshold) / threshold)
    levels = threshold * np.exp(log_ratio[:, None] * (np.arange(nthresh + 1) / nthresh))
    # Number of sub-thresholds k = 1..nthresh-1 that each pixel lies strictly above
    # (estimate from logs, then exact comparisons with the level values).
    with np.errstate(divide="ignore", invalid="ignore"):
        est = np.floor(nthresh * np.log(value / threshold) / log_ratio[region])
    depth = np.clip(np.nan_to_num(est, nan=0.0), 0, nthresh - 1).astype(np.intp)
    depth -= (depth > 0) & (value <= levels[region, depth])
    depth += (depth < nthresh - 1) & (value > levels[region, depth + 1])
    canvas = np.full(canvas_shape, -1, dtype=np.int16)
    canvas[cy, cx] = depth
    stack = canvas[None, :, :] >= np.arange(1, nthresh, dtype=np.int16)[:, None, None]
    within_level = np.zeros((3, 3, 3), dtype=bool)
    within_level[1] = True
    lab3, nsub = ndimage.label(stack, structure=within_level)
    # Nodes: 0 = none, 1..nsub = sub-threshold branches, nsub+1+r = region r (level 0).
    nnode = nsub + nreg + 1
    # One entry per (pixel p, level k = 1..depth[p]), grouped by pixel, k increasing.
    pe = np.repeat(np.arange(value.size), depth)
    ke = np.arange(pe.size) - np.repeat(np.cumsum(depth) - depth, depth) + 1
    ne = lab3.reshape(-1)[(ke - 1) * stack[0].size + cy[pe] * canvas_shape[1] + cx[pe]]
    root = nsub + 1 + region
    below = np.empty_like(ne)                 # node one level down, same pixel
    below[1:] = ne[:-1]
    first = ke == 1
    below[first] = root[pe[first]]
    level = np.zeros(nnode, np.intp)
    level[ne] = ke
    reg = np.zeros(nnode, np.intp)
    reg[ne] = region[pe]
    reg[nsub + 1:] = np.arange(nreg)
    parent = np.zeros(nnode, np.intp)
    parent[ne] = below
    npix = np.bincount(ne, minlength=nnode)
    flux = np.bincount(ne, weights=value[pe], minlength=nnode)
    sub_nodes = np.arange(1, nsub + 1)
    sub_nodes = sub_nodes[np.argsort(level[1:nsub + 1], kind="stable")]
    by_level = np.split(sub_nodes, np.cumsum(np.bincount(level[1:nsub + 1],
                                                         minlength=nthresh)[1:-1]))
    valid = np.zeros(nnode, bool)
    valid[nsub + 1:] = True
    dmin = min(int(minarea), _MAX_DEBLEND_AREA)
    for nodes in by_level:                    # levels 1..nthresh-1, bottom up
        valid[nodes] = (npix[nodes] >= dmin) & valid[parent[nodes]]
    sig = valid & (flux - levels[reg, level] * npix > value0[reg])

    # Cut the branches, top -> down (sep deblend(): "cut the right branches").
    ok = np.ones(nnode, bool)
    chosen = np.zeros(nnode, bool)
    for nodes in by_level[::-1]:              # children at level k+1, k = nthresh-2..0
        child = nodes[valid[nodes]]
        if child.size == 0:
            continue
        par = parent[child]
        nsig = np.bincount(par, weights=sig[child], minlength=nnode)
        bad = np.bincount(par, weights=~ok[child], minlength=nnode)
        ok[bad > 0] = False
        split = nsig > 1
        chosen[child[split[par] & ok[child] & sig[child]]] = True
        ok[split] = False
    chosen[nsub + 1:] = ok[nsub + 1:]

    # Peak of each chosen node: its highest local maximum.
    take = is_max[pe] & chosen[ne]
    at_root = np.flatnonzero(is_max & chosen[root])
    cand_node = np.concatenate([ne[take], root[at_root]])
    cand_pix = np.concatenate([pe[take], at_root])
    order = np.lexsort((-value[cand_pix], cand_node))
    cand_node, cand_pix = cand_node[order], cand_pix[order]
    first = np.r_[True, cand_node[1:] != cand_node[:-1]]
    return cand_pix[first]


def find_peaks(image, threshold: float, minarea: int = 1, deblend_nthresh: int = 32,
               deblend_cont: float = 0.005):
    """Peaks of the deblended connected regions of ``image >= threshold``.

    Source Extractor's algorithm (as in ``sep.extract(image, threshold,
    minarea=minarea, filter_kernel=None, deblend_nthresh=..., deblend_cont=...,
    clean=False)``), re-implemented on whole arrays:

    1. 8-connected regions of pixels ``>= threshold`` with at least
       ``minarea`` pixels (:func:`scipy.ndimage.label`).
    2. A region with a single local maximum (ties broken by pixel index)
       cannot be split: every branch of the deblending tree holds a local
       maximum. Its detection is its maximum pixel.
    3. Other regions are deblended: ``deblend_nthresh`` thresholds spaced
       exponentially between ``threshold`` and the region's peak; a branch
       (8-connected pixels strictly above a sub-threshold, at least
       ``min(minarea, 3)`` of them) counts if its summed value above its
       sub-threshold exceeds ``deblend_cont`` times the region's summed
       value; a node with two or more such branches is split (Bertin &
       Arnouts 1996; sep's ``deblend()``), the tree being cut top-down
       exactly as there.
    4. The position of each object is the maximum pixel of its branch.

    This gives the same objects as sep, but deterministically: sep assigns
    the pixels between branches at random (``gatherup``) and reports the
    brightest pixel of each object *after* that assignment, so its
    ``xpeak`` of a deblended object can jump to a secondary maximum, and
    depends on the rest of the image. Speed is that of ``sep.extract`` on
    a survey map (~20 ms for ~450 objects on 690 x 690 pixels): single-peak
    regions cost almost nothing, and all the sub-thresholds of the others
    are labelled in one pass.

    Parameters
    ----------
    image : numpy.ndarray, shape (ny, nx)
        Map to search (here ``-log10 P_false``).
    threshold : float
        Absolute detection threshold (> 0).
    minarea : int
        Minimum number of pixels of a region.
    deblend_nthresh : int
        Number of deblending thresholds.
    deblend_cont : float
        Minimum contrast (fraction of the region's summed value); 1 disables
        deblending.

    Returns
    -------
    ix, iy : numpy.ndarray of int
        Peak pixel (0-based column, row) of every object.
    """
    above = image >= threshold
    pix = np.flatnonzero(above)
    if pix.size == 0:
        return np.zeros(0, np.intp), np.zeros(0, np.intp)
    labels, nlab = ndimage.label(above, structure=_EIGHT)
    ny, nx = image.shape
    py, px = np.divmod(pix, nx)
    value = image.flat[pix]
    # Local maxima, ties broken by the flat index (a plateau has one maximum):
    # every 8-connected set above any level holds at least one of them.
    is_max = np.ones(pix.size, dtype=bool)
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            if dy or dx:
                ny_, nx_ = py + dy, px + dx
                inside = (ny_ >= 0) & (ny_ < ny) & (nx_ >= 0) & (nx_ < nx)
                nb = image[np.clip(ny_, 0, ny - 1), np.clip(nx_, 0, nx - 1)]
                wins = (value > nb) | ((value == nb) & (dy * nx + dx > 0))
                is_max &= wins | ~inside
    lab = labels.flat[pix]
    nmax = np.bincount(lab[is_max], minlength=nlab + 1)
    area = np.bincount(lab, minlength=nlab + 1)
    big = area >= minarea
    single = is_max & (nmax[lab] == 1) & big[lab]
    out = [np.flatnonzero(single)]
    multi = (nmax > 1) & big
    if deblend_cont < 1.0 and multi.any():
        sel = np.flatnonzero(multi[lab])
        order = np.argsort(lab[sel], kind="stable")
        sel = sel[order]
        mlab = lab[sel]
        starts = np.flatnonzero(np.r_[True, mlab[1:] != mlab[:-1]])
        region = np.cumsum(np.r_[True, mlab[1:] != mlab[:-1]]) - 1
        y0 = np.minimum.reduceat(py[sel], starts)
        x0 = np.minimum.reduceat(px[sel], starts)
        h = np.maximum.reduceat(py[sel], starts) - y0 + 1
        w = np.maximum.reduceat(px[sel], starts) - x0 + 1
        oy, ox, shape = _pack_boxes(h, w)
        cy = py[sel] - y0[region] + oy[region]
        cx = px[sel] - x0[region] + ox[region]
        peaks = _tree_peaks(value[sel], is_max[sel], region, cy, cx, shape, threshold,
                            minarea, int(deblend_nthresh), float(deblend_cont))
        out.append(sel[peaks])
    elif multi.any():
        # No deblending: one object per region, at its maximum.
        sel = np.flatnonzero(multi[lab])
        order = np.lexsort((-value[sel], lab[sel]))
        sel = sel[order]
        first = np.r_[True, lab[sel][1:] != lab[sel][:-1]]
        out.append(sel[first])
    idx = np.concatenate(out)
    return px[idx], py[idx]


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
    psf : xsurvey.psf.RadialPSF
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
    """Non-negative solution ``F`` of ``excess = A F`` (METHOD §5).

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
    """Deblend aperture counts of neighbouring detections (METHOD §5).

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
    contamination = np.zeros_like(bkg)
    np.add.at(contamination, i, frac * total[j])
    np.add.at(contamination, j, frac * total[i])
    return total, bkg + contamination


# ---------------------------------------------------------------------------
# Output table
# ---------------------------------------------------------------------------
#: Detection catalogue columns: name -> (unit, description), in output order.
DETECTION_COLUMNS = {
    "ra": ("deg", "right ascension (ICRS) of the -log P peak"),
    "dec": ("deg", "declination (ICRS) of the -log P peak"),
    "x": ("pix", "0-based mosaic pixel x of the -log P peak"),
    "y": ("pix", "0-based mosaic pixel y of the -log P peak"),
    "det_ml": ("", "-ln P(N, B') with the deblended background"),
    "det_ml_raw": ("", "-ln P(N, B) with the raw background"),
    "exposure_ks": ("ks", "exposure at the position"),
    "counts": ("ct", "total counts N in the aperture"),
    "bkg": ("ct", "expected background counts B in the aperture (not deblended)"),
    "bkg_deblended": ("ct", "B' = B + neighbours' counts in the aperture"),
    "net": ("ct", "net counts S = N - B'"),
    "net_err_hi": ("ct", "1-sigma upper error on S (Gehrels)"),
    "net_err_lo": ("ct", "1-sigma lower error on S (Gehrels)"),
    "rate": ("ct / s", "net count rate S / t"),
    "flux": ("erg / (cm2 s)", "aperture-corrected flux rate * CF / EEF"),
    "flux_err_hi": ("erg / (cm2 s)", "1-sigma upper error on the flux"),
    "flux_err_lo": ("erg / (cm2 s)", "1-sigma lower error on the flux"),
    "snr": ("", "S / sqrt(N + B')"),
}


def empty_detection_columns() -> dict:
    """Dict of zero-length float arrays for every detection column."""
    return {name: np.zeros(0) for name in DETECTION_COLUMNS}


def detection_table(columns: dict, meta: dict | None = None) -> Table:
    """Astropy Table of :data:`DETECTION_COLUMNS` (units, descriptions) from arrays."""
    tab = photometry.make_table(columns, DETECTION_COLUMNS)
    if meta:
        tab.meta.update(meta)
    return tab


def empty_detection_table(meta: dict | None = None) -> Table:
    """A valid zero-row detection table with every column, unit and description."""
    return detection_table(empty_detection_columns(), meta)


# ---------------------------------------------------------------------------
# Detection
# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class DetectionParameters:
    """Parameters of the detection of one band (defaults: METHOD §4).

    Attributes
    ----------
    threshold_log10 : float
        Detection threshold on ``-log10 P_false`` (2.5).
    exposure_floor_ks : float
        Detections where the exposure is below this are dropped, ks (20).
    smoothing_radius_arcsec : float or None
        Top-hat radius; None = the instrument's aperture radius (20").
    aperture_radius_arcsec : float or None
        Photometry/DET_ML aperture; None = instrument aperture radius (20").
    deblend_radius_arcsec : float or None
        Neighbours closer than this are deblended; None = instrument (90").
    minarea : int
        Minimum number of connected pixels above the threshold (sep).
    deblend_nthresh : int
        Number of sub-thresholds of sep's deblending.
    deblend_cont : float
        Minimum contrast of sep's deblending (fraction of the parent's summed
        ``-log10 P`` that a branch must hold; 1 disables peak separation).
    subpixel : bool
        Refine peak positions with a 3-point parabola in x and y.
    fft_workers : int
        Threads for scipy.fft.
    """

    threshold_log10: float = 2.5
    exposure_floor_ks: float = 20.0
    smoothing_radius_arcsec: float | None = None
    aperture_radius_arcsec: float | None = None
    deblend_radius_arcsec: float | None = None
    minarea: int = 1
    deblend_nthresh: int = 32
    deblend_cont: float = 0.005
    subpixel: bool = True
    fft_workers: int = 1

    def __post_init__(self):
        if not self.threshold_log10 > 0:
            raise ValueError(f"threshold_log10 must be > 0, got {self.threshold_log10}")
        if self.exposure_floor_ks < 0:
            raise ValueError(f"exposure_floor_ks must be >= 0, got {self.exposure_floor_ks}")
        for name in ("smoothing_radius_arcsec", "aperture_radius_arcsec",
                     "deblend_radius_arcsec"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise ValueError(f"{name} must be > 0, got {value}")
        if int(self.minarea) < 1:
            raise ValueError(f"minarea must be >= 1, got {self.minarea}")
        if not 0 < self.deblend_cont <= 1:
            raise ValueError(f"deblend_cont must be in (0, 1], got {self.deblend_cont}")


def pixel_scale_arcsec(wcs) -> float:
    """Pixel size (arcsec) of a celestial WCS with square pixels.

    Raises
    ------
    ValueError
        If the pixels are not square to 0.1%.
    """
    scales = proj_plane_pixel_scales(wcs.celestial) * 3600.0
    if not np.isclose(scales[0], scales[1], rtol=1e-3):
        raise ValueError(f"mosaic WCS pixels are not square: {scales[0]:.5g}\" x "
                         f"{scales[1]:.5g}\" (expected equal sides)")
    return float(np.mean(scales))


def _bounding_slices(mask: np.ndarray):
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return slice(0, 0), slice(0, 0)
    return slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1)


class Detector:
    """Detection, photometry and deblending of one band of one mosaic.

    Build once per mosaic (exposure, WCS, band, parameters, and usually the
    background); call :meth:`detect` for every counts map (the real data or
    a replica).

    Parameters
    ----------
    exposure : array_like, shape (ny, nx)
        Exposure map, s (modules summed); pixels <= 0 (or NaN) are masked.
    wcs : astropy.wcs.WCS
        Celestial WCS of the mosaic (square pixels).
    instrument : xsurvey.instrument.Instrument
        PSF, aperture and deblending radii, CF.
    band : str
        Band name (for the CF and the table metadata).
    background : array_like, optional
        Background map (expected counts per pixel). Smoothed now, so that
        :meth:`detect` can be called with counts only.
    params : DetectionParameters, optional
        Defaults of METHOD §4; keyword arguments override single fields.
    """

    def __init__(self, exposure, wcs, instrument, band: str, background=None,
                 params: DetectionParameters | None = None, **overrides):
        params = replace(params or DetectionParameters(), **overrides)
        self.params = params
        self.instrument = instrument
        self.band = band
        self.wcs = wcs.celestial
        self.exposure = np.asarray(exposure, dtype=np.float64)
        if self.exposure.ndim != 2:
            raise ValueError(f"exposure must be a 2-D map, got shape {self.exposure.shape}")
        self.shape = self.exposure.shape
        self.pixel_arcsec = pixel_scale_arcsec(self.wcs)
        self.smoothing_radius_arcsec = float(params.smoothing_radius_arcsec
                                             or instrument.aperture_radius_arcsec)
        self.aperture_radius_arcsec = float(params.aperture_radius_arcsec
                                            or instrument.aperture_radius_arcsec)
        self.deblend_radius_arcsec = float(params.deblend_radius_arcsec
                                           or instrument.deblend_radius_arcsec)
        self.aperture = photometry.Aperture.from_instrument(
            instrument, band, self.pixel_arcsec, self.aperture_radius_arcsec)
        # Warm the PSF aperture-fraction table (computed once per radius).
        instrument.psf.aperture_fraction(0.0, self.aperture_radius_arcsec)

        self.mask = np.isfinite(self.exposure) & (self.exposure > 0)
        self.kernel = tophat_kernel(self.smoothing_radius_arcsec / self.pixel_arcsec)
        half = self.kernel.shape[0] // 2
        rs, cs = _bounding_slices(self.mask)
        # Crop to the exposed area plus the kernel half-width (zeros beyond).
        self._crop = (slice(max(rs.start - half, 0), min(rs.stop + half, self.shape[0])),
                      slice(max(cs.start - half, 0), min(cs.stop + half, self.shape[1])))
        self._origin = (self._crop[0].start, self._crop[1].start)
        self._mask_c = np.ascontiguousarray(self.mask[self._crop])
        self._convolver = FFTConvolver(self._mask_c.shape, self.kernel, params.fft_workers)
        self.meta = {
            "BAND": band,
            "DETTHR": (params.threshold_log10, "threshold on -log10 P_false"),
            "EXPFLOOR": (params.exposure_floor_ks, "exposure floor, ks"),
            "SMOOTHR": (self.smoothing_radius_arcsec, "top-hat radius, arcsec"),
            "APERTURE": (self.aperture_radius_arcsec, "aperture radius, arcsec"),
            "DEBLENDR": (self.deblend_radius_arcsec, "deblending radius, arcsec"),
            "EEF": (self.aperture.eef, "PSF encircled-energy fraction of the aperture"),
            "CF": (self.aperture.cf, "count-rate-to-flux factor, erg/cm2/count"),
        }
        self._bkg_key = None
        if background is not None:
            self.set_background(background)

    # -- maps ----------------------------------------------------------------
    def _cropped(self, image, what: str) -> np.ndarray:
        image = np.asarray(image)
        if image.shape != self.shape:
            raise ValueError(f"{what} map has shape {image.shape}, expected {self.shape} "
                             f"(the exposure map's)")
        return np.where(self._mask_c, image[self._crop], 0.0).astype(np.float64, copy=False)

    def smooth(self, image, what: str = "image") -> np.ndarray:
        """Top-hat sum of ``image`` over the exposed pixels (cropped grid).

        Integer-valued inputs (integer dtype, or floats holding integers)
        give exactly integer outputs: the FFT round-off is removed by
        rounding. Otherwise negative round-off is clipped to 0.

        Returns
        -------
        numpy.ndarray
            Smoothed map on the cropped grid (see :attr:`crop`).
        """
        raw = np.asarray(image)
        data = self._cropped(raw, what)
        integral = np.issubdtype(raw.dtype, np.integer) or np.array_equal(data, np.rint(data))
        if not integral and not np.all(np.isfinite(data)):
            n = int(np.count_nonzero(~np.isfinite(data)))
            raise ValueError(f"{what} map has {n} NaN/infinite pixels where the exposure is "
                             f"positive (expected finite values)")
        out = self._convolver(data)
        if integral:
            np.rint(out, out=out)
        else:
            np.maximum(out, 0.0, out=out)
        return out

    @property
    def crop(self):
        """Slices of the mosaic holding the exposed area plus the kernel margin."""
        return self._crop

    def set_background(self, background) -> None:
        """Smooth a background map and precompute the per-pixel threshold counts."""
        bkg = np.asarray(background, dtype=np.float64)
        smoothed = self.smooth(bkg, "background")
        smoothed[~self._mask_c] = 0.0
        self._bkg_key = bkg.copy()
        self._bkg_smooth = smoothed
        athr = threshold_counts(smoothed, self.params.threshold_log10)
        athr[~self._mask_c] = np.inf
        self._athr = athr

    def _use_background(self, background) -> None:
        if background is None:
            if self._bkg_key is None:
                raise ValueError("no background map: pass background= to Detector or detect()")
            return
        bkg = np.asarray(background, dtype=np.float64)
        if self._bkg_key is None or bkg.shape != self._bkg_key.shape or not np.array_equal(
                bkg, self._bkg_key):
            self.set_background(bkg)

    def significance(self, counts, background=None, full: bool = True) -> np.ndarray:
        """``-log10 P_false`` map on the full mosaic grid.

        Parameters
        ----------
        counts : array_like
            Counts map.
        background : array_like, optional
            Background map (default: the one given before).
        full : bool
            Evaluate every exposed pixel (True) or only those that can reach
            the threshold (False; the others are 0, as in :meth:`detect`).

        Returns
        -------
        numpy.ndarray
            ``-log10 P_false`` (0 where unexposed), shape of the mosaic.
        """
        self._use_background(background)
        sig_c, _ = self._significance_cropped(counts, full)
        out = np.zeros(self.shape)
        out[self._crop] = sig_c
        return out

    def _significance_cropped(self, counts, full: bool):
        a = self.smooth(counts, "counts")
        sig = np.zeros_like(a)
        if full:
            sel = self._mask_c & (self._bkg_smooth > 0)
        else:
            sel = a >= self._athr
        idx = np.flatnonzero(sel)
        if idx.size:
            sig.flat[idx] = neg_log10_pfalse(a.flat[idx], self._bkg_smooth.flat[idx])
        return sig, a

    # -- detection -----------------------------------------------------------
    def find_peaks(self, counts, background=None):
        """Peaks of ``-log10 P_false`` above the threshold (before the exposure floor).

        Returns
        -------
        x, y : numpy.ndarray
            0-based mosaic pixel positions (sub-pixel if ``params.subpixel``).
        peak : numpy.ndarray
            ``-log10 P_false`` at the peak pixel.
        """
        self._use_background(background)
        p = self.params
        sig, a = self._significance_cropped(counts, full=False)
        ix, iy = find_peaks(sig, p.threshold_log10, p.minarea, p.deblend_nthresh,
                            p.deblend_cont)
        peak = sig[iy, ix]
        x, y = ix.astype(np.float64), iy.astype(np.float64)
        if p.subpixel and ix.size:
            dx, dy = self._subpixel_offsets(a, ix, iy)
            x, y = x + dx, y + dy
        return x + self._origin[1], y + self._origin[0], peak

    def _subpixel_offsets(self, a, ix, iy):
        """Vertex of 3-point parabolas of exact ``-log10 P`` through each peak."""
        ny, nx = a.shape
        off = np.array([-1, 0, 1])
        xs = np.clip(ix[:, None] + off[None, :], 0, nx - 1)
        ys = np.clip(iy[:, None] + off[None, :], 0, ny - 1)
        fx = neg_log10_pfalse(a[iy[:, None], xs], self._bkg_smooth[iy[:, None], xs])
        fy = neg_log10_pfalse(a[ys, ix[:, None]], self._bkg_smooth[ys, ix[:, None]])

        def vertex(f):
            curv = f[:, 0] - 2.0 * f[:, 1] + f[:, 2]
            with np.errstate(divide="ignore", invalid="ignore"):
                d = 0.5 * (f[:, 0] - f[:, 2]) / curv
            # Stay inside the peak pixel (so its exposure is the one reported).
            return np.where((curv < 0) & np.isfinite(d), np.clip(d, -0.499, 0.499), 0.0)

        return vertex(fx), vertex(fy)

    def measure(self, counts, background, x, y) -> dict:
        """Photometry, deblending and DET_ML at given detection positions.

        Parameters
        ----------
        counts, background : array_like
            Counts and background maps of the mosaic.
        x, y : array_like
            0-based pixel positions of the detections (all of the band: they
            are deblended together).

        Returns
        -------
        dict of numpy.ndarray
            The :data:`DETECTION_COLUMNS`.
        """
        x = np.asarray(x, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        if x.size == 0:
            return empty_detection_columns()
        ap = self.aperture
        n = photometry.aperture_sum(counts, x, y, ap.radius_pix)
        b = photometry.aperture_sum(background, x, y, ap.radius_pix)
        t = photometry.value_at(self.exposure, x, y)
        _, b_deb = deblend(n, b, x, y, self.pixel_arcsec, self.instrument.psf,
                           self.aperture_radius_arcsec, self.deblend_radius_arcsec)
        ml = det_ml(np.concatenate([n, n]), np.concatenate([b_deb, b]))
        net = n - b_deb
        hi, lo = photometry.net_errors(n)
        rate = photometry.count_rate(net, t)
        to_flux = photometry.count_rate(1.0, t) * (ap.cf / ap.eef)
        ra, dec = self.wcs.wcs_pix2world(x, y, 0)
        return {
            "ra": np.asarray(ra, dtype=np.float64) % 360.0,
            "dec": np.asarray(dec, dtype=np.float64),
            "x": x,
            "y": y,
            "det_ml": ml[: x.size],
            "det_ml_raw": ml[x.size:],
            "exposure_ks": t / 1e3,
            "counts": n,
            "bkg": b,
            "bkg_deblended": b_deb,
            "net": net,
            "net_err_hi": hi,
            "net_err_lo": lo,
            "rate": rate,
            "flux": net * to_flux,
            "flux_err_hi": hi * to_flux,
            "flux_err_lo": lo * to_flux,
            "snr": photometry.signal_to_noise(net, n, b_deb),
        }

    def detect_arrays(self, counts, background=None) -> dict:
        """Like :meth:`detect` but returns a dict of arrays (no astropy overhead).

        Rows are sorted by decreasing ``det_ml``.
        """
        self._use_background(background)
        counts = np.asarray(counts)
        if counts.shape != self.shape:
            raise ValueError(f"counts map has shape {counts.shape}, expected {self.shape} "
                             f"(the exposure map's)")
        x, y, _ = self.find_peaks(counts)
        if x.size:
            t = photometry.value_at(self.exposure, x, y)
            keep = t >= self.params.exposure_floor_ks * 1e3
            x, y = x[keep], y[keep]
        cols = self.measure(counts, self._bkg_key, x, y)
        order = np.argsort(-cols["det_ml"], kind="stable")
        log.debug("band %s: %d detections", self.band, order.size)
        return {k: v[order] for k, v in cols.items()}

    def detect(self, counts, background=None) -> Table:
        """Detect, deblend and measure the sources of one counts map.

        Parameters
        ----------
        counts : array_like, shape (ny, nx)
            Counts map (same grid as the exposure).
        background : array_like, optional
            Background map (expected counts per pixel); default: the one
            given to the constructor or last used. A new map is smoothed
            once and reused by later calls.

        Returns
        -------
        astropy.table.Table
            One row per detection, columns :data:`DETECTION_COLUMNS` with
            units and descriptions, sorted by decreasing ``det_ml``; zero
            rows (same columns) when nothing is detected.
        """
        return detection_table(self.detect_arrays(counts, background), self.meta)


def detect_sources(counts, background, exposure, wcs, instrument, band: str,
                   params: DetectionParameters | None = None, **overrides) -> Table:
    """Detect, deblend and measure the sources of one band (METHOD §4-6).

    Convenience wrapper: ``Detector(exposure, wcs, instrument, band,
    background, params, **overrides).detect(counts)``. Build a
    :class:`Detector` directly to process many counts maps of one mosaic.

    Parameters
    ----------
    counts, background, exposure : array_like, shape (ny, nx)
        Counts, expected background counts and exposure (s) mosaics.
    wcs : astropy.wcs.WCS
        Celestial WCS of the mosaic.
    instrument : xsurvey.instrument.Instrument
    band : str
    params : DetectionParameters, optional
    **overrides
        Single :class:`DetectionParameters` fields, e.g. ``exposure_floor_ks=10``.

    Returns
    -------
    astropy.table.Table
        See :meth:`Detector.detect`.
    """
    det = Detector(exposure, wcs, instrument, band, background, params, **overrides)
    return det.detect(counts)
