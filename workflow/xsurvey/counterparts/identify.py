"""Counterparts of the hard-X-ray sources (method.md §11).

Two steps, each a few small pure functions:

1. *Hard to soft X-ray* (XMM-Newton / Chandra source lists),
   :func:`associate_soft`: every soft source within
   ``radius = sqrt((n_sigma * sigma95)^2 + pos_err_soft^2 + sys^2)`` of a
   hard source is a candidate (``sigma95`` = Rayleigh scale of the hard
   positions above the 95% threshold, :func:`sigma_for_sources`). The
   *primary* candidate maximises ``f(r) / n(>= S)``, the positional
   likelihood over the density of soft sources at least as bright
   ("brighter and closer"); each candidate's chance probability is the
   P statistic of Downes et al. (1986) and each source's probability of at
   least one unrelated candidate follows from the soft catalogue's surface
   density (:func:`chance_probability`, :func:`surface_density`).
   Hard fluxes are converted to the soft band through the spectral model
   (:func:`band_flux_conversion`) to give the flux ratio of each pair.
2. *X-ray to optical / infrared*, :func:`likelihood_ratio_match`
   (Sutherland & Saunders 1992): the X-ray position is that of the primary
   soft counterpart, or the hard position when there is none
   (:func:`xray_positions`). n(m) from annuli around the X-ray sources
   (:func:`field_magnitude_density`), q(m) and Q from the excess of objects
   within the search radius (:func:`counterpart_magnitude_distribution`),
   ``LR = q(m) f(r) / n(m)`` (:func:`likelihood_ratio`), reliabilities
   ``R_j = LR_j / (sum_k LR_k + 1 - Q)``, sample reliability and
   completeness versus LR threshold and the threshold maximising their mean
   (:func:`reliability_completeness`), and a class per source
   (:func:`classify_sources`). Several catalogues are combined in priority
   order by :func:`combine_identifications`; :func:`identify` runs the lot
   and :func:`lr_summary` tabulates Q, LR_th, R, C and the classes.
3. *X-ray to optical flux ratio*, :func:`xo_ratio` (``log10 f_X + m/2.5 +
   C_band``, :func:`xo_constant`).

Ancillary catalogues are read with :func:`load_ancillary` (any format
astropy reads, columns mapped by configuration) into a *standard table*:
``id`` (str), ``ra``, ``dec`` (deg), ``pos_err`` (arcsec, 1-sigma per
coordinate), ``mag`` (optical kind) or ``flux`` (soft-X kind, erg cm^-2
s^-1), ``redshift`` (NaN when not given). Whether an X-ray source lies in a
catalogue's footprint is decided by :func:`coverage_mask`; sources outside
are flagged ``outside_coverage``, never ``unidentified``.

Conventions: positional errors are Gaussian 1-sigma errors *per coordinate*
(RA cos Dec and Dec), so that radial offsets are Rayleigh distributed with
that scale; a Rayleigh scale from the replicas is the same number. Angles in
arcsec unless named ``_deg``; fluxes erg cm^-2 s^-1; surface densities per
arcsec^2. Sky pairs come from :meth:`astropy.coordinates.SkyCoord.search_around_sky`;
only the likelihood-ratio bookkeeping (histograms, sums over candidates,
thresholds) is written here, vectorised with numpy.
"""

from __future__ import annotations

import numpy as np
from astropy.table import Table, hstack, vstack

from xsurvey.counterparts.coverage import coverage_mask
from xsurvey.counterparts.likelihood_ratio import likelihood_ratio_match, lr_summary
from xsurvey.counterparts.softx import (
    associate_soft,
    band_flux_conversion,
    sigma_for_sources,
    xray_positions,
)
from xsurvey.instrument.core import band_suffix
from xsurvey.io import InputError
from xsurvey.tables import float_column

# --------------------------------------------------------------------------- several catalogues
_CTP_FLOAT = ("ctp_ra", "ctp_dec", "ctp_sep_arcsec", "ctp_mag", "ctp_lr", "ctp_rel",
              "ctp_redshift")


#: Output columns of :func:`combine_identifications`: name -> (unit, description).
CTP_COLUMNS = {
    "ctp_catalog": ("", "ancillary catalogue of the counterpart ('' if none)"),
    "ctp_class": ("", "secure, ambiguous, unidentified or outside_coverage"),
    "ctp_id": ("", "counterpart id in ctp_catalog"),
    "ctp_ra": ("deg", "counterpart right ascension"),
    "ctp_dec": ("deg", "counterpart declination"),
    "ctp_sep_arcsec": ("arcsec", "X-ray to counterpart separation"),
    "ctp_mag": ("mag", "counterpart magnitude (catalogue's band)"),
    "ctp_lr": ("", "likelihood ratio (Sutherland & Saunders 1992)"),
    "ctp_rel": ("", "reliability R_j = LR_j / (sum_k LR_k + 1 - Q)"),
    "ctp_redshift": ("", "redshift from the counterpart catalogue (NaN if none)"),
    "ctp_n_candidates": ("", "candidates in ctp_catalog within the search radius"),
    "ctp_covered_by": ("", "catalogues whose footprint contains the source"),
}


def combine_identifications(results, prefer_secure: bool = True) -> Table:
    """One counterpart per X-ray source from several catalogues, in priority order.

    Catalogues are taken by increasing ``priority`` (then list order). With
    ``prefer_secure`` (default) a source takes the first catalogue where it is
    *secure*, else the first where it is *ambiguous*: a secure
    identification in a lower-priority catalogue beats an ambiguous one in a
    higher-priority catalogue. With ``prefer_secure=False`` it takes the
    first catalogue giving either class. Sources with no identification are
    ``unidentified`` when at least one catalogue covers them, otherwise
    ``outside_coverage``; their ``ctp_*`` values are empty/NaN.

    Parameters
    ----------
    results : list of LRResult
        Same X-ray sources, same order, in every result.
    prefer_secure : bool

    Returns
    -------
    astropy.table.Table
        ``id`` and :data:`CTP_COLUMNS` (units set).
    """
    if not results:
        raise ValueError("combine_identifications: no catalogue results")
    results = [r for _, r in sorted(enumerate(results), key=lambda t: (t[1].priority, t[0]))]
    ids = results[0].sources["id"]
    nx = len(ids)
    for r in results[1:]:
        if len(r.sources) != nx or np.any(np.asarray(r.sources["id"]) != np.asarray(ids)):
            raise ValueError(f"combine_identifications: catalogue {r.name!r} was matched with "
                             f"different X-ray sources")
    cls = np.stack([np.asarray(r.sources["ctp_class"]).astype(str) for r in results])
    chosen = np.full(nx, -1)
    passes = (("secure",), ("ambiguous",)) if prefer_secure else (("secure", "ambiguous"),)
    for wanted in passes:
        for k in range(len(results)):
            take = (chosen < 0) & np.isin(cls[k], wanted)
            chosen[take] = k
    covered = np.stack([np.asarray(r.sources["covered"], bool) for r in results])
    names = [r.name for r in results]
    out = Table()
    out["id"] = ids
    catalog = np.full(nx, "", dtype=object)
    klass = np.where(covered.any(axis=0), "unidentified", "outside_coverage").astype("<U16")
    ctp_id = np.full(nx, "", dtype=object)
    floats = {c: np.full(nx, np.nan) for c in _CTP_FLOAT}
    n_cand = np.zeros(nx, np.int32)
    for k, r in enumerate(results):
        take = chosen == k
        catalog[take] = r.name
        klass[take] = cls[k][take]
        ctp_id[take] = np.asarray(r.sources["ctp_id"]).astype(str)[take]
        for c in _CTP_FLOAT:
            floats[c][take] = np.asarray(r.sources[c], float)[take]
        n_cand[take] = np.asarray(r.sources["n_candidates"])[take]
    out["ctp_catalog"] = catalog.astype(str)
    out["ctp_class"] = klass
    out["ctp_id"] = ctp_id.astype(str)
    for c in _CTP_FLOAT:
        out[c] = floats[c]
    out["ctp_n_candidates"] = n_cand
    out["ctp_covered_by"] = [",".join(n for n, cv in zip(names, covered[:, s], strict=True) if cv)
                             for s in range(nx)] if nx else np.zeros(0, str)
    for c, (unit, desc) in CTP_COLUMNS.items():
        if unit:
            out[c].unit = unit
        out[c].description = desc
    return out


def identify(xray: Table, catalogs, coverages=None, prefer_secure: bool = True, **lr_kwargs):
    """Likelihood-ratio counterparts in several catalogues and the combined choice.

    Parameters
    ----------
    xray : astropy.table.Table
        ``id, ra, dec, pos_err`` (:func:`xray_positions`).
    catalogs : list of astropy.table.Table
        Standard optical tables (:func:`load_ancillary`; ``meta`` NAME,
        PRIORITY, optional FOOTPRINT).
    coverages : list of array_like of bool, optional
        Per catalogue; default :func:`coverage_mask` with the catalogue's
        ``meta['FOOTPRINT']``.
    prefer_secure : bool
        See :func:`combine_identifications`.
    **lr_kwargs
        Passed to :func:`likelihood_ratio_match`.

    Returns
    -------
    best : astropy.table.Table
        :func:`combine_identifications` output.
    candidates : astropy.table.Table
        All catalogues' candidates stacked.
    results : list of LRResult
        Per catalogue (n(m), q(m), curve, threshold, R, C).
    """
    coverages = coverages if coverages is not None else [None] * len(catalogs)
    if len(coverages) != len(catalogs):
        raise ValueError("identify: one coverage per catalogue expected")
    results = [likelihood_ratio_match(xray, cat, cov, **lr_kwargs)
               for cat, cov in zip(catalogs, coverages, strict=True)]
    best = combine_identifications(results, prefer_secure=prefer_secure)
    candidates = vstack([r.candidates for r in results], metadata_conflicts="silent") \
        if results else Table()
    return best, candidates, results


# --------------------------------------------------------------------------- X/O
def xo_ratio(flux, mag, c_band: float):
    """X-ray to optical flux ratio ``X/O = log10(f_X) + m / 2.5 + C_band``.

    Parameters
    ----------
    flux : array_like
        X-ray flux, erg cm^-2 s^-1 (non-positive -> NaN).
    mag : array_like
        Optical magnitude.
    c_band : float
        ``C = -log10(f_0 dlambda)`` of the filter (:func:`xo_constant`): the
        optical flux of a m = 0 source integrated over the filter. About 5.5
        for Cousins R (Hornschemeier et al. 2001) and 5.6 for SDSS i with
        AB magnitudes (f_0 = 1.95e-9 erg cm^-2 s^-1 A^-1 at 7480 A, width
        1300 A); the demo uses 5.6 (i band, 0.5-2 keV fluxes). The X-ray
        band is whatever ``flux`` is in.

    Returns
    -------
    numpy.ndarray
    """
    f = np.asarray(flux, float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(f > 0, np.log10(np.where(f > 0, f, 1.0)), np.nan) \
            + np.asarray(mag, float) / 2.5 + c_band


def xo_magnitude(flux, xo, c_band: float):
    """Magnitude on the locus of constant X/O: ``m = 2.5 (X/O - log10 f_X - C)``."""
    return 2.5 * (np.asarray(xo, float) - np.log10(np.asarray(flux, float)) - c_band)


def xo_constant(zero_point_flambda: float, width_angstrom: float) -> float:
    """``C_band = -log10(f_0 dlambda)`` from a filter's zero-point flux density and width.

    Parameters
    ----------
    zero_point_flambda : float
        Flux density of m = 0, erg cm^-2 s^-1 A^-1.
    width_angstrom : float
        Filter width, A.
    """
    return float(-np.log10(zero_point_flambda * width_angstrom))


def run_counterparts(catalog: Table, ancillaries, positions, instrument, cfg: dict) -> dict:
    """Hard -> soft -> optical/IR identification of a catalogue, end to end (method.md §11).

    Parameters
    ----------
    catalog : astropy.table.Table
        Master catalogue (:func:`xsurvey.catalog.build_catalog`).
    ancillaries : list of astropy.table.Table
        Loaded ancillary catalogues (:func:`load_ancillary`), any order; the
        highest-priority (lowest number) ``softx`` one is used for the soft
        association, all ``optical`` ones for the likelihood ratio.
    positions : pandas.DataFrame
        Calibration ``positions.csv`` (Rayleigh scales per band and subset).
    instrument : xsurvey.instrument.Instrument
    cfg : dict
        ``counterparts`` configuration (``sigma_subset, n_sigma, sys_arcsec,
        hard_band, search_radius_arcsec, annulus_arcsec, mag_bin,
        ratio_secure, prefer_secure, xo_constant``). ``sigma_subset:
        det_ml`` takes each source's scale from the catalogue's ``pos_err_arcsec``
        (its DET_ML in its best band, :func:`xsurvey.calibrate.sigma_from_det_ml`), any
        other value one scale per band.

    Returns
    -------
    dict
        ``soft_candidates, soft_primary, flux_conversion`` (soft / hard flux of
        the spectral model; all None without a soft catalogue),
        ``best, candidates, summary, results`` (per optical catalogue) and
        ``extended`` (the catalogue with the soft and optical columns and X/O).
    """


    by_priority = sorted(ancillaries, key=lambda t: t.meta.get("PRIORITY", 0))
    softs = [t for t in by_priority if t.meta.get("KIND") == "softx"]
    opticals = [t for t in by_priority if t.meta.get("KIND") == "optical"]
    xray = catalog["id", "ra", "dec"]
    best_band = np.asarray(catalog["best_band"]).astype(str)
    if cfg["sigma_subset"] == "det_ml":
        sigma = float_column(catalog, "pos_err_arcsec", "catalogue")
        if not np.all(np.isfinite(sigma) & (sigma > 0)):
            raise InputError(f"counterparts.sigma_subset is det_ml but {int(np.sum(~(sigma > 0)))}"
                             " catalogue source(s) have no positional error (pos_err_arcsec: "
                             "positions_det_ml.csv lacks their best band)")
    else:
        sigma = sigma_for_sources(best_band, positions, cfg["sigma_subset"])
    out = {"soft_candidates": None, "soft_primary": None, "flux_conversion": None}
    sfx = band_suffix(cfg["hard_band"])
    hard_flux = np.asarray(catalog[f"flux_{sfx}"], float)
    if softs:
        soft = softs[0]
        band = instrument.band(cfg["hard_band"])
        conv = band_flux_conversion((band.e_lo_kev, band.e_hi_kev),
                                    (soft.meta["E_MIN"], soft.meta["E_MAX"]),
                                    instrument.photon_index,
                                    nh_galactic_cm2=instrument.nh_galactic_cm2)
        out["flux_conversion"] = conv
        out["soft_candidates"], out["soft_primary"] = associate_soft(
            xray, soft, sigma, sys_arcsec=cfg["sys_arcsec"], n_sigma=cfg["n_sigma"],
            hard_flux=hard_flux, flux_conversion=conv,
            covered=coverage_mask(xray["ra"], xray["dec"], soft, soft.meta.get("FOOTPRINT")))
    positions_x = xray_positions(xray, out["soft_primary"], sigma,
                                 sys_hard_arcsec=cfg["sys_arcsec"],
                                 max_p_chance=cfg.get("max_p_chance"))
    best, candidates, results = identify(
        positions_x, opticals, prefer_secure=cfg["prefer_secure"],
        search_radius_arcsec=cfg["search_radius_arcsec"],
        annulus_arcsec=tuple(cfg["annulus_arcsec"]), mag_bin=cfg["mag_bin"],
        ratio_secure=cfg["ratio_secure"])
    extended = catalog.copy()
    if out["flux_conversion"] is not None:
        extended.meta["SOFTCONV"] = (float(out["flux_conversion"]),
                                     "soft / hard band flux of the population spectrum")
    if out["soft_primary"] is not None:
        extended = hstack([extended, out["soft_primary"][[c for c in out["soft_primary"].colnames
                                                           if c != "id"]]])
    extended = hstack([extended, best[[c for c in best.colnames if c != "id"]]])
    extended["xo"] = xo_ratio(hard_flux, np.asarray(best["ctp_mag"], float), cfg["xo_constant"])
    extended["xo"].description = (f"X/O = log10 f({cfg['hard_band']} keV) + m/2.5 + "
                                  f"{cfg['xo_constant']}")
    extended["redshift"] = np.asarray(best["ctp_redshift"], float)
    extended["redshift"].description = "redshift of the optical/IR counterpart (NaN if none)"
    out.update(best=best, candidates=candidates, results=results, summary=lr_summary(results),
               extended=extended)
    return out
