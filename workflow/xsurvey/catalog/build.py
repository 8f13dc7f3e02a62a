"""Multi-band source catalogue (method.md §9).

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

Photometry of a source in a band (method.md §6):

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

import re
from collections.abc import Mapping

import numpy as np
import pandas as pd
from astropy.coordinates import SkyCoord
from astropy.io import fits
from astropy.table import Table

from xsurvey.calibrate.accuracy import sigma_from_det_ml
from xsurvey.catalog.band_photometry import (
    _aperture_from_meta,
    _band_photometry,
    band_columns,
    band_combination,
    forced_at_positions,
)
from xsurvey.catalog.columns import CATALOG_COLUMNS
from xsurvey.catalog.merge import MasterList, _meta_value, merge_bands, select_above_threshold
from xsurvey.catalog.names import iau_names
from xsurvey.catalog.reliability import catalog_p_spurious, spurious_probability
from xsurvey.detect.photometry import SIGMA_90, Aperture
from xsurvey.instrument.core import band_suffix
from xsurvey.io import WRITING_CARDS, atomic_path, with_product_cards
from xsurvey.plotting import no_data, save
from xsurvey.tables import write_csv


# --------------------------------------------------------------------------- catalogue
def build_catalog(master: MasterList, detections_by_band: Mapping, band_letters: Mapping,
                  forced_by_band: Mapping | None = None, apertures: Mapping | None = None,
                  reliability=None, prefix: str = "XS", sort_by: str | None = "ra",
                  ul_sigma: float = SIGMA_90, meta: Mapping | None = None) -> Table:
    """The master catalogue with per-band photometry or upper limits (method.md §9).

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
        ``band -> xsurvey.detect.Aperture`` (CF and EEF of the flux
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
    cols["pos_err_arcsec"] = np.full(n_src, np.nan)
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


def best_band_det_ml(catalog: Table) -> np.ndarray:
    """DET_ML of every catalogue source in its ``best_band`` (``det_ml_<band>`` columns)."""

    best = np.asarray(catalog["best_band"]).astype(str)
    out = np.full(best.size, np.nan)
    for band in np.unique(best):
        rows = best == band
        out[rows] = np.asarray(catalog[f"det_ml_{band_suffix(band)}"], float)[rows]
    return out


# --------------------------------------------------------------------------- output
def write_catalog(table: Table, fits_path=None, csv_path=None, extname: str = "CATALOG") -> None:
    """Write a catalogue as FITS and/or CSV, atomically, with units and descriptions.

    FITS: one binary-table extension ``extname``; TUNITn from the column
    units, and a TCOMMn card (the column description, the convention read
    by TOPCAT and fv) after each column's keywords. astropy's own column
    metadata block (COMMENT cards) is kept too, so ``Table.read`` restores
    units and descriptions. Metadata values may be ``(value, comment)``.

    Both carry the job's provenance cards (:func:`xsurvey.io.with_product_cards`);
    the CSV file leaves out the :data:`xsurvey.io.WRITING_CARDS` (date, digests) so
    that it stays byte-reproducible.

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
            Table(table, meta=with_product_cards(table.meta), copy=False).write(
                tmp, format="fits", overwrite=True)
            with fits.open(tmp, mode="update") as hdul:
                hdr = hdul[1].header
                hdr["EXTNAME"] = extname
                for i, name in enumerate(table.colnames, start=1):
                    desc = table[name].description
                    if not desc:
                        continue
                    after = f"TUNIT{i}" if f"TUNIT{i}" in hdr else f"TFORM{i}"
                    hdr.insert(after, (f"TCOMM{i}", str(desc)), after=True)
    if csv_path is not None:  # no writing date or digests: the same run, the same bytes
        t = table.copy(copy_data=False)
        t.meta = {k: _meta_value(v) for k, v in with_product_cards(table.meta).items()
                  if k not in WRITING_CARDS}
        with atomic_path(csv_path) as tmp:
            t.write(tmp, format="ascii.ecsv", delimiter=",", overwrite=True)


def make_catalog(detections_by_band: Mapping, maps_by_band: Mapping, wcs, thresholds,
                 reliability, instrument, level: float, prefix: str,
                 meta: Mapping | None = None, positions=None) -> Table:
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
    positions : pandas.DataFrame, optional
        Positional accuracy by DET_ML (``positions_det_ml.csv``,
        :func:`xsurvey.calibrate.positional_accuracy_by_det_ml`): gives ``pos_err_arcsec``
        (NaN without it, or for a best band the table lacks).
    """
    bands = list(detections_by_band)
    passing = {b: select_above_threshold(detections_by_band[b], thresholds, level, band=b)
               for b in bands}
    master = merge_bands(detections_by_band, passing, instrument.match_radius_arcsec, bands)
    apertures = {b: Aperture.from_instrument(instrument, b) for b in bands}
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
    if positions is not None and len(cat):
        cat["pos_err_arcsec"][:] = sigma_from_det_ml(cat["best_band"], best_band_det_ml(cat),
                                                     positions, missing="nan")
    return cat


#: Columns of :func:`epoch_only_sources`.
EPOCH_ONLY_COLUMNS = ["epoch", "name", "ra", "dec", "best_band", "band_combination"]


def epoch_only_sources(epoch_catalog: Table, stack_catalog: Table, radius_arcsec: float,
                       epoch: str) -> pd.DataFrame:
    """Sources of an epoch's catalogue with no stack-catalogue source within the radius.

    A source above the stack's thresholds in one epoch but absent from the stack catalogue
    is a transient or a strongly variable source (or a spurious one: the epoch catalogue
    has the reliability of the stack's thresholds at the epoch's shallower exposure).

    Parameters
    ----------
    epoch_catalog, stack_catalog : astropy.table.Table
        :func:`make_catalog` outputs (``ra, dec`` in deg).
    radius_arcsec : float
        Match radius, arcsec.
    epoch : str
        Epoch name (``epoch`` column).

    Returns
    -------
    pandas.DataFrame
        :data:`EPOCH_ONLY_COLUMNS`, one row per epoch-only source.
    """
    cat = epoch_catalog
    if len(cat) and len(stack_catalog):
        _, sep, _ = SkyCoord(cat["ra"], cat["dec"], unit="deg").match_to_catalog_sky(
            SkyCoord(stack_catalog["ra"], stack_catalog["dec"], unit="deg"))
        new = sep.arcsec > radius_arcsec
    else:
        new = np.ones(len(cat), bool)
    t = cat[new]
    return pd.DataFrame({"epoch": np.full(len(t), epoch, dtype=object),
                         "name": np.asarray(t["name"]).astype(str),
                         "ra": np.asarray(t["ra"], float), "dec": np.asarray(t["dec"], float),
                         "best_band": np.asarray(t["best_band"]).astype(str),
                         "band_combination": np.asarray(t["band_combination"]).astype(str)},
                        columns=EPOCH_ONLY_COLUMNS)


def write_empty_products(paths, catalog: Table, reason: str) -> None:
    """Outputs of a stage that has no source to work on (e.g. an empty catalogue).

    PNG paths get a placeholder figure stating ``reason``, CSV paths an empty
    table and FITS paths the (empty) catalogue, so that the workflow completes
    and nothing looks like a result.
    """


    for path in map(str, paths):
        if path.endswith(".png"):
            save(no_data(reason), path)
        elif path.endswith(".csv"):
            write_csv(pd.DataFrame(), path)
        else:
            write_catalog(catalog, path)
