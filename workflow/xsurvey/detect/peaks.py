"""Peaks of the -log10 P_false map: connected regions above threshold separated by
Source Extractor's multi-threshold deblending (re-implemented, deterministic), and the
suppression of peaks closer than the deblending radius (method.md §4)."""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

from xsurvey.detect._peaks import _level_tree_kernel, _regions_kernel
from xsurvey.detect.smoothing import PixelGrids

# ---------------------------------------------------------------------------
# Peaks
# ---------------------------------------------------------------------------
_MAX_DEBLEND_AREA = 3  # SExtractor's MAXDEBAREA: sub-threshold branches need min(minarea, 3) px


def _pixel_depth(value, region, levels, threshold: float, nthresh: int) -> np.ndarray:
    """Number of sub-thresholds ``levels[r, 1..nthresh-1]`` strictly below each pixel.

    Estimated from logarithms, then corrected by exact comparisons with the
    level values (the estimate is off by at most one).
    """
    nl = nthresh + 1
    log_ratio = np.log(levels[:, -1] / threshold)
    safe = np.where(log_ratio > 0, log_ratio, 1.0)
    scale = np.where(log_ratio > 0, nthresh / safe, 0.0)
    est = np.log(value * (1.0 / threshold))
    est *= scale[region]
    np.floor(est, out=est)
    np.nan_to_num(est, copy=False, nan=0.0)
    np.clip(est, 0, max(nthresh - 1, 0), out=est)
    depth = est.astype(np.intp)
    lflat = levels.ravel()
    depth -= (depth > 0) & (value <= lflat[region * nl + depth])
    depth += (depth < nthresh - 1) & (value > lflat[region * nl + depth + 1])
    return depth


def _level_nodes(pix, index, at, fwd, value, depth, region, nthresh: int) -> dict:
    """The deblending tree of :func:`_level_tree_kernel` as :func:`_cut_tree` takes it.

    The pixels are renumbered by decreasing ``depth`` (in the ``index`` grid
    too), so that those joined at one level are contiguous in memory.

    Returns
    -------
    dict
        ``nsub`` (number of nodes), ``spans`` (``(k, first, stop)`` node-id
        ranges, top level first) and the node arrays ``parent`` (node id one
        level down; for ``k = 1`` the id ``nsub + region``), ``npix``,
        ``flux``, ``best`` (index of the maximum pixel), ``region``.
    """
    # numpy's stable sort of 16-bit integers is a radix sort
    key = (nthresh - 1 - depth).astype(np.uint16 if nthresh <= 2**16 else np.int64)
    order = np.argsort(key, kind="stable")
    at = at[order]
    index[at] = np.arange(order.size, dtype=index.dtype)
    level, parent, npix, flux, best, rep = _level_tree_kernel(
        index, at, fwd, value[order], depth[order], pix[order], nthresh)
    nsub = level.size
    node_region = region[order[rep]]
    parent = np.where(parent >= 0, parent, nsub + node_region)
    ks, starts = np.unique(-level, return_index=True)
    stops = np.r_[starts[1:], nsub]
    spans = [(-int(k), int(a), int(z)) for k, a, z in zip(ks, starts, stops, strict=True)]
    return {"nsub": nsub, "spans": spans, "parent": parent, "region": node_region,
            "best": order[best], "npix": npix.astype(np.float64), "flux": flux}


def _cut_tree(tree: dict, levels, area, region_sum, region_best, big, minarea: int,
              cont: float) -> np.ndarray:
    """Cut the deblending tree as sep's ``deblend()``; the objects' maximum pixels.

    A branch counts (is significant) if it is valid (at least
    ``min(minarea, 3)`` pixels, valid parent) and its summed value above its
    sub-threshold exceeds ``cont`` times its region's summed value. Top-down,
    a node with two or more significant children is split: those children
    become objects unless a descendant was already split; a region that
    was never split is one object.
    """
    nreg = area.size
    nsub = tree["nsub"]
    nnode = nsub + nreg
    nl = levels.shape[1]
    parent = np.concatenate([tree["parent"], np.zeros(nreg, np.intp)])
    npix = np.concatenate([tree["npix"], area.astype(np.float64)])
    flux = np.concatenate([tree["flux"], region_sum])
    best = np.concatenate([tree["best"], region_best])
    reg = np.concatenate([tree["region"], np.arange(nreg)])
    spans = tree["spans"]
    level = np.zeros(nnode, np.intp)
    for k, a, z in spans:
        level[a:z] = k
    valid = np.zeros(nnode, bool)
    valid[nsub:] = big
    dmin = min(int(minarea), _MAX_DEBLEND_AREA)
    for _, a, z in spans[::-1]:                   # bottom-up
        valid[a:z] = (npix[a:z] >= dmin) & valid[parent[a:z]]
    sig = valid & (flux - levels.ravel()[reg * nl + level] * npix > cont * region_sum[reg])
    ok = np.ones(nnode, bool)
    chosen = np.zeros(nnode, bool)
    below = {k: (a, z) for k, a, z in spans}
    below[0] = (nsub, nnode)
    for k, a, z in spans:                         # top-down
        pa, pz = below[k - 1]
        child = np.flatnonzero(valid[a:z]) + a
        if child.size == 0:
            continue
        par = parent[child] - pa
        nsig = np.bincount(par, weights=sig[child], minlength=pz - pa)
        bad = np.bincount(par, weights=~ok[child], minlength=pz - pa)
        ok_par = ok[pa:pz]
        ok_par[bad > 0] = False
        split = nsig > 1
        chosen[child[split[par] & ok[child] & sig[child]]] = True
        ok_par[split] = False
    chosen[nsub:] = ok[nsub:] & big
    return best[chosen]


def _deblended_peaks(pix, value, shape, threshold: float, minarea: int = 1,
                     nthresh: int = 32, cont: float = 0.005, grids=None) -> np.ndarray:
    """Objects of :func:`find_peaks` for a sparse set of pixels above the threshold.

    Parameters
    ----------
    pix : numpy.ndarray of int
        Flat indices (increasing) of all pixels ``>= threshold`` of an image.
    value : numpy.ndarray
        Their values.
    shape : tuple of int
        Image shape.
    threshold, minarea, nthresh, cont
        As :func:`find_peaks` (``nthresh`` is ``deblend_nthresh``).
    grids : PixelGrids, optional
        Reusable work grids of this shape.

    Returns
    -------
    numpy.ndarray of int
        Index (into ``pix``) of the peak pixel of every object, increasing.
    """
    if pix.size == 0:
        return np.zeros(0, np.intp)
    if grids is None or grids.shape != tuple(shape):
        grids = PixelGrids(shape)
    try:
        at = grids.load(pix, value) + (grids.w + 1)
        fwd = np.asarray(grids.offsets(forward_only=True), np.int64)
        region, area, region_sum, region_best = _regions_kernel(grids.index, at, fwd, value)
        big = area >= minarea
        if cont >= 1.0 or nthresh < 2:
            return np.sort(region_best[big])
        log_ratio = np.log(np.maximum(value[region_best], threshold) / threshold)
        levels = threshold * np.exp(log_ratio[:, None] * (np.arange(nthresh + 1) / nthresh))
        depth = _pixel_depth(value, region, levels, threshold, nthresh)
        tree = _level_nodes(pix, grids.index, at, fwd, value, depth, region, nthresh)
    finally:
        grids.clear()
    return np.sort(_cut_tree(tree, levels, area, region_sum, region_best, big, minarea, cont))


def find_peaks(image, threshold: float, minarea: int = 1, deblend_nthresh: int = 32,
               deblend_cont: float = 0.005):
    """Peaks of the deblended connected regions of ``image >= threshold``.

    Source Extractor's algorithm (as in ``sep.extract(image, threshold,
    minarea=minarea, filter_kernel=None, deblend_nthresh=..., deblend_cont=...,
    clean=False)``):

    1. 8-connected regions of pixels ``>= threshold`` with at least
       ``minarea`` pixels.
    2. Each region is deblended: ``deblend_nthresh`` thresholds spaced
       exponentially between ``threshold`` and the region's peak; a branch
       (8-connected pixels strictly above a sub-threshold, at least
       ``min(minarea, 3)`` of them) counts if its summed value above its
       sub-threshold exceeds ``deblend_cont`` times the region's summed
       value; a node with two or more such branches is split (Bertin &
       Arnouts 1996; sep's ``deblend()``), the tree being cut top-down
       exactly as there.
    3. The position of each object is the maximum pixel of its branch (ties:
       the first in flat order).

    This gives the same objects as sep, but deterministically: sep assigns
    the pixels between branches at random (``gatherup``) and reports the
    brightest pixel of each object *after* that assignment, so its
    ``xpeak`` of a deblended object can jump to a secondary maximum, and
    depends on the rest of the image.

    Implementation (by hand: sep exposes no deterministic tree): the pixels
    above the threshold are labelled into regions, then added to a
    union-find forest level by level from the top sub-threshold down
    (:func:`_regions_kernel`, :func:`_level_tree_kernel`, compiled with
    numba); the sets after each level are the branches, with their pixel
    count, summed value and maximum carried up from the level above. One
    pass over the pixels instead of a connected-component labelling of
    every sub-threshold; several times faster than ``sep.extract`` on a
    crowded survey map.

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
        Peak pixel (0-based column, row) of every object, in flat order.
    """
    image = np.asarray(image, dtype=np.float64)
    flat = image.ravel()
    pix = np.flatnonzero(flat >= threshold)
    idx = _deblended_peaks(pix, flat[pix], image.shape, float(threshold), int(minarea),
                           int(deblend_nthresh), float(deblend_cont))
    iy, ix = np.divmod(pix[idx], image.shape[1])
    return ix, iy


def suppress_close_peaks(x, y, peak, radius_pix: float) -> np.ndarray:
    """Keep the highest of peaks closer than ``radius_pix`` (greedy non-maximum suppression).

    Peaks are taken in order of decreasing value (ties: the earlier one); a
    peak is kept unless a kept peak lies within ``radius_pix``, also when
    the two lie in separate regions above the threshold: near the threshold
    the jagged top-hat map breaks one excursion into several islands. The
    multi-threshold deblending of a top-hat-smoothed ``-log10 P`` map splits
    one source into sub-peaks a few pixels apart (the top-hat sums jump by
    single counts from pixel to pixel); such peaks cannot be separate
    sources when they are closer than the PSF FWHM, and as separate
    detections they make the deblending system of method.md §5 nearly singular
    and share one source's counts among its fragments.

    Written by hand (no library does a greedy suppression); vectorised over
    the pairs within the radius, a few passes resolve the chains.

    Parameters
    ----------
    x, y : array_like
        Peak positions, pixels.
    peak : array_like
        Peak values (``-log10 P_false``).
    radius_pix : float
        Minimum separation, pixels (``<= 0``: keep all).

    Returns
    -------
    numpy.ndarray of int
        Indices of the kept peaks, increasing.
    """
    x = np.asarray(x, dtype=np.float64)
    n = x.size
    if radius_pix <= 0 or n < 2:
        return np.arange(n)
    order = np.lexsort((np.arange(n), -np.asarray(peak, dtype=np.float64)))
    rank = np.empty(n, np.intp)
    rank[order] = np.arange(n)
    pairs = cKDTree(np.column_stack([x, np.asarray(y, dtype=np.float64)])).query_pairs(
        radius_pix, output_type="ndarray")
    if pairs.size == 0:
        return np.arange(n)
    a, b = pairs[:, 0], pairs[:, 1]
    hi = np.where(rank[a] < rank[b], a, b)        # the higher peak of each pair
    lo = np.where(rank[a] < rank[b], b, a)
    state = np.zeros(n, np.int8)                  # 0 undecided, 1 kept, -1 suppressed
    while True:
        undecided = state == 0
        if not undecided.any():
            return np.flatnonzero(state > 0)
        # suppressed: a higher neighbour is kept; kept: no higher neighbour still counts
        beaten = np.bincount(lo, weights=state[hi] > 0, minlength=n) > 0
        waiting = np.bincount(lo, weights=state[hi] >= 0, minlength=n) > 0
        state[undecided & beaten] = -1
        state[undecided & ~beaten & ~waiting] = 1
