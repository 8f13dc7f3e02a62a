"""Reliability of the merged catalogue from the replicas' merged catalogues: thresholds
that hold the catalogue-level reliability, and each source's spurious probability
(method.md §7-8)."""

from __future__ import annotations

import itertools
import logging

import numpy as np
import pandas as pd
from scipy.optimize import isotonic_regression

from xsurvey.calibrate.intervals import assign_interval
from xsurvey.calibrate.reliability import (
    band_reliability,
    reliability_at,
    threshold_for_reliability,
)
from xsurvey.catalog.merge import _band_rows, merge_bands, select_above_threshold
from xsurvey.instrument.core import band_suffix
from xsurvey.tables import float_column

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- reliability
def spurious_probability(catalog, reliability, bands=None,
                         kind: str = "differential") -> np.ndarray:
    """Probability that each source is spurious: 1 - reliability in its best band.

    The reliability is that of the source's DET_ML in the curve of the
    exposure interval of its best-band detection
    (:func:`xsurvey.calibrate.reliability_at`).

    Parameters
    ----------
    catalog : astropy.table.Table or pandas.DataFrame
        Columns ``best_band``, ``det_ml_<sfx>`` and ``exposure_ks_<sfx>``.
    reliability : pandas.DataFrame or dict
        Reliability curves (:func:`xsurvey.calibrate.reliability_curve`):
        one table with a ``band`` column, or ``band -> table``.
    bands : sequence of str, optional
        Bands to consider (default: the distinct ``best_band`` values).
    kind : {"differential", "cumulative"}
        See :func:`xsurvey.calibrate.reliability_at`; the differential
        reliability (default) makes the sum an unbiased spurious count.

    Returns
    -------
    numpy.ndarray
        NaN where the reliability is unknown (outside all intervals).
    """
    best = np.asarray(catalog["best_band"]).astype(str)
    bands = list(dict.fromkeys(best)) if bands is None else list(bands)
    out = np.full(best.size, np.nan)
    for b in bands:
        sel = best == str(b)
        if not sel.any():
            continue
        s = band_suffix(b)
        r = reliability_at(float_column(catalog, f"det_ml_{s}", "catalogue")[sel],
                                     float_column(catalog, f"exposure_ks_{s}", "catalogue")[sel],
                                     _band_rows(reliability, b, "reliability curves"), kind)
        out[sel] = 1.0 - r
    return out


# --------------------------------------------------------------------------- merged reliability
#: Columns of :func:`replica_catalogues`.
MERGED_COLUMNS = ("replica", "best_band", "det_ml", "exposure_ks", "n_bands_passing", "real")


def replica_catalogues(detections: pd.DataFrame, thresholds: pd.DataFrame, level: float,
                       bands, radius_arcsec: float) -> pd.DataFrame:
    """The band-merged catalogue of every replica at one reliability level.

    Exactly the selection and merging of the real catalogue
    (:func:`select_above_threshold`, :func:`merge_bands`), run on all
    replicas at once (never merging across replicas). A merged source is
    real when the detection that gives its position (its best band) is
    matched to an input (:func:`xsurvey.simulate.match_sources`).

    Parameters
    ----------
    detections : pandas.DataFrame
        Replica detections of all bands (:data:`xsurvey.simulate.DETECTION_COLUMNS`).
    thresholds : pandas.DataFrame
        Per-band thresholds (``band, exp_lo_ks, exp_hi_ks, reliability,
        det_ml_threshold``) of the level.
    level : float
        Reliability level selected from ``thresholds``.
    bands : sequence of str
        Bands, instrument order.
    radius_arcsec : float
        Merging radius.

    Returns
    -------
    pandas.DataFrame
        :data:`MERGED_COLUMNS`: one row per merged source.
    """
    by_band, passing = {}, {}
    for b in bands:
        d = detections[detections["band"].astype(str).to_numpy() == b].reset_index(drop=True)
        by_band[b] = d
        passing[b] = select_above_threshold(d, thresholds, level, band=b)
    master = merge_bands(by_band, passing, radius_arcsec, bands, group="replica")
    n = len(master)
    out = {"replica": np.zeros(n, np.int64), "best_band": master.best_band.astype(str),
           "det_ml": np.zeros(n), "exposure_ks": np.zeros(n),
           "n_bands_passing": np.sum([master.passing[b] for b in bands], axis=0,
                                     dtype=np.int16) if n else np.zeros(0, np.int16),
           "real": np.zeros(n, bool)}
    for b in bands:
        sel = out["best_band"] == b
        rows = master.index[b][sel]
        d = by_band[b]
        out["replica"][sel] = d["replica"].to_numpy()[rows]
        out["det_ml"][sel] = d["det_ml"].to_numpy(float)[rows]
        out["exposure_ks"][sel] = d["exposure_ks"].to_numpy(float)[rows]
        out["real"][sel] = d["input_id"].to_numpy()[rows] >= 0
    return pd.DataFrame(out)


def merged_thresholds(detections: pd.DataFrame, curves: pd.DataFrame, level: float, bands,
                      radius_arcsec: float, raise_levels: bool = True, max_level: float = 0.9995,
                      iterations: int = 8, search_replicas: int = 800):
    """Per-band thresholds with which the replicas' merged catalogue reaches ``level``.

    The per-band thresholds of a common per-band reliability ``L' >= level``
    (:func:`xsurvey.calibrate.threshold_for_reliability` on each band's
    curve); ``L'`` is the smallest value (bisection in ``-log(1 - L')``)
    at which the fraction of real sources in the merged catalogues of all
    replicas (:func:`replica_catalogues`) is at least ``level``. Sources
    best in a sub-band are less reliable than a band's detections at the
    same DET_ML (a real source is rarely best in a sub-band), so ``L' =
    level`` alone leaves the merged catalogue below its nominal reliability.

    Parameters
    ----------
    detections : pandas.DataFrame
        Replica detections of all bands.
    curves : pandas.DataFrame
        Reliability curves of all bands (``band`` column).
    level : float
        Reliability wanted for the merged catalogue.
    bands : sequence of str
    radius_arcsec : float
        Merging radius.
    raise_levels : bool
        False: keep ``L' = level`` (per-band thresholds only) and report the
        merged reliability reached.
    max_level : float
        Largest per-band level tried.
    iterations : int
        Bisection steps.
    search_replicas : int
        The bisection merges the first this many replicas (the reliability
        of ~40 sources per replica to 0.002); the chosen thresholds are then
        applied to all.

    Returns
    -------
    thresholds : pandas.DataFrame
        Per band and interval: ``band, exp_lo_ks, exp_hi_ks, reliability``
        (= ``level``), ``band_reliability`` (L'), ``det_ml_threshold,
        n_detected, reliability_at_threshold, merged_reliability`` (reached).
    merged : pandas.DataFrame
        :func:`replica_catalogues` with these thresholds.
    """
    replicas = np.unique(detections["replica"].to_numpy())
    sample = detections[detections["replica"].to_numpy() < replicas[
        min(int(search_replicas), replicas.size) - 1] + 1] if replicas.size else detections

    def evaluate(band_level, dets=sample):
        thr = threshold_for_reliability(curves, [band_level])
        merged = replica_catalogues(dets, thr, band_level, bands, radius_arcsec)
        reached = float(merged["real"].mean()) if len(merged) else float("nan")
        return thr, merged, reached

    def ok(trial):          # an empty catalogue (no threshold reachable) counts as reached
        return not trial[2] < level

    band_level = level
    best = evaluate(level)
    log.info("merged catalogue at per-band reliability %.4g: reliability %.4f (%d sources in "
             "the first %d replicas)", level, best[2], len(best[1]),
             min(int(search_replicas), replicas.size))
    if raise_levels and not ok(best):
        lo, hi = -np.log10(1 - level), -np.log10(1 - max_level)
        band_level = max_level
        if not ok(evaluate(max_level)):
            log.warning("merged catalogue stays below reliability %.4g even with per-band "
                        "thresholds of reliability %.4g", level, max_level)
        else:
            for _ in range(int(iterations)):
                mid = 0.5 * (lo + hi)
                if ok(evaluate(1 - 10 ** -mid)):
                    hi, band_level = mid, 1 - 10 ** -mid
                else:
                    lo = mid
    best = evaluate(band_level, detections)
    log.info("merged catalogue at per-band reliability %.5g: reliability %.4f (%d sources in "
             "%d replicas)", band_level, best[2], len(best[1]), replicas.size)
    thr, merged, reached = best
    thr = thr.rename(columns={"reliability": "band_reliability"})
    thr.insert(list(thr.columns).index("band_reliability"), "reliability", float(level))
    thr["merged_reliability"] = reached
    return thr, merged


def catalogue_calibration(detections: pd.DataFrame, bands, levels, exposure_edges_ks,
                          n_intervals: int, floor_ks: float, radius_arcsec: float,
                          raise_levels: bool = True) -> dict:
    """Reliability curves and the catalogue thresholds of a stack from its replicas.

    Per band the reliability curve R(>= DET_ML) per exposure interval
    (:func:`xsurvey.calibrate.band_reliability`); then, per catalogue level, the per-band
    thresholds with which the replicas' merged catalogue reaches it
    (:func:`merged_thresholds`), and the spurious probability of a merged source
    (:func:`merged_reliability`).

    Parameters
    ----------
    detections : pandas.DataFrame
        Replica detections of all bands (``band`` column).
    bands : sequence of str
        Bands, in instrument order (the order of the output rows).
    levels : sequence of float
        Catalogue reliability levels, e.g. ``[0.95, 0.99]``.
    exposure_edges_ks, n_intervals, floor_ks
        Exposure intervals (ks) of the curves (:func:`xsurvey.calibrate.band_reliability`).
    radius_arcsec : float
        Band-merging radius, arcsec.
    raise_levels : bool
        Raise the per-band level until the merged catalogue reaches ``level``.

    Returns
    -------
    dict
        ``curves`` (band -> curve), ``reliability`` (all curves), ``thresholds`` (sorted
        by band, level and exposure interval), ``merged`` (the replicas' merged
        catalogues, ``reliability`` column = level), ``merged_reliability`` (spurious
        probability table).
    """
    by_band = {b: detections[detections["band"].to_numpy() == b].reset_index(drop=True)
               for b in bands}
    curves = {band: band_reliability(by_band[band], band, exposure_edges_ks, n_intervals,
                                     floor_ks, levels)[0] for band in bands}
    curve = pd.concat(curves.values(), ignore_index=True)
    thresholds, merged, spurious = [], [], []
    for level in levels:
        thr, m = merged_thresholds(detections, curve, level, bands, radius_arcsec,
                                   raise_levels)
        thresholds.append(thr)
        merged.append(m.assign(reliability=level))
        spurious.append(merged_reliability(m, thr, level))
    order = {b: i for i, b in enumerate(bands)}
    thr = pd.concat(thresholds, ignore_index=True)
    thr = thr.iloc[np.lexsort((thr["exp_lo_ks"], thr["reliability"],
                               thr["band"].map(order)))].reset_index(drop=True)
    return {"curves": curves, "reliability": curve, "thresholds": thr,
            "merged": pd.concat(merged, ignore_index=True),
            "merged_reliability": pd.concat(spurious, ignore_index=True)}


def _band_intervals(thresholds: pd.DataFrame, band: str) -> np.ndarray:
    """Exposure-interval edges (ks) of one band in a thresholds table."""
    t = thresholds[thresholds["band"].astype(str) == band]
    pairs = t[["exp_lo_ks", "exp_hi_ks"]].drop_duplicates().sort_values("exp_lo_ks").to_numpy(
        float)
    return np.append(pairs[:, 0], pairs[-1, 1]) if len(pairs) else np.zeros(0)


def merged_reliability(merged: pd.DataFrame, thresholds: pd.DataFrame, level: float,
                       min_per_bin: int = 200, max_bins: int = 30) -> pd.DataFrame:
    """Probability that a catalogue source is spurious, from the replicas' merged catalogues.

    Per best band, exposure interval (the band's intervals in
    ``thresholds``) and class -- sources passing the threshold in one band
    only, or in several -- the merged sources are binned in DET_ML of the
    best band (quantile bins of at least ``min_per_bin`` sources) and the
    spurious fraction of each bin is made non-increasing with DET_ML
    (weighted isotonic regression, ``scipy.optimize``). A source that passes
    in one band only is more often spurious than one of the same DET_ML that
    passes in several (a real source is usually seen in overlapping bands).

    Parameters
    ----------
    merged : pandas.DataFrame
        :func:`replica_catalogues` output of one level.
    thresholds : pandas.DataFrame
        Thresholds of the level (their ``band`` and intervals).
    level : float
        Reliability level (written to the ``reliability`` column).
    min_per_bin, max_bins : int
        DET_ML binning.

    Returns
    -------
    pandas.DataFrame
        ``reliability, best_band, single_band, exp_lo_ks, exp_hi_ks, det_ml_lo,
        det_ml_hi, n, n_spurious, p_spurious``; :func:`merged_p_spurious`
        extends the first and last bins of an interval to all DET_ML.
    """

    best = merged["best_band"].astype(str).to_numpy()
    single = merged["n_bands_passing"].to_numpy() <= 1
    det_ml = merged["det_ml"].to_numpy(float)
    spurious = ~merged["real"].to_numpy(bool)
    rows = []
    for band, one in itertools.product(dict.fromkeys(best), (True, False)):
        edges = _band_intervals(thresholds, band)
        k = assign_interval(merged["exposure_ks"].to_numpy(float), edges)
        for i in range(edges.size - 1):
            sel = (best == band) & (single == one) & (k == i)
            if not sel.any():
                continue
            ml, spur = det_ml[sel], spurious[sel]
            nbin = int(min(max_bins, max(1, ml.size // max(int(min_per_bin), 1))))
            cuts = np.unique(np.quantile(ml, np.linspace(0.0, 1.0, nbin + 1)))
            if cuts.size == 1:
                cuts = np.array([cuts[0], cuts[0]])
            b = np.clip(np.searchsorted(cuts, ml, side="right") - 1, 0, cuts.size - 2)
            n = np.bincount(b, minlength=cuts.size - 1)
            ns = np.bincount(b, weights=spur, minlength=cuts.size - 1)
            used = n > 0
            p = isotonic_regression(ns[used] / n[used], weights=n[used], increasing=False).x
            for lo, hi, nn, nsp, pp in zip(cuts[:-1][used], cuts[1:][used], n[used], ns[used],
                                           p, strict=True):
                rows.append((level, band, one, edges[i], edges[i + 1], lo, hi, int(nn),
                             int(nsp), float(pp)))
    return pd.DataFrame(rows, columns=["reliability", "best_band", "single_band", "exp_lo_ks",
                                       "exp_hi_ks", "det_ml_lo", "det_ml_hi", "n",
                                       "n_spurious", "p_spurious"])


def merged_p_spurious(best_band, n_bands_passing, det_ml, exposure_ks, table: pd.DataFrame,
                      level: float) -> np.ndarray:
    """Spurious probability of catalogue sources from :func:`merged_reliability`.

    The value of the DET_ML bin of the source's best band, class (passing
    in one band or several) and exposure interval, the first and last bins
    extended to all DET_ML. A source in an interval without merged replica
    sources of its kind takes the nearest interval below (or the first); a
    best band and class without any, the other class of the band; a band
    without any, the spurious fraction of its class over all bands.
    """
    t = table[np.isclose(table["reliability"].to_numpy(float), float(level), atol=1e-9)]
    best = np.asarray(best_band).astype(str)
    single = np.asarray(n_bands_passing) <= 1
    ml = np.asarray(det_ml, float)
    expo = np.asarray(exposure_ks, float)
    out = np.full(best.size, np.nan)
    t_single = t["single_band"].astype(bool).to_numpy()
    for (band, one), idx in pd.DataFrame({"b": best, "s": single}).groupby(
            ["b", "s"], sort=False).indices.items():
        g = t[(t["best_band"].astype(str).to_numpy() == band) & (t_single == one)]
        if g.empty:
            g = t[t["best_band"].astype(str).to_numpy() == band]
        if g.empty:     # no merged replica source of this best band: the class's fraction
            cls = t[t_single == one] if (t_single == one).any() else t
            out[idx] = cls["n_spurious"].sum() / max(cls["n"].sum(), 1)
            continue
        lows = np.unique(g["exp_lo_ks"].to_numpy(float))
        # interval of each source: the last one starting at or below its exposure
        k = np.clip(np.searchsorted(lows, expo[idx], side="right") - 1, 0, lows.size - 1)
        for i, lo in enumerate(lows):
            rows = g[g["exp_lo_ks"].to_numpy(float) == lo]
            mine = idx[k == i]
            j = np.searchsorted(rows["det_ml_hi"].to_numpy(float), ml[mine], side="left")
            out[mine] = rows["p_spurious"].to_numpy(float)[np.minimum(j, len(rows) - 1)]
    return out


def catalog_p_spurious(catalog, table: pd.DataFrame, level: float) -> np.ndarray:
    """:func:`merged_p_spurious` of catalogue sources (their best band's DET_ML and exposure)."""
    best = np.asarray(catalog["best_band"]).astype(str)
    ml = np.full(best.size, np.nan)
    expo = np.full(best.size, np.nan)
    for b in dict.fromkeys(best):
        sel = best == b
        ml[sel] = float_column(catalog, f"det_ml_{band_suffix(b)}", "catalogue")[sel]
        expo[sel] = float_column(catalog, f"exposure_ks_{band_suffix(b)}", "catalogue")[sel]
    return merged_p_spurious(best, float_column(catalog, "n_bands_passing", "catalogue"), ml, expo,
                             table, level)


def merged_summary(merged: pd.DataFrame, n_replicas: int,
                   spurious_table: pd.DataFrame | None = None) -> pd.DataFrame:
    """Numbers per replica of the merged catalogues: overall, by best band, by bands passing.

    With the :func:`merged_reliability` table, ``expected_spurious`` is the
    sum of the sources' spurious probabilities: where it matches
    ``n_spurious`` within a group (e.g. sources passing in one band only),
    the variable of that group adds nothing to (best band, DET_ML,
    exposure interval).

    Parameters
    ----------
    merged : pandas.DataFrame
        :func:`replica_catalogues` rows of all levels with a ``reliability`` column.
    n_replicas : int
    spurious_table : pandas.DataFrame, optional
        :func:`merged_reliability` of all levels.

    Returns
    -------
    pandas.DataFrame
        ``reliability, group, value, n_sources, n_spurious, expected_spurious,
        merged_reliability`` (numbers per replica; group ``all``,
        ``best_band`` or ``n_bands_passing``).
    """
    rows = []
    for level, m in merged.groupby("reliability", sort=True):
        spur = ~m["real"].to_numpy(bool)
        expected = (merged_p_spurious(m["best_band"], m["n_bands_passing"], m["det_ml"],
                                      m["exposure_ks"], spurious_table, level)
                    if spurious_table is not None else np.full(len(m), np.nan))
        groups = [("all", np.full(len(m), "all"))]
        groups += [(c, m[c].astype(str).to_numpy()) for c in ("best_band", "n_bands_passing")]
        for name, labels in groups:
            for value in dict.fromkeys(labels):
                sel = labels == value
                rows.append((level, name, value, sel.sum() / n_replicas,
                             spur[sel].sum() / n_replicas,
                             np.nansum(expected[sel]) / n_replicas, 1.0 - spur[sel].mean()))
    return pd.DataFrame(rows, columns=["reliability", "group", "value", "n_sources",
                                       "n_spurious", "expected_spurious",
                                       "merged_reliability"])


def expected_spurious_in_catalog(catalog, reliability, kind: str = "differential") -> float:
    """Expected number of spurious sources: sum over sources of (1 - reliability).

    Each source contributes 1 - R at its DET_ML in its best band and
    exposure interval (:func:`spurious_probability`); sources of unknown
    reliability contribute nothing. Uses the ``p_spurious`` column when the
    catalogue has it and ``reliability`` is None.

    Parameters
    ----------
    catalog : astropy.table.Table or pandas.DataFrame
    reliability : pandas.DataFrame or dict or None
        Reliability curves (see :func:`spurious_probability`).
    kind : {"differential", "cumulative"}

    Returns
    -------
    float
    """
    if reliability is None:
        return float(np.nansum(float_column(catalog, "p_spurious", "catalogue")))
    return float(np.nansum(spurious_probability(catalog, reliability, kind=kind)))
