"""Merging of the band detections into one source list (method.md §8)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numba import njit
from scipy.spatial import cKDTree

from xsurvey.calibrate.reliability import above_threshold
from xsurvey.instrument.core import band_suffix
from xsurvey.tables import float_column

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- helpers
def _n_rows(table) -> int:
    return len(table[next(iter(table.keys()))]) if isinstance(table, dict) else len(table)


def _band_rows(table, band: str, what: str):
    """Rows of ``band`` from a dict of per-band tables or a table with a ``band`` column."""
    if isinstance(table, Mapping) and not isinstance(table, pd.DataFrame):
        if band not in table:
            raise ValueError(f"{what}: no entry for band {band!r} (have {list(table)})")
        return table[band]
    if "band" in table.columns:
        sel = table["band"].astype(str).to_numpy() == str(band)
        if not sel.any():
            raise ValueError(f"{what}: no rows for band {band!r} "
                             f"(bands present: {sorted(set(table['band'].astype(str)))})")
        return table[sel]
    return table


def _unit_vectors(ra_deg, dec_deg) -> np.ndarray:
    ra, dec = np.radians(ra_deg), np.radians(dec_deg)
    return np.column_stack([np.cos(dec) * np.cos(ra), np.cos(dec) * np.sin(ra), np.sin(dec)])


def _chord(radius_arcsec: float) -> float:
    return 2.0 * np.sin(np.radians(radius_arcsec / 3600.0) / 2.0)


def _meta_value(v):
    return v[0] if isinstance(v, tuple) else v


# --------------------------------------------------------------------------- selection
def select_above_threshold(detections, thresholds: pd.DataFrame, level: float = 0.95,
                           band: str | None = None) -> np.ndarray:
    """Detections with DET_ML >= the threshold of their exposure interval.

    Parameters
    ----------
    detections : astropy.table.Table or pandas.DataFrame
        One band; columns ``det_ml`` and ``exposure_ks`` (ks).
    thresholds : pandas.DataFrame
        :func:`xsurvey.calibrate.threshold_for_reliability` output
        (``[band,] exp_lo_ks, exp_hi_ks, reliability, det_ml_threshold``).
    level : float
        Reliability level (0.95 or 0.99 by default in config).
    band : str, optional
        Selects the rows of ``band`` when ``thresholds`` holds several bands.

    Returns
    -------
    numpy.ndarray of bool
        One flag per detection (``detections[mask]`` are the passing rows).
        Detections outside all exposure intervals, or in an interval where
        the level is never reached, do not pass.
    """
    if band is not None:
        thresholds = _band_rows(thresholds, band, "thresholds")
    return above_threshold(float_column(detections, "det_ml", "detections"),
                                     float_column(detections, "exposure_ks", "detections"),
                                     thresholds, level)


# --------------------------------------------------------------------------- merging
@dataclass(frozen=True)
class MasterList:
    """Sources of the merged catalogue and their detection in every band.

    Attributes
    ----------
    bands : tuple of str
        Bands, in instrument order.
    ra, dec : numpy.ndarray
        Position (deg) = that of the detection in the best band.
    best_band : numpy.ndarray of str
        Band of the highest DET_ML among the bands where the source passes.
    index : dict of numpy.ndarray
        ``band -> row`` of the source's detection in that band's table, -1
        when none is within the radius.
    passing : dict of numpy.ndarray
        ``band -> bool``: that detection passes the threshold.
    radius_arcsec : float
        Merging radius.
    """

    bands: tuple
    ra: np.ndarray
    dec: np.ndarray
    best_band: np.ndarray
    index: dict
    passing: dict
    radius_arcsec: float

    def __len__(self) -> int:
        return int(self.ra.size)

    def detected(self, band: str) -> np.ndarray:
        """True where the source has a detection (any DET_ML) in ``band``."""
        return self.index[band] >= 0

    def to_frame(self) -> pd.DataFrame:
        """``ra, dec, best_band, idx_<sfx>, pass_<sfx>`` per source."""
        cols = {"ra": self.ra, "dec": self.dec, "best_band": self.best_band}
        for b in self.bands:
            cols[f"idx_{band_suffix(b)}"] = self.index[b]
            cols[f"pass_{band_suffix(b)}"] = self.passing[b]
        return pd.DataFrame(cols)


@njit(cache=True)
def _greedy_merge(seed_band, seed_det, indptr, cand, cand_d2, det_ml, n_bands):  # pragma: no cover
    """The greedy loop of :func:`merge_bands`, compiled (the rest is vectorised).

    Seeds in order; a seed already used is skipped, otherwise it starts a
    source that takes, in every other band, the unused candidate with the
    smallest distance (then the highest DET_ML, then the lowest index).
    Detections are numbered over all bands; ``cand[indptr[s * n_bands + b]:
    indptr[s * n_bands + b + 1]]`` are seed s's candidates in band b.

    Returns
    -------
    src_seed : numpy.ndarray
        Seed index of each source.
    taken : numpy.ndarray
        ``(n_sources, n_bands)`` detection (global number) of each source
        in each band, -1 if none.
    """
    used = np.zeros(det_ml.size, np.bool_)
    src_seed = np.empty(seed_det.size, np.int64)
    taken = np.full((seed_det.size, n_bands), -1, np.int64)
    n_src = 0
    for s in range(seed_det.size):
        if used[seed_det[s]]:
            continue
        src_seed[n_src] = s
        for b in range(n_bands):
            if b == seed_band[s]:
                best = seed_det[s]
            else:
                best, best_d2 = -1, np.inf
                for k in range(indptr[s * n_bands + b], indptr[s * n_bands + b + 1]):
                    c = cand[k]
                    if used[c]:
                        continue
                    if best < 0 or cand_d2[k] < best_d2 or (cand_d2[k] == best_d2 and (
                            det_ml[c] > det_ml[best]
                            or (det_ml[c] == det_ml[best] and c < best))):
                        best, best_d2 = c, cand_d2[k]
                if best < 0:
                    continue
            used[best] = True
            taken[n_src, b] = best
        n_src += 1
    return src_seed[:n_src], taken[:n_src]


def merge_bands(detections_by_band: Mapping, passing_by_band: Mapping,
                radius_arcsec: float = 30.0, band_order=None, group: str | None = None
                ) -> MasterList:
    """Merge per-band detections into one list of sources passing in >= 1 band.

    Greedy: all passing detections of all bands are taken by decreasing
    DET_ML (ties: band order, then row). A passing detection not yet used
    starts a new source at its position; in every band the source takes the
    nearest not-yet-used detection, passing or not, within ``radius_arcsec``
    of that position (in the seed's band: the seed itself). Since the seed
    has the highest DET_ML of all passing detections still unused, the
    source's position is that of its band with the highest passing DET_ML
    (method.md §9). Passing detections absorbed by a brighter source do not
    start their own; detections below threshold that no source takes are
    dropped. Distances are true great-circle distances (k-d tree of unit
    vectors); distance ties go to the higher DET_ML.

    Parameters
    ----------
    detections_by_band : dict
        ``band -> table`` (astropy Table or DataFrame) with ``ra, dec``
        (deg) and ``det_ml``.
    passing_by_band : dict
        ``band -> bool array`` (one flag per row, e.g.
        :func:`select_above_threshold`).
    radius_arcsec : float
        Merging radius (method.md §9: 30").
    band_order : sequence of str, optional
        Bands in instrument order (default: the order of
        ``detections_by_band``); sets the column and combination order.
    group : str, optional
        Column of integer group labels (e.g. ``"replica"``): detections of
        different groups are never merged, so the catalogues of many
        replicas are made in one call, each exactly as if alone.

    Returns
    -------
    MasterList
        Sources in order of creation (decreasing DET_ML of the best band).
    """
    bands = tuple(band_order) if band_order is not None else tuple(detections_by_band)
    missing = [b for b in bands if b not in detections_by_band or b not in passing_by_band]
    if missing:
        raise ValueError(f"merge_bands: no detections or passing flags for band(s) {missing}")
    chord = _chord(float(radius_arcsec))
    xyz, ml, passing, trees = {}, {}, {}, {}
    for b in bands:
        det = detections_by_band[b]
        xyz[b] = _unit_vectors(float_column(det, "ra", f"{b} detections"),
                               float_column(det, "dec", f"{b} detections"))
        if group is not None:       # groups far apart in a 4th coordinate (chords are <= 2)
            xyz[b] = np.column_stack([xyz[b], 4.0 * float_column(det, group, f"{b} detections")])
        ml[b] = float_column(det, "det_ml", f"{b} detections")
        passing[b] = np.asarray(passing_by_band[b], dtype=bool)
        if passing[b].shape != ml[b].shape:
            raise ValueError(f"merge_bands: band {b}: {passing[b].size} passing flags for "
                             f"{ml[b].size} detections")
        trees[b] = cKDTree(xyz[b]) if ml[b].size else None

    # Candidate seeds: all passing detections, by decreasing DET_ML.
    seed_band = np.concatenate([np.full(int(passing[b].sum()), k) for k, b in enumerate(bands)])
    seed_row = np.concatenate([np.flatnonzero(passing[b]) for b in bands]).astype(np.intp)
    seed_ml = np.concatenate([ml[b][passing[b]] for b in bands])
    order = np.lexsort((seed_row, seed_band, -seed_ml))
    seed_band, seed_row = seed_band[order], seed_row[order]
    dim = 3 if group is None else 4
    seed_xyz = (np.concatenate([xyz[b][passing[b]] for b in bands])[order]
                if seed_row.size else np.zeros((0, dim)))
    # Neighbours of every candidate seed in every band (one vectorised query per band),
    # as one CSR list ordered by (seed, band), with their squared chord distances.
    offsets = np.cumsum([0] + [ml[b].size for b in bands])
    seed_tree = cKDTree(seed_xyz) if seed_row.size else None
    pair_seed, pair_det, pair_d2 = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)], [np.zeros(0)]
    for k, b in enumerate(bands):
        if trees[b] is None or seed_tree is None:
            continue
        pairs = seed_tree.sparse_distance_matrix(trees[b], chord, output_type="ndarray")
        pair_seed.append(pairs["i"].astype(np.int64) * len(bands) + k)
        pair_det.append(pairs["j"].astype(np.int64) + offsets[k])
        pair_d2.append(pairs["v"] ** 2)
    pair_seed, pair_det, pair_d2 = (np.concatenate(v) for v in (pair_seed, pair_det, pair_d2))
    by_seed = np.argsort(pair_seed, kind="stable")
    indptr = np.searchsorted(pair_seed[by_seed], np.arange(seed_row.size * len(bands) + 1))
    all_ml = np.concatenate([ml[b] for b in bands]) if bands else np.zeros(0)
    src_seed, taken = _greedy_merge(
        seed_band.astype(np.int64), seed_row.astype(np.int64) + offsets[seed_band],
        indptr.astype(np.int64), pair_det[by_seed], pair_d2[by_seed], all_ml, len(bands))
    src_index = {b: np.where(taken[:, k] >= 0, taken[:, k] - offsets[k], -1)
                 for k, b in enumerate(bands)}

    index = {b: np.asarray(src_index[b], dtype=np.intp) for b in bands}
    pas = {b: np.where(index[b] >= 0, passing[b][np.clip(index[b], 0, None)]
                       if ml[b].size else False, False) for b in bands}
    best = np.array([bands[k] for k in seed_band[src_seed]], dtype=object)
    ra = np.empty(src_seed.size)
    dec = np.empty(src_seed.size)
    for k, b in enumerate(bands):
        sel = seed_band[src_seed] == k
        det = detections_by_band[b]
        rows = seed_row[src_seed[sel]]
        ra[sel] = float_column(det, "ra", f"{b} detections")[rows]
        dec[sel] = float_column(det, "dec", f"{b} detections")[rows]
    log.info("merged %s into %d sources (radius %g arcsec)",
             ", ".join(f"{b}: {int(passing[b].sum())}/{ml[b].size}" for b in bands),
             src_seed.size, radius_arcsec)
    return MasterList(bands=bands, ra=ra % 360.0, dec=dec, best_band=best, index=index,
                      passing=pas, radius_arcsec=float(radius_arcsec))
