"""Multi-band source catalogue (METHOD §9).

From the per-band detection tables of one stack (:mod:`xsurvey.detect`) and
the DET_ML thresholds of the replicas (:mod:`xsurvey.calibrate`):

1. :func:`select_above_threshold` -- per band, the detections whose DET_ML
   reaches the threshold of their exposure interval at a reliability level.
2. :func:`merge_bands` -- the master list: detections passing in at least one
   band, merged across bands within a radius (greedy, by decreasing DET_ML).
3. :func:`forced_at_positions` -- aperture photometry at the master positions
   in bands without a detection (for the upper limits).
4. :func:`build_catalog` -- the master table: per band DET_ML, exposure,
   counts, raw and deblended background, net counts or their 90% upper
   limit, 1-sigma errors, count rate, aperture-corrected flux; IAU names
   (:func:`iau_names`), best band, band combination, spurious probability.
5. :func:`write_catalog` -- FITS (TUNITn, TCOMMn) and CSV (ECSV header with
   units and descriptions), atomically.
6. :func:`band_combination_table`, :func:`expected_spurious_in_catalog` --
   summaries.

Conventions
-----------
Band columns end with :func:`band_suffix` of the band (``"3-24"`` ->
``"3_24"``): ``det_ml_3_24``, ``flux_3_24``, ... Units: positions in deg,
exposures in ks, counts in ct, rates in ct/s, fluxes in erg cm^-2 s^-1
(aperture corrected: rate * CF / EEF). Detection tables may be astropy
Tables or pandas DataFrames with the :data:`xsurvey.detect.DETECTION_COLUMNS`
(``ra, dec, det_ml, det_ml_raw, exposure_ks, counts, bkg, bkg_deblended``
are used).

Photometry of a source in a band (METHOD §6):

* *detected above threshold*: the detection's N, B, B'; net S = N - B',
  1-sigma Gehrels errors on N, ``ul = False``;
* *detected below threshold*: the detection's N, B, B' and DET_ML; net =
  90% upper limit ``lambda_u(N; 1.645) - B`` (B not deblended), ``ul = True``;
* *undetected*: DET_ML = -99, N and B from forced photometry in the same
  aperture at the catalogue position, B' = NaN; net = the 90% upper limit,
  ``ul = True``.

Upper limits are floored at 0 (never a negative flux); their errors are
NaN. A detection above threshold with N <= B' (impossible for any sensible
threshold) would also be reported as an upper limit.
"""

from __future__ import annotations

import itertools
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
from astropy.io import fits
from astropy.table import Table
from numba import njit
from scipy.spatial import cKDTree

from xsurvey import calibrate, photometry
from xsurvey.instrument import band_suffix
from xsurvey.io import atomic_path

log = logging.getLogger(__name__)

__all__ = [
    "CATALOG_COLUMNS",
    "UNDETECTED_DET_ML",
    "MERGED_COLUMNS",
    "MasterList",
    "band_columns",
    "band_combination",
    "band_combination_table",
    "band_suffix",
    "build_catalog",
    "catalog_p_spurious",
    "expected_spurious_in_catalog",
    "forced_at_positions",
    "iau_names",
    "merge_bands",
    "merged_p_spurious",
    "merged_reliability",
    "merged_summary",
    "merged_thresholds",
    "poisson_two_sided",
    "replica_catalogues",
    "select_above_threshold",
    "stack_expected_counts",
    "spurious_probability",
    "write_catalog",
]

#: DET_ML reported in a band where the source is not detected.
UNDETECTED_DET_ML = -99.0
_FLUX_UNIT = "erg / (cm2 s)"

#: Source-level catalogue columns: name -> (unit, description).
CATALOG_COLUMNS = {
    "id": ("", "running number (catalogue order)"),
    "name": ("", "IAU name <PREFIX> JHHMMSS.s+DDMMSS (truncated position)"),
    "ra": ("deg", "right ascension (ICRS), from the band of highest DET_ML"),
    "dec": ("deg", "declination (ICRS), from the band of highest DET_ML"),
    "best_band": ("", "band (keV) of the position: highest DET_ML above threshold"),
    "band_combination": ("", "bands: capital letter = above threshold, lower case = "
                             "detected below threshold, in instrument band order"),
    "n_bands_passing": ("", "number of bands with DET_ML above the threshold"),
    "p_spurious": ("", "1 - reliability at DET_ML in the best band and exposure interval"),
}


# --------------------------------------------------------------------------- helpers
def _col(table, name: str, what: str) -> np.ndarray:
    try:
        return np.asarray(table[name], dtype=np.float64)
    except KeyError:
        cols = list(table.columns) if hasattr(table, "columns") else list(table.keys())
        raise ValueError(f"{what} lacks column {name!r} (found {', '.join(map(str, cols))})") \
            from None


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
    return calibrate.above_threshold(_col(detections, "det_ml", "detections"),
                                     _col(detections, "exposure_ks", "detections"),
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
    (METHOD §9). Passing detections absorbed by a brighter source do not
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
        Merging radius (METHOD §9: 30").
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
        xyz[b] = _unit_vectors(_col(det, "ra", f"{b} detections"),
                               _col(det, "dec", f"{b} detections"))
        if group is not None:       # groups far apart in a 4th coordinate (chords are <= 2)
            xyz[b] = np.column_stack([xyz[b], 4.0 * _col(det, group, f"{b} detections")])
        ml[b] = _col(det, "det_ml", f"{b} detections")
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
        ra[sel] = _col(det, "ra", f"{b} detections")[rows]
        dec[sel] = _col(det, "dec", f"{b} detections")[rows]
    log.info("merged %s into %d sources (radius %g arcsec)",
             ", ".join(f"{b}: {int(passing[b].sum())}/{ml[b].size}" for b in bands),
             src_seed.size, radius_arcsec)
    return MasterList(bands=bands, ra=ra % 360.0, dec=dec, best_band=best, index=index,
                      passing=pas, radius_arcsec=float(radius_arcsec))


# --------------------------------------------------------------------------- photometry
def forced_at_positions(ra, dec, counts_map, background_map, exposure_map, wcs,
                        aperture: photometry.Aperture) -> dict:
    """Aperture photometry at sky positions (upper limits of undetected bands).

    Parameters
    ----------
    ra, dec : array_like
        Positions, deg (e.g. ``MasterList.ra``, ``.dec``).
    counts_map, background_map : numpy.ndarray
        Counts and expected background counts per pixel of the band's stack
        mosaic (the maps the detection used).
    exposure_map : numpy.ndarray
        Exposure, s.
    wcs : astropy.wcs.WCS
        Celestial WCS of the maps.
    aperture : xsurvey.photometry.Aperture
        Radius (pixels), EEF and CF of the band.

    Returns
    -------
    dict of numpy.ndarray
        :func:`xsurvey.photometry.forced_photometry` columns (``x, y,
        exposure_ks, counts, bkg, net, ...``), one row per position.
    """
    x, y = wcs.wcs_world2pix(np.atleast_1d(np.asarray(ra, float)),
                             np.atleast_1d(np.asarray(dec, float)), 0)
    return photometry.forced_photometry(counts_map, background_map, exposure_map, x, y,
                                        aperture, as_table=False)


def band_columns(band: str, aperture: photometry.Aperture | None = None,
                 ul_sigma: float = photometry.SIGMA_90) -> dict:
    """Per-band catalogue columns: ``name -> (unit, description)``, in output order."""
    s, bk = band_suffix(band), f"{band} keV"
    conv = (f" (CF = {aperture.cf:.4g} erg/cm2/ct, EEF = {aperture.eef:.3f})"
            if aperture is not None else "")
    lim = f"Gehrels upper limit at S = {ul_sigma:g}"
    return {
        f"above_{s}": ("", f"{bk}: DET_ML at or above the threshold of its exposure interval"),
        f"det_ml_{s}": ("", f"{bk}: DET_ML = -ln P(N, B') deblended; -99 if undetected"),
        f"det_ml_raw_{s}": ("", f"{bk}: -ln P(N, B) raw background; -99 if undetected"),
        f"exposure_ks_{s}": ("ks", f"{bk}: exposure (FPMA+B) at the detection, or at the "
                                   "catalogue position if undetected"),
        f"counts_{s}": ("ct", f"{bk}: total counts N in the aperture"),
        f"bkg_{s}": ("ct", f"{bk}: background counts B in the aperture (not deblended)"),
        f"bkg_deblended_{s}": ("ct", f"{bk}: deblended background B' (NaN if undetected)"),
        f"net_{s}": ("ct", f"{bk}: net counts N - B'; if ul: {lim}, lambda_u(N) - B"),
        f"net_err_hi_{s}": ("ct", f"{bk}: 1-sigma upper error on net counts (NaN if ul)"),
        f"net_err_lo_{s}": ("ct", f"{bk}: 1-sigma lower error on net counts (NaN if ul)"),
        f"ul_{s}": ("", f"{bk}: net, rate and flux are upper limits"),
        f"rate_{s}": ("ct / s", f"{bk}: net count rate (upper limit if ul)"),
        f"rate_err_hi_{s}": ("ct / s", f"{bk}: 1-sigma upper error on the rate (NaN if ul)"),
        f"rate_err_lo_{s}": ("ct / s", f"{bk}: 1-sigma lower error on the rate (NaN if ul)"),
        f"flux_{s}": (_FLUX_UNIT, f"{bk}: aperture-corrected flux rate*CF/EEF{conv} "
                                  "(upper limit if ul)"),
        f"flux_err_hi_{s}": (_FLUX_UNIT, f"{bk}: 1-sigma upper error on the flux (NaN if ul)"),
        f"flux_err_lo_{s}": (_FLUX_UNIT, f"{bk}: 1-sigma lower error on the flux (NaN if ul)"),
        f"snr_{s}": ("", f"{bk}: S/N = (N - B') / sqrt(N + B') (NaN if ul)"),
    }


def _aperture_from_meta(det, band: str) -> photometry.Aperture:
    meta = getattr(det, "meta", None) or getattr(det, "attrs", {})
    try:
        cf, eef = float(_meta_value(meta["CF"])), float(_meta_value(meta["EEF"]))
    except KeyError:
        raise ValueError(f"band {band}: no aperture given and the detection table has no "
                         "CF/EEF metadata") from None
    # the radius is not needed for the flux conversion (META APERTURE is in arcsec)
    return photometry.Aperture(radius_pix=np.nan, eef=eef, cf=cf)


def _band_photometry(det, index, passing, forced, aperture, band, ul_sigma) -> dict:
    """Per-band catalogue arrays of one band (see the module docstring)."""
    n_src = index.size
    has = index >= 0
    rows = index[has]

    def from_det(name, fill):
        out = np.full(n_src, fill, dtype=np.float64)
        if rows.size:
            out[has] = _col(det, name, f"{band} detections")[rows]
        return out

    ml = from_det("det_ml", UNDETECTED_DET_ML)
    ml_raw = from_det("det_ml_raw", UNDETECTED_DET_ML)
    expo = from_det("exposure_ks", np.nan)
    n = from_det("counts", np.nan)
    b = from_det("bkg", np.nan)
    b_deb = from_det("bkg_deblended", np.nan)
    if (~has).any():
        if forced is None:
            raise ValueError(f"band {band}: {int((~has).sum())} sources are undetected; "
                             "forced photometry at the catalogue positions is needed")
        if _n_rows(forced) != n_src:
            raise ValueError(f"band {band}: forced photometry has {_n_rows(forced)} rows, "
                             f"the master list {n_src}")
        for arr, name in ((expo, "exposure_ks"), (n, "counts"), (b, "bkg")):
            arr[~has] = _col(forced, name, f"{band} forced photometry")[~has]

    t = expo * 1e3
    net_det = n - b_deb
    ul = ~(passing & has & (net_det > 0))
    hi, lo = photometry.net_errors(n)
    limit = photometry.net_upper_limit(n, b, ul_sigma)
    net = np.where(ul, limit, net_det)
    hi = np.where(ul, np.nan, hi)
    lo = np.where(ul, np.nan, lo)
    per_s = photometry.count_rate(1.0, t)
    to_flux = per_s * (aperture.cf / aperture.eef)
    s = band_suffix(band)
    return {
        f"above_{s}": passing & has,
        f"det_ml_{s}": ml,
        f"det_ml_raw_{s}": ml_raw,
        f"exposure_ks_{s}": expo,
        f"counts_{s}": n,
        f"bkg_{s}": b,
        f"bkg_deblended_{s}": b_deb,
        f"net_{s}": net,
        f"net_err_hi_{s}": hi,
        f"net_err_lo_{s}": lo,
        f"ul_{s}": ul,
        f"rate_{s}": net * per_s,
        f"rate_err_hi_{s}": hi * per_s,
        f"rate_err_lo_{s}": lo * per_s,
        f"flux_{s}": net * to_flux,
        f"flux_err_hi_{s}": hi * to_flux,
        f"flux_err_lo_{s}": lo * to_flux,
        f"snr_{s}": np.where(ul, np.nan, photometry.signal_to_noise(net_det, n, b_deb)),
    }


def band_combination(master: MasterList, band_letters: Mapping) -> np.ndarray:
    """Band-combination strings, e.g. ``'F+S+h'`` (METHOD §9).

    Per band in ``master.bands`` order: the band's letter in upper case if
    the source passes the threshold there, in lower case if it is detected
    below the threshold, absent if undetected; joined with ``'+'``.

    Parameters
    ----------
    master : MasterList
    band_letters : dict
        ``band -> letter`` (``Instrument.band(b).letter``).

    Returns
    -------
    numpy.ndarray of str
    """
    parts = []
    for b in master.bands:
        letter = str(band_letters[b])
        code = np.where(master.passing[b], letter.upper(),
                        np.where(master.detected(b), letter.lower(), ""))
        parts.append(code.astype(object))
    if not parts:
        return np.zeros(0, dtype=str)
    combos = ["+".join(p for p in row if p) for row in zip(*parts, strict=True)]
    return np.asarray(combos, dtype=str)


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


def _letters(j: int) -> str:
    """0 -> 'a', 25 -> 'z', 26 -> 'aa', ..."""
    out = ""
    j += 1
    while j:
        j, r = divmod(j - 1, 26)
        out = chr(ord("a") + r) + out
    return out


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
        r = calibrate.reliability_at(_col(catalog, f"det_ml_{s}", "catalogue")[sel],
                                     _col(catalog, f"exposure_ks_{s}", "catalogue")[sel],
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
        thr = calibrate.threshold_for_reliability(curves, [band_level])
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
    from scipy.optimize import isotonic_regression

    best = merged["best_band"].astype(str).to_numpy()
    single = merged["n_bands_passing"].to_numpy() <= 1
    det_ml = merged["det_ml"].to_numpy(float)
    spurious = ~merged["real"].to_numpy(bool)
    rows = []
    for band, one in itertools.product(dict.fromkeys(best), (True, False)):
        edges = _band_intervals(thresholds, band)
        k = calibrate.assign_interval(merged["exposure_ks"].to_numpy(float), edges)
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
        ml[sel] = _col(catalog, f"det_ml_{band_suffix(b)}", "catalogue")[sel]
        expo[sel] = _col(catalog, f"exposure_ks_{band_suffix(b)}", "catalogue")[sel]
    return merged_p_spurious(best, _col(catalog, "n_bands_passing", "catalogue"), ml, expo,
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
        return float(np.nansum(_col(catalog, "p_spurious", "catalogue")))
    return float(np.nansum(spurious_probability(catalog, reliability, kind=kind)))


# --------------------------------------------------------------------------- catalogue
def build_catalog(master: MasterList, detections_by_band: Mapping, band_letters: Mapping,
                  forced_by_band: Mapping | None = None, apertures: Mapping | None = None,
                  reliability=None, prefix: str = "XS", sort_by: str | None = "ra",
                  ul_sigma: float = photometry.SIGMA_90, meta: Mapping | None = None) -> Table:
    """The master catalogue with per-band photometry or upper limits (METHOD §9).

    Parameters
    ----------
    master : MasterList
        From :func:`merge_bands` (its ``bands`` set the column order).
    detections_by_band : dict
        ``band -> detection table`` (the same tables given to
        :func:`merge_bands`).
    band_letters : dict
        ``band -> letter`` for the band combinations (``Instrument.band(b).letter``).
    forced_by_band : dict, optional
        ``band -> dict/table`` with ``counts, bkg`` (ct) and ``exposure_ks``
        (ks), one row per master source, in master order
        (:func:`forced_at_positions`). Needed for every band where some
        source is undetected; only those rows are used.
    apertures : dict, optional
        ``band -> xsurvey.photometry.Aperture`` (CF and EEF of the flux
        conversion); default: the ``CF`` and ``EEF`` metadata of the
        detection tables.
    reliability : pandas.DataFrame or dict, optional
        Reliability curves for ``p_spurious`` (NaN when not given).
    prefix : str
        Name prefix (:func:`iau_names`).
    sort_by : {"ra", "det_ml", None}
        Row order: by name (default: truncated RA, then Dec; i.e. by RA), by
        decreasing best-band DET_ML, or the master order.
    ul_sigma : float
        Gehrels S of the upper limits (1.645: 90%).
    meta : dict, optional
        Extra table metadata (FITS header cards: keys of <= 8 characters;
        values or ``(value, comment)``), e.g. ``{"STACK": "all", "RELLEVEL": 0.95}``.

    Returns
    -------
    astropy.table.Table
        :data:`CATALOG_COLUMNS` then, per band, :func:`band_columns`; every
        column has a unit (where dimensioned) and a description.
    """
    bands = master.bands
    n_src = len(master)
    cols = {
        "ra": master.ra,
        "dec": master.dec,
        "best_band": master.best_band.astype(str),
        "band_combination": band_combination(master, band_letters),
        "n_bands_passing": np.sum([master.passing[b] for b in bands], axis=0,
                                  dtype=np.int16) if bands else np.zeros(n_src, np.int16),
    }
    spec = dict(CATALOG_COLUMNS)
    for b in bands:
        det = detections_by_band[b]
        ap = apertures[b] if apertures is not None else _aperture_from_meta(det, b)
        forced = forced_by_band.get(b) if forced_by_band is not None else None
        cols.update(_band_photometry(det, master.index[b], master.passing[b], forced, ap, b,
                                     ul_sigma))
        spec.update(band_columns(b, ap, ul_sigma))
    cols["name"] = iau_names(master.ra, master.dec, prefix) if n_src else np.zeros(0, str)

    if sort_by == "ra":
        order = np.argsort(cols["name"], kind="stable")    # truncated RA, then Dec
    elif sort_by == "det_ml":
        best_ml = np.array([cols[f"det_ml_{band_suffix(b)}"][i]
                            for i, b in enumerate(master.best_band)], dtype=float)
        order = np.argsort(-best_ml, kind="stable")
    elif sort_by is None:
        order = np.arange(n_src)
    else:
        raise ValueError(f"build_catalog: sort_by must be 'ra', 'det_ml' or None, got {sort_by!r}")
    cols = {k: np.asarray(v)[order] for k, v in cols.items()}
    cols["id"] = np.arange(1, n_src + 1, dtype=np.int32)
    cols["p_spurious"] = np.full(n_src, np.nan)
    tab = Table()
    for name, (unit, desc) in spec.items():
        tab[name] = cols[name]
        tab[name].unit = unit or None
        tab[name].description = desc
    if reliability is not None and n_src:
        tab["p_spurious"][:] = spurious_probability(tab, reliability, bands)
    tab.meta.update({
        "BANDS": (",".join(bands), "bands of the per-band columns (keV)"),
        "MERGERAD": (master.radius_arcsec, "band merging radius, arcsec"),
        "ULSIGMA": (float(ul_sigma), "Gehrels S of the upper limits (1.645 = 90%)"),
        "NSRC": (n_src, "number of sources"),
    })
    if meta:
        tab.meta.update(meta)
    return tab


def band_combination_table(catalog, band_letters=None) -> pd.DataFrame:
    """Number and percentage of sources per band combination.

    Parameters
    ----------
    catalog : astropy.table.Table or pandas.DataFrame
        Column ``band_combination``.
    band_letters : str or sequence or dict, optional
        The band letters in instrument order (e.g. ``"FSHMU"``, or
        ``band -> letter``). Ties in number are ordered by the letters' order
        (upper before lower case); without it, alphabetically.

    Returns
    -------
    pandas.DataFrame
        ``band_combination, n, percent`` sorted by decreasing ``n``; the
        percentages are of all catalogue sources.
    """
    combos = pd.Series(np.asarray(catalog["band_combination"]).astype(str))
    counts = combos.value_counts(sort=False)
    total = int(combos.size)
    out = pd.DataFrame({"band_combination": counts.index.astype(str),
                        "n": counts.to_numpy(np.int64)})
    if band_letters is not None:
        letters = list(band_letters.values()) if isinstance(band_letters, Mapping) \
            else list(band_letters)
        rank = {c: i for i, c in enumerate([x.upper() for x in letters]
                                           + [x.lower() for x in letters])}

        def key(combo):
            return tuple(rank.get(p, len(rank)) for p in combo.split("+"))

        tie = out["band_combination"].map(key)
    else:
        tie = out["band_combination"]
    out = out.assign(_tie=tie).sort_values(["n", "_tie"], ascending=[False, True],
                                           kind="stable").drop(columns="_tie")
    out["percent"] = 100.0 * out["n"] / total if total else np.nan
    return out.reset_index(drop=True)


# --------------------------------------------------------------------------- output
def write_catalog(table: Table, fits_path=None, csv_path=None, extname: str = "CATALOG") -> None:
    """Write a catalogue as FITS and/or CSV, atomically, with units and descriptions.

    FITS: one binary-table extension ``extname``; TUNITn from the column
    units, and a TCOMMn card (the column description, the convention read
    by TOPCAT and fv) after each column's keywords. astropy's own column
    metadata block (COMMENT cards) is kept too, so ``Table.read`` restores
    units and descriptions. Metadata values may be ``(value, comment)``.

    CSV: the ECSV 1.0 format with a comma delimiter: a ``#`` comment block
    (YAML) giving each column's unit, type and description and the table
    metadata, then a plain CSV header row and the data.
    ``Table.read(path, format="ascii.ecsv")`` restores units and
    descriptions; ``pandas.read_csv(path, comment="#")`` reads the data.

    Parameters
    ----------
    table : astropy.table.Table
        E.g. :func:`build_catalog` output.
    fits_path, csv_path : path-like, optional
        Destinations (either may be omitted).
    extname : str
        Name of the FITS table extension.
    """
    # column cards of a catalogue read back from FITS are rewritten, not kept in meta
    table = table.copy(copy_data=False)
    table.meta = {k: v for k, v in table.meta.items()
                  if not re.fullmatch(r"T(COMM|UNIT|TYPE|FORM|DISP|NULL)\d+", str(k))}
    if fits_path is not None:
        with atomic_path(fits_path) as tmp:
            table.write(tmp, format="fits", overwrite=True)
            with fits.open(tmp, mode="update") as hdul:
                hdr = hdul[1].header
                hdr["EXTNAME"] = extname
                for i, name in enumerate(table.colnames, start=1):
                    desc = table[name].description
                    if not desc:
                        continue
                    after = f"TUNIT{i}" if f"TUNIT{i}" in hdr else f"TFORM{i}"
                    hdr.insert(after, (f"TCOMM{i}", str(desc)), after=True)
    if csv_path is not None:
        t = table.copy(copy_data=False)
        t.meta = {k: _meta_value(v) for k, v in table.meta.items()}
        with atomic_path(csv_path) as tmp:
            t.write(tmp, format="ascii.ecsv", delimiter=",", overwrite=True)


def make_catalog(detections_by_band: Mapping, maps_by_band: Mapping, wcs, thresholds,
                 reliability, instrument, level: float, prefix: str,
                 meta: Mapping | None = None) -> Table:
    """The reliability-``level`` master catalogue of one stack, end to end.

    Thresholds per band and exposure interval (:func:`select_above_threshold`),
    band merging within the instrument's match radius (:func:`merge_bands`),
    forced photometry for undetected bands (:func:`forced_at_positions`) and
    the catalogue columns (:func:`build_catalog`).

    Parameters
    ----------
    detections_by_band : dict
        ``band -> detection table`` of the stack (instrument band order).
    maps_by_band : dict
        ``band -> {"counts", "background", "exposure"}`` stack mosaics.
    wcs : astropy.wcs.WCS
        Grid of the mosaics.
    thresholds : pandas.DataFrame
        Thresholds of the stack (all bands).
    reliability : pandas.DataFrame
        Spurious probabilities: the merged-catalogue table
        (:func:`merged_reliability`, ``merged_reliability.csv``; has
        ``best_band``), or per-band reliability curves (``reliability.csv``).
    instrument : xsurvey.instrument.Instrument
    level : float
        Reliability level (e.g. 0.95).
    prefix : str
        IAU name prefix.
    meta : dict, optional
        Extra header cards.
    """
    bands = list(detections_by_band)
    passing = {b: select_above_threshold(detections_by_band[b], thresholds, level, band=b)
               for b in bands}
    master = merge_bands(detections_by_band, passing, instrument.match_radius_arcsec, bands)
    apertures = {b: photometry.Aperture.from_instrument(instrument, b) for b in bands}
    forced = {b: forced_at_positions(master.ra, master.dec, maps_by_band[b]["counts"],
                                     maps_by_band[b]["background"], maps_by_band[b]["exposure"],
                                     wcs, apertures[b]) for b in bands}
    letters = {b: instrument.band(b).letter for b in bands}
    merged = reliability is not None and "best_band" in reliability.columns
    cat = build_catalog(master, detections_by_band, letters, forced, apertures,
                        None if merged else reliability, prefix,
                        meta={"RELLEVEL": (level, "reliability of the thresholds"),
                              **(meta or {})})
    if merged and len(cat):
        cat["p_spurious"][:] = catalog_p_spurious(cat, reliability, level)
        cat["p_spurious"].description = ("probability that the source is spurious: the "
                                         "replicas' merged catalogues at its best band, "
                                         "DET_ML and exposure interval")
    return cat


def truth_match(catalog: Table, detections_by_band: Mapping, truth: Table, wcs,
                radius_arcsec: float, expected_counts: Mapping | None = None, psf=None,
                aperture_arcsec: float = 20.0, rule: str = "flux",
                share: float = 0.25) -> dict:
    """Match catalogue sources to a known input list exactly as the replicas are matched.

    In every band all detections (not only the catalogue's) are matched
    one-to-one to the true sources (:func:`xsurvey.simulate.match_sources`
    with the replicas' rule): with ``rule="flux"`` a detection is real only
    when one true source within ``radius_arcsec`` gives at least ``share``
    of its net counts, from the true source's expected counts in the band
    (``expected_counts``) times the PSF fraction in the aperture. A
    catalogue source is true when the detection that gives its position
    (best band) is matched. This is the definition of "real" behind the
    calibration, so the number of unmatched sources compares with NSPUR.

    Parameters
    ----------
    catalog : astropy.table.Table
    detections_by_band : dict
        ``band -> detection table`` (``x, y, net``).
    truth : astropy.table.Table
        ``id, ra, dec, flux_<band>``.
    wcs : astropy.wcs.WCS
        Grid of the detections' pixel positions.
    radius_arcsec : float
        Match radius.
    expected_counts : dict, optional
        ``band -> array`` of each true source's expected total counts in the
        stack (needed by the ``flux`` rule).
    psf : xsurvey.psf.RadialPSF, optional
        For the aperture fraction (``flux`` rule).
    aperture_arcsec : float
        Photometry aperture radius.
    rule : {"flux", "position"}
    share : float

    Returns
    -------
    dict of numpy.ndarray
        ``matched`` (bool), ``truth_id`` (-1 if unmatched), ``separation_arcsec``,
        ``input_share`` (expected counts of the matched source in the
        aperture / net counts).
    """
    from .simulate import match_sources

    pix = abs(float(wcs.wcs.cdelt[0])) * 3600.0
    tx, ty = wcs.wcs_world2pix(np.asarray(truth["ra"], float), np.asarray(truth["dec"], float), 0)
    n = len(catalog)
    out = {"matched": np.zeros(n, bool), "truth_id": np.full(n, -1, np.int64),
           "separation_arcsec": np.full(n, np.nan), "input_share": np.full(n, np.nan)}
    best = np.asarray(catalog["best_band"]).astype(str)
    for band, det in detections_by_band.items():
        rows = np.flatnonzero(best == band)
        if rows.size == 0 or len(det) == 0:
            continue
        dx, dy = np.asarray(det["x"], float), np.asarray(det["y"], float)
        mu = (np.asarray(expected_counts[band], float) if expected_counts is not None
              else np.zeros(len(truth)))
        to_truth, sep, frac = match_sources(
            dx, dy, np.asarray(det["net"], float), tx, ty, mu,
            np.asarray(truth[f"flux_{band}"]), radius_arcsec / pix,
            lambda d: psf.aperture_fraction(np.asarray(d) * pix, aperture_arcsec), rule, share)
        # the catalogue position is that of its best-band detection
        cx, cy = wcs.wcs_world2pix(np.asarray(catalog["ra"])[rows],
                                   np.asarray(catalog["dec"])[rows], 0)
        nearest = np.argmin(np.hypot(dx[None, :] - cx[:, None], dy[None, :] - cy[:, None]),
                            axis=1)
        hit = to_truth[nearest]
        out["matched"][rows] = hit >= 0
        out["truth_id"][rows] = np.where(hit >= 0, np.asarray(truth["id"])[np.maximum(hit, 0)],
                                         -1)
        out["separation_arcsec"][rows] = sep[nearest] * pix
        out["input_share"][rows] = frac[nearest]
    return out


def poisson_two_sided(observed: int, expected: float) -> float:
    """Two-sided Poisson probability of a count at least as far from ``expected``.

    ``2 min(P(N <= observed), P(N >= observed))``, at most 1: the
    consistency of a spurious count with its expectation (NSPUR).
    """
    from scipy import stats

    observed, expected = int(observed), float(expected)
    if expected <= 0:
        return 1.0 if observed == 0 else 0.0
    return float(min(1.0, 2 * min(stats.poisson.cdf(observed, expected),
                                  stats.poisson.sf(observed - 1, expected))))


def stack_expected_counts(source_tables, truth: Table, bands) -> dict:
    """Expected counts of every true source in a stack, per band (demo truth).

    Parameters
    ----------
    source_tables : sequence of astropy.table.Table
        The demo's per-observation truth tables of the stack's observations
        (``id``, ``mu_<band>``: expected counts of the whole PSF in that
        observation, with its exposure, vignetting and epoch variability).
    truth : astropy.table.Table
        Truth list (``id``).
    bands : sequence of str

    Returns
    -------
    dict
        ``band -> array`` aligned with ``truth``.
    """
    ids = np.asarray(truth["id"], np.int64)
    order = np.argsort(ids)
    out = {b: np.zeros(ids.size) for b in bands}
    for t in source_tables:
        if len(t) == 0:
            continue
        rows = order[np.searchsorted(ids, np.asarray(t["id"], np.int64), sorter=order)]
        for b in bands:
            np.add.at(out[b], rows, np.asarray(t[f"mu_{b}"], float))
    return out


def write_empty_products(paths, catalog: Table, reason: str) -> None:
    """Outputs of a stage that has no source to work on (e.g. an empty catalogue).

    PNG paths get a placeholder figure stating ``reason``, CSV paths an empty
    table and FITS paths the (empty) catalogue, so that the workflow completes
    and nothing looks like a result.
    """
    import pandas as pd

    from . import figures
    from .calibrate import write_csv

    for path in map(str, paths):
        if path.endswith(".png"):
            figures.save(figures.no_data(reason), path)
        elif path.endswith(".csv"):
            write_csv(pd.DataFrame(), path)
        else:
            write_catalog(catalog, path)
