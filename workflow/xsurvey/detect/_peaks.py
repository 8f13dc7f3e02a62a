"""Compiled kernels of the peak search (numba): union-find over the pixels above
threshold and the tree of all deblending sub-thresholds. Written by hand: sep.extract
is not deterministic in its deblending order and offers no access to the tree."""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def _find_root(parent, i):  # pragma: no cover (compiled)
    """Root of ``i`` in a union-find forest, halving the path on the way."""
    while parent[i] != i:
        parent[i] = parent[parent[i]]
        i = parent[i]
    return i


@njit(cache=True)
def _regions_kernel(index, at, fwd, value):  # pragma: no cover (compiled)
    """8-connected regions of a sparse pixel set (compiled core of :func:`_deblended_peaks`).

    ``index`` is the padded index grid of :class:`PixelGrids` (pixel ``i`` in
    cell ``at[i]``, -1 in cells without a pixel) and ``fwd`` the flat
    offsets of the 4 later 8-neighbours. Returns the region of every pixel
    (numbered in order of first pixel) and per region its pixel count, summed
    value and maximum pixel (ties: the earliest).
    """
    n = value.size
    parent = np.arange(n)
    size = np.ones(n, np.int64)
    for p in range(n):
        for off in fwd:
            q = index[at[p] + off]
            if q < 0:
                continue
            a = _find_root(parent, p)
            b = _find_root(parent, q)
            if a != b:                       # union by size
                if size[a] < size[b]:
                    a, b = b, a
                parent[b] = a
                size[a] += size[b]
    region = np.empty(n, np.int64)
    label = np.full(n, -1, np.int64)
    nregion = 0
    for p in range(n):
        r = _find_root(parent, p)
        if label[r] < 0:
            label[r] = nregion
            nregion += 1
        region[p] = label[r]
    area = np.zeros(nregion, np.int64)
    total = np.zeros(nregion)
    top = np.full(nregion, -1, np.int64)
    for p in range(n):                       # increasing p: ties keep the earliest
        r = region[p]
        area[r] += 1
        total[r] += value[p]
        if top[r] < 0 or value[p] > value[top[r]]:
            top[r] = p
    return region, area, total, top


@njit(cache=True)
def _level_tree_kernel(index, at, fwd, value, depth, flat, nthresh):  # pragma: no cover
    """Branches of the deblending tree at the sub-thresholds ``nthresh-1 .. 1`` (compiled).

    The branches at sub-threshold ``k`` are the 8-connected sets of pixels
    with ``depth >= k``. Pixels come sorted by decreasing ``depth``
    (``index`` holds their rank in that order, ``at`` and ``fwd`` as for
    :func:`_regions_kernel`; ``flat`` is their flat image index, for ties)
    and are added level by level, top level first, to a union-find forest
    (union by size); after level ``k`` each set is a node, whose pixel
    count, summed value and maximum are those of the nodes of level
    ``k + 1`` it holds (their parent) plus its pixels of depth ``k``.

    Returns
    -------
    level, parent, npix, flux, best, rep : numpy.ndarray
        Per node (top level first): its level, parent node (-1 on level 1),
        pixel count, summed value, maximum pixel (rank; ties: the earliest in
        ``flat``) and one of its pixels (rank).
    """
    n = value.size
    parent = np.full(n, -1, np.int64)
    size = np.ones(n, np.int64)
    stamp = np.zeros(n, np.int64)            # level at which node_of[root] was set
    node_of = np.empty(n, np.int64)
    cap = 0                                  # nodes <= pixels summed over the levels
    for p in range(n):
        cap += depth[p]
    n_level = np.empty(cap, np.int64)
    n_parent = np.empty(cap, np.int64)
    n_npix = np.empty(cap, np.int64)
    n_flux = np.empty(cap)
    n_best = np.empty(cap, np.int64)
    n_rep = np.empty(cap, np.int64)
    nnode = 0
    prev_first = 0
    i = 0
    for k in range(nthresh - 1, 0, -1):
        start = i
        while i < n and depth[i] >= k:
            parent[i] = i
            for off in fwd:
                for q in (index[at[i] - off], index[at[i] + off]):
                    if q < 0 or parent[q] < 0:
                        continue
                    a = _find_root(parent, i)
                    b = _find_root(parent, q)
                    if a != b:
                        if size[a] < size[b]:
                            a, b = b, a
                        parent[b] = a
                        size[a] += size[b]
            i += 1
        first = nnode
        nchild = first - prev_first
        # members of the level: the nodes one level up, then the new pixels
        for t in range(nchild + i - start):
            if t < nchild:
                c = prev_first + t
                r = _find_root(parent, n_rep[c])
                cnt, tot, top = n_npix[c], n_flux[c], n_best[c]
            else:
                top = start + t - nchild
                r = _find_root(parent, top)
                cnt, tot = 1, value[top]
            if stamp[r] != k:
                stamp[r] = k
                node_of[r] = nnode
                n_level[nnode] = k
                n_parent[nnode] = -1
                n_npix[nnode] = 0
                n_flux[nnode] = 0.0
                n_best[nnode] = top
                n_rep[nnode] = r
                nnode += 1
            m = node_of[r]
            if t < nchild:
                n_parent[c] = m
            n_npix[m] += cnt
            n_flux[m] += tot
            b = n_best[m]
            if value[top] > value[b] or (value[top] == value[b] and flat[top] < flat[b]):
                n_best[m] = top
        prev_first = first
    return (n_level[:nnode], n_parent[:nnode], n_npix[:nnode], n_flux[:nnode],
            n_best[:nnode], n_rep[:nnode])
