"""Optical/IR counterparts by likelihood ratio: n(m), q(m), LR, reliability and
completeness, classification (method.md §10)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from astropy.table import Table
from scipy.ndimage import gaussian_filter1d

from xsurvey.counterparts.coverage import _require_overlap, coverage_mask
from xsurvey.counterparts.pairs import _pairs, _rank_in_groups
from xsurvey.io import InputError
from xsurvey.tables import as_float, float_column

log = logging.getLogger(__name__)


#: Identification classes, best first.
CLASSES = ("secure", "ambiguous", "unidentified", "outside_coverage")


# --------------------------------------------------------------------------- likelihood ratio
def magnitude_edges(mags, bin_width: float = 0.5) -> np.ndarray:
    """Bin edges (mag) covering ``mags`` on a grid of ``bin_width`` (multiples of it)."""
    m = np.asarray(mags, float)
    m = m[np.isfinite(m)]
    if m.size == 0:
        raise ValueError("magnitude_edges: no finite magnitude")
    lo = np.floor(m.min() / bin_width) * bin_width
    hi = np.ceil(m.max() / bin_width + 1e-9) * bin_width
    return np.arange(lo, hi + 0.5 * bin_width, bin_width)


def _bin_index(mags, edges) -> np.ndarray:
    """Bin of each magnitude (clipped to the end bins); -1 for NaN."""
    m = np.asarray(mags, float)
    idx = np.clip(np.searchsorted(edges, m, side="right") - 1, 0, edges.size - 2)
    return np.where(np.isfinite(m), idx, -1)


def field_magnitude_density(x_ra, x_dec, anc_ra, anc_dec, anc_mag, edges, r_in_arcsec,
                            r_out_arcsec):
    """Background surface density of ancillary objects per magnitude bin, n(m).

    Objects in annuli ``r_in_i < r <= r_out_i`` around the X-ray sources,
    histogrammed in magnitude and divided by the summed annulus area. The
    radii may differ per source (arrays); objects without a magnitude are
    not counted in any bin but are in ``n_all``.

    Parameters
    ----------
    x_ra, x_dec : array_like
        X-ray positions, deg.
    anc_ra, anc_dec, anc_mag : array_like
        Ancillary objects (deg, mag).
    edges : array_like
        Magnitude bin edges.
    r_in_arcsec, r_out_arcsec : float or array_like
        Annulus radii per X-ray source, arcsec.

    Returns
    -------
    counts : numpy.ndarray
        Objects per bin in all annuli.
    area_arcsec2 : float
        Summed annulus area.
    n_all : float
        Density of all objects (with or without magnitude), arcsec^-2.
    """
    nx = np.size(x_ra)
    r_in = np.broadcast_to(np.asarray(r_in_arcsec, float), (nx,))
    r_out = np.broadcast_to(np.asarray(r_out_arcsec, float), (nx,))
    i, j, sep = _pairs(x_ra, x_dec, anc_ra, anc_dec, float(r_out.max()) if nx else 0.0)
    sel = (sep > r_in[i]) & (sep <= r_out[i])
    b = _bin_index(np.asarray(anc_mag, float)[j[sel]], np.asarray(edges, float))
    counts = np.bincount(b[b >= 0], minlength=len(edges) - 1).astype(float)
    area = float(np.sum(np.pi * (r_out**2 - r_in**2)))
    return counts, area, (float(np.count_nonzero(sel)) / area if area > 0 else np.nan)


def _density_per_bin(counts, area_arcsec2: float) -> np.ndarray:
    """n(m) per bin (arcsec^-2), empty bins counted as half an object.

    Not smoothed: the annuli hold ~35 times the search area, so n(m) is
    well measured wherever it matters, and smoothing would bias it at the
    catalogue's limit (where the counts stop abruptly) and, for an
    exponential n(m), everywhere (by exp(a^2 s^2 / 2) in linear smoothing).
    """
    if not area_arcsec2 > 0:
        raise ValueError("n(m): the background annuli have no area")
    return np.maximum(np.asarray(counts, float), 0.5) / area_arcsec2


def counterpart_magnitude_distribution(total, background, completeness, q_total=None,
                                       smooth_bins: float = 1.0):
    """q(m) and Q from the excess of objects near the X-ray sources.

    ``excess(m) = total(m) - background(m)`` (both smoothed with a Gaussian
    of ``smooth_bins`` bins, then the excess clipped at 0). ``Q`` -- the
    fraction of X-ray sources whose counterpart is in the catalogue -- is
    ``(sum(total) - sum(background)) / sum_i c_i`` (before clipping, which
    would bias it up) with ``c_i`` the fraction of source i's
    counterparts expected inside the search radius (so Q is corrected for
    counterparts falling outside it), clipped to [0, 1], unless ``q_total``
    is given. ``q(m) = Q excess(m) / sum(excess)``.

    Parameters
    ----------
    total : array_like
        Objects per magnitude bin within the search radius of the sources.
    background : array_like
        Expected unrelated objects per bin in the same area, ``n(m) * area``.
    completeness : array_like
        ``c_i = 1 - exp(-r_s^2 / 2 sigma_i^2)`` of each source used.
    q_total : float, optional
        Fixed Q instead of the estimate.
    smooth_bins : float
        Gaussian smoothing (bins); 0 disables it.

    Returns
    -------
    q : numpy.ndarray
        Per bin (dimensionless, sums to Q).
    q_est : float
        The estimated Q (before any override), clipped to [0, 1].
    excess : numpy.ndarray
        Smoothed, clipped excess per bin.
    """
    total = np.asarray(total, float)
    background = np.asarray(background, float)
    if smooth_bins > 0 and total.size > 1:
        total = gaussian_filter1d(total, smooth_bins, mode="reflect")
        background = gaussian_filter1d(background, smooth_bins, mode="reflect")
    excess = np.clip(total - background, 0.0, None)
    c = float(np.sum(completeness))
    # Q from the unclipped sums: clipping noise at faint magnitudes would bias it up
    q_est = float(np.clip((total.sum() - background.sum()) / c, 0.0, 1.0)) if c > 0 else 0.0
    q_use = q_est if q_total is None else float(q_total)
    if not 0.0 <= q_use <= 1.0:
        raise ValueError(f"q_total must be in [0, 1], got {q_total}")
    q = excess / excess.sum() * q_use if excess.sum() > 0 else np.zeros_like(excess)
    return q, q_est, excess


def likelihood_ratio(sep_arcsec, sigma_arcsec, q_bin, n_bin):
    """Sutherland & Saunders (1992) likelihood ratio ``LR = q(m) f(r) / n(m)``.

    ``f(r) = exp(-r^2 / 2 sigma^2) / (2 pi sigma^2)`` (arcsec^-2), the
    probability density of the offset of a true counterpart, with ``sigma``
    the per-coordinate error (X-ray and ancillary in quadrature). ``q`` is
    per magnitude bin (dimensionless) and ``n`` per bin per arcsec^2, so LR
    is dimensionless.

    Parameters
    ----------
    sep_arcsec, sigma_arcsec, q_bin, n_bin : array_like
    """
    s2 = np.asarray(sigma_arcsec, float) ** 2
    f = np.exp(-0.5 * np.asarray(sep_arcsec, float) ** 2 / s2) / (2.0 * np.pi * s2)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(np.asarray(n_bin) > 0, np.asarray(q_bin) * f / np.asarray(n_bin), 0.0)


def reliability_completeness(lr, reliability, n_xray: int):
    """Sample reliability and completeness versus LR threshold, and the best threshold.

    For a threshold t (candidates with ``LR >= t``): ``R(t) = sum R_j /
    N(LR >= t)`` and ``C(t) = sum R_j / N_X`` (method.md §11), sums over the
    candidates above t. The threshold is the candidate LR maximising
    ``(R + C) / 2`` (the largest such value on ties).

    Parameters
    ----------
    lr, reliability : array_like
        LR and R_j of all candidates (X-ray sources in coverage).
    n_xray : int
        Number of X-ray sources in coverage.

    Returns
    -------
    curve : astropy.table.Table
        ``lr_threshold, n_above, reliability, completeness, mean`` (one row per
        distinct LR value, decreasing threshold).
    lr_threshold : float
        ``inf`` when no candidate has LR > 0.
    """
    lr = np.asarray(lr, float)
    rel = np.asarray(reliability, float)
    pos = lr > 0
    lr, rel = lr[pos], rel[pos]
    order = np.argsort(-lr, kind="stable")
    lr, rel = lr[order], rel[order]
    cum = np.cumsum(rel)
    last = np.r_[lr[1:] != lr[:-1], True] if lr.size else np.zeros(0, bool)
    n_above = (np.arange(lr.size) + 1)[last]
    r = cum[last] / n_above
    c = cum[last] / n_xray if n_xray > 0 else np.zeros(n_above.size)
    curve = Table({"lr_threshold": lr[last], "n_above": n_above, "reliability": r,
                   "completeness": c, "mean": 0.5 * (r + c)})
    if not n_above.size:
        return curve, float("inf")
    k = int(np.argmax(curve["mean"]))
    return curve, float(curve["lr_threshold"][k])


def classify_sources(cand_source, lr, n_xray: int, lr_threshold: float, covered,
                     ratio_secure: float = 4.0):
    """Identification class of each X-ray source.

    ``secure``: exactly one candidate with ``LR >= LR_th``, or the best
    (``>= LR_th``) exceeds ``ratio_secure`` times the second best;
    ``ambiguous``: several candidates above the threshold and the best within
    that factor of the second; ``unidentified``: none above; and
    ``outside_coverage`` for sources not covered (whatever their candidates).

    Parameters
    ----------
    cand_source : array_like of int
        Row of the X-ray source of each candidate.
    lr : array_like
        LR of each candidate.
    n_xray : int
    lr_threshold : float
    covered : array_like of bool
    ratio_secure : float

    Returns
    -------
    cls : numpy.ndarray of str
    best : numpy.ndarray of int
        Candidate index of the highest LR per source (-1 if none).
    n_above : numpy.ndarray of int
    """
    src = np.asarray(cand_source, np.int64)
    lr = np.asarray(lr, float)
    order = np.lexsort((-lr, src))
    s_sorted, lr_sorted = src[order], lr[order]
    first = np.r_[True, s_sorted[1:] != s_sorted[:-1]] if src.size else np.zeros(0, bool)
    best = np.full(n_xray, -1, np.int64)
    best[s_sorted[first]] = order[first]
    second_lr = np.zeros(n_xray)
    pos_first = np.flatnonzero(first)
    has_second = (pos_first + 1 < src.size)
    has_second[has_second] = s_sorted[pos_first[has_second] + 1] == s_sorted[pos_first[has_second]]
    second_lr[s_sorted[pos_first[has_second]]] = lr_sorted[pos_first[has_second] + 1]
    best_lr = np.zeros(n_xray)
    best_lr[best >= 0] = lr[best[best >= 0]]
    n_above = np.bincount(src[lr >= lr_threshold], minlength=n_xray)
    dominant = best_lr > ratio_secure * second_lr
    cls = np.where(n_above == 0, "unidentified",
                   np.where((n_above == 1) | dominant, "secure", "ambiguous"))
    cls = np.where(np.asarray(covered, bool), cls, "outside_coverage")
    return cls.astype("<U16"), best, n_above


@dataclass
class LRResult:
    """Likelihood-ratio identifications against one ancillary catalogue.

    Attributes
    ----------
    name : str
        Catalogue name.
    priority : int
    sources : astropy.table.Table
        One row per X-ray source (input order): ``id, covered, n_candidates,
        n_above, ctp_class, ctp_id, ctp_ra, ctp_dec, ctp_sep_arcsec, ctp_mag,
        ctp_lr, ctp_rel, ctp_redshift, ctp_pos_err`` (best candidate; filled
        for every covered source with a candidate, whatever the class),
        ``xray_pos_err``.
    candidates : astropy.table.Table
        ``xray_id, catalog, ctp_id, ra, dec, sep_arcsec, sigma_arcsec, mag,
        lr, rel, rank, above_threshold``.
    magnitudes : astropy.table.Table
        Per magnitude bin: ``mag_lo, mag_hi, mag`` (mag), ``n_annulus``
        (objects in the annuli), ``n_arcsec2`` (n(m) per bin, arcsec^-2),
        ``n_arcsec2_mag`` (per mag), ``n_search`` (objects within the search
        radius of the q sources), ``background_search`` (expected there from
        n(m)), ``excess`` (smoothed, clipped), ``q`` (per bin, sums to Q),
        ``q_mag`` (per mag). ``meta``: CATALOG, Q, Q_EST, AREA_ANN (annulus
        area, arcsec^2), N_QSRC (sources used for q), C_SUM (their summed
        radial completeness), R_SEARCH (arcsec).
    curve : astropy.table.Table
        :func:`reliability_completeness` curve.
    lr_threshold, q_total, q_estimated, reliability, completeness : float
        Threshold, Q used, Q estimated, sample R and C at the threshold.
    n_xray, n_covered : int
    """

    name: str
    priority: int
    sources: Table
    candidates: Table
    magnitudes: Table
    curve: Table
    lr_threshold: float
    q_total: float
    q_estimated: float
    reliability: float
    completeness: float
    n_xray: int
    n_covered: int


def _lr_candidates(xra, xdec, xerr, cov, ara, adec, aerr, search_radius, n_sigma, sys_arcsec):
    """Pairs (X-ray row, ancillary row, separation, sigma) within max(search, n_sigma sigma)."""
    if cov.size == 0:
        e = np.zeros(0, np.int64)
        return e, e.copy(), np.zeros(0), np.zeros(0)
    sig_max = np.sqrt(xerr[cov].max() ** 2 + aerr.max() ** 2 + sys_arcsec**2)
    ii, j, sep = _pairs(xra[cov], xdec[cov], ara, adec, max(search_radius, n_sigma * sig_max))
    i = cov[ii]
    sigma = np.sqrt(xerr[i] ** 2 + aerr[j] ** 2 + sys_arcsec**2)
    keep = sep <= np.maximum(search_radius, n_sigma * sigma)
    return i[keep], j[keep], sep[keep], sigma[keep]


def _source_table(xray, covered, cls, n_above, i, j, best, columns) -> Table:
    """Per-source table of the best candidate (``best``: candidate index or -1)."""
    nx = len(xray)
    has = best >= 0
    cand = np.maximum(best, 0)
    src = Table()
    src["id"] = xray["id"]
    src["covered"] = covered
    src["n_candidates"] = np.bincount(i, minlength=nx).astype(np.int32)
    src["n_above"] = n_above.astype(np.int32)
    src["ctp_class"] = cls
    ctp_id = np.full(nx, "", dtype=object)
    if i.size:
        ctp_id[has] = columns["ctp_id"][0][j[cand[has]]]
    src["ctp_id"] = ctp_id.astype(str)
    for name, (values, per_candidate) in columns.items():
        if name == "ctp_id":
            continue
        out = np.full(nx, np.nan)
        if i.size:
            rows = cand[has] if per_candidate else j[cand[has]]
            out[has] = np.asarray(values, float)[rows]
        src[name] = out
    return src


#: Fewest X-ray sources from which q(m) and Q of a group are estimated.
_MIN_Q_SOURCES = 5


def likelihood_ratio_match(xray: Table, catalog: Table, covered=None, *,
                           search_radius_arcsec: float = 5.0,
                           annulus_arcsec=(5.0, 30.0), n_sigma: float = 3.0,
                           mag_bin: float = 0.5, mag_edges=None, smooth_bins: float = 1.0,
                           q_total: float | None = None, sys_arcsec: float = 0.0,
                           ratio_secure: float = 4.0, require_overlap: bool = True) -> LRResult:
    """Likelihood-ratio counterparts of X-ray sources in one ancillary catalogue.

    Steps (only X-ray sources inside the footprint take part):

    1. ``sigma_i = sqrt(pos_err_x^2 + pos_err_anc^2 + sys^2)`` per pair; the
       candidate radius of source i is ``max(search_radius, n_sigma
       sigma_i)`` (the 5" of method.md §11, larger for poorly localised sources).
    2. n(m): :func:`field_magnitude_density` in annuli from
       ``max(r_in, R_i)`` to that plus ``r_out - r_in``; empty bins count as
       half an object (not smoothed).
    3. q(m), Q: :func:`counterpart_magnitude_distribution` from the objects
       within ``search_radius`` of the well-localised sources
       (``sigma_i <= search_radius / 1.5``, i.e. >= 67% of their
       counterparts inside; all covered sources when fewer than 5 qualify).
       The poorly localised sources, when there are at least 5, get their
       own q(m) and Q from the objects within their candidate radii: they
       are the X-ray sources without a precise (e.g. soft X-ray) position,
       fainter or more obscured, and with more spurious detections among
       them, so the well-localised sources' Q and bright q(m) would
       overstate their reliabilities (on the demo 14 of 15 such "secure"
       identifications were wrong against 4.5 expected).
    4. LR of every candidate (:func:`likelihood_ratio`) with its source's
       group q(m); objects without a magnitude use the magnitude-blind
       ratio ``Q / n_all``.
    5. ``R_j = LR_j / (sum_k LR_k + 1 - Q)`` over the candidates of a source,
       the R/C curve and threshold (:func:`reliability_completeness`), the
       classes (:func:`classify_sources`).

    Parameters
    ----------
    xray : astropy.table.Table
        ``id, ra, dec`` (deg), ``pos_err`` (arcsec, per coordinate), e.g.
        from :func:`xray_positions`.
    catalog : astropy.table.Table
        Standard optical table (:func:`load_ancillary`), with ``mag``.
    covered : array_like of bool, optional
        Default: :func:`coverage_mask` with ``catalog.meta['FOOTPRINT']``
        (density footprint when absent).
    search_radius_arcsec : float
        Radius for q(m) and minimum candidate radius, arcsec.
    annulus_arcsec : (float, float)
        Inner and outer radius of the background annuli, arcsec.
    n_sigma : float
    mag_bin : float
        Bin width (mag) when ``mag_edges`` is not given.
    mag_edges : array_like, optional
    smooth_bins : float
        Gaussian smoothing of the histograms (bins).
    q_total : float, optional
        Fix Q instead of estimating it.
    sys_arcsec : float
    ratio_secure : float
    require_overlap : bool
        Raise :class:`InputError` when no X-ray source is covered.

    Returns
    -------
    LRResult
    """
    name = str(catalog.meta.get("NAME", "catalog"))
    if "mag" not in catalog.colnames:
        raise InputError(f"ancillary catalogue {name!r}: no 'mag' column (likelihood ratio "
                         f"needs magnitudes; load it as kind 'optical')")
    nx = len(xray)
    xra, xdec = as_float(xray["ra"]), as_float(xray["dec"])
    xerr = float_column(xray, "pos_err", "X-ray positions")
    if covered is None:
        covered = coverage_mask(xra, xdec, catalog, catalog.meta.get("FOOTPRINT"))
    covered = np.broadcast_to(np.asarray(covered, bool), (nx,)).copy()
    if require_overlap:
        _require_overlap(covered, catalog, xra, xdec)
    ara, adec = np.asarray(catalog["ra"], float), np.asarray(catalog["dec"], float)
    aerr, amag = np.asarray(catalog["pos_err"], float), np.asarray(catalog["mag"], float)
    med_aerr = float(np.median(aerr))  # for the per-source radii
    r_in, r_out = (float(v) for v in annulus_arcsec)
    sig_typ = np.sqrt(xerr**2 + med_aerr**2 + sys_arcsec**2)
    r_cand = np.maximum(search_radius_arcsec, n_sigma * sig_typ)
    cov = np.flatnonzero(covered)

    i, j, sep, sigma = _lr_candidates(xra, xdec, xerr, cov, ara, adec, aerr,
                                      search_radius_arcsec, n_sigma, sys_arcsec)

    # n(m)
    edges = magnitude_edges(amag, mag_bin) if mag_edges is None else np.asarray(mag_edges, float)
    a_in = np.maximum(r_in, r_cand[cov])
    counts, area, n_all = field_magnitude_density(xra[cov], xdec[cov], ara, adec, amag, edges,
                                                  a_in, a_in + (r_out - r_in))
    n_use = _density_per_bin(counts, area)

    # q(m), Q from well-localised sources; the poorly localised ones, if enough, on their own
    good = cov[sig_typ[cov] <= search_radius_arcsec / 1.5]
    qsrc = good if good.size >= _MIN_Q_SOURCES else cov
    poor = np.setdiff1d(cov, qsrc) if qsrc.size else qsrc
    if poor.size < _MIN_Q_SOURCES:
        poor = poor[:0]
    b = _bin_index(amag[j], edges)

    def group_q(sources, radius):
        """q(m), Q estimate, excess, total and background per bin, completeness sum."""
        near = np.isin(i, sources) & (sep <= radius[i])
        total = np.bincount(b[near][b[near] >= 0], minlength=edges.size - 1).astype(float)
        background = n_use * np.pi * np.sum(radius[sources] ** 2)
        completeness = -np.expm1(-0.5 * radius[sources] ** 2 / sig_typ[sources] ** 2)
        return (*counterpart_magnitude_distribution(total, background, completeness, q_total,
                                                    smooth_bins), total, background,
                float(completeness.sum()))

    q, q_est, excess, total, background, c_sum = group_q(qsrc,
                                                         np.full(nx, search_radius_arcsec))
    q_use = q_est if q_total is None else float(q_total)
    q_poor, q_est_poor = group_q(poor, r_cand)[:2] if poor.size else (q, q_est)
    q_use_poor = q_est_poor if q_total is None else float(q_total)
    group = np.isin(i, poor).astype(np.int64)           # 0: q(m) of qsrc, 1: of the poor
    q_grid, q_group = np.vstack([q, q_poor]), np.array([q_use, q_use_poor])

    # LR and reliabilities
    has_mag = b >= 0
    lr = np.empty(i.size)
    lr[has_mag] = likelihood_ratio(sep[has_mag], sigma[has_mag],
                                   q_grid[group[has_mag], b[has_mag]], n_use[b[has_mag]])
    lr[~has_mag] = likelihood_ratio(sep[~has_mag], sigma[~has_mag], q_group[group[~has_mag]],
                                    n_all)
    sum_lr = np.bincount(i, weights=lr, minlength=nx)
    rel = lr / (sum_lr[i] + (1.0 - q_group[group])) if i.size else np.zeros(0)
    rel = np.nan_to_num(rel, nan=0.0)
    curve, lr_th = reliability_completeness(lr, rel, int(cov.size))
    cls, best, n_above = classify_sources(i, lr, nx, lr_th, covered, ratio_secure)
    above = lr >= lr_th
    r_at = float(rel[above].sum() / max(np.count_nonzero(above), 1))
    c_at = float(rel[above].sum() / cov.size) if cov.size else 0.0

    rank = _rank_in_groups(i, np.lexsort((sep, -lr, i)))

    ids = np.asarray(catalog["id"]).astype(str)
    z = np.asarray(catalog["redshift"], float) if "redshift" in catalog.colnames \
        else np.full(len(catalog), np.nan)
    cand = Table()
    cand["xray_id"] = np.asarray(xray["id"])[i]
    cand["catalog"] = np.full(i.size, name, dtype=f"<U{max(len(name), 1)}")
    cand["ctp_id"] = ids[j]
    cand["ra"], cand["dec"] = ara[j], adec[j]
    cand["sep_arcsec"], cand["sigma_arcsec"] = sep, sigma
    cand["mag"] = amag[j]
    cand["lr"], cand["rel"] = lr, rel
    cand["rank"] = rank
    cand["above_threshold"] = above
    cand = cand[np.lexsort((rank, i))]  # by X-ray source (input order), then rank

    src = _source_table(xray, covered, cls, n_above, i, j, best, {
        "ctp_id": (ids, False),
        "ctp_ra": (ara, False), "ctp_dec": (adec, False), "ctp_sep_arcsec": (sep, True),
        "ctp_mag": (amag, False), "ctp_lr": (lr, True), "ctp_rel": (rel, True),
        "ctp_redshift": (z, False), "ctp_pos_err": (aerr, False)})
    src["xray_pos_err"] = xerr

    mags = Table()
    mags["mag_lo"], mags["mag_hi"] = edges[:-1], edges[1:]
    mags["mag"] = 0.5 * (edges[:-1] + edges[1:])
    width = np.diff(edges)
    mags["n_annulus"] = counts
    mags["n_arcsec2"] = n_use
    mags["n_arcsec2_mag"] = n_use / width
    mags["n_search"] = total
    mags["background_search"] = background
    mags["excess"] = excess
    mags["q"] = q
    mags["q_mag"] = q / width
    mags["q_poor"] = q_poor
    mags.meta.update({"CATALOG": name, "Q": q_use, "Q_EST": q_est, "AREA_ANN": area,
                      "N_QSRC": int(qsrc.size), "C_SUM": c_sum, "N_POOR": int(poor.size),
                      "Q_POOR": q_use_poor, "R_SEARCH": search_radius_arcsec})
    log.info("%s: %d/%d X-ray sources covered, Q=%.3f (est. %.3f; %d poorly localised: %.3f), "
             "LR_th=%.3g, R=%.3f, C=%.3f", name, cov.size, nx, q_use, q_est, poor.size,
             q_use_poor, lr_th, r_at, c_at)
    return LRResult(name=name, priority=int(catalog.meta.get("PRIORITY", 0)), sources=src,
                    candidates=cand, magnitudes=mags, curve=curve, lr_threshold=lr_th,
                    q_total=q_use, q_estimated=q_est, reliability=r_at, completeness=c_at,
                    n_xray=nx, n_covered=int(cov.size))


def lr_summary(results) -> Table:
    """One row per catalogue: the numbers to report with the identifications.

    Parameters
    ----------
    results : list of LRResult

    Returns
    -------
    astropy.table.Table
        ``catalog, priority, n_xray, n_covered, q_total, q_estimated,
        n_poor, q_poor`` (the poorly localised group and its Q),
        ``lr_threshold, reliability, completeness``, ``n_<class>`` for each
        of :data:`CLASSES` and ``area_annulus_arcsec2`` (the background annuli's area).
    """
    rows = []
    for r in results:
        cls = np.asarray(r.sources["ctp_class"]).astype(str)
        rows.append({"catalog": r.name, "priority": r.priority, "n_xray": r.n_xray,
                     "n_covered": r.n_covered, "q_total": r.q_total,
                     "q_estimated": r.q_estimated, "n_poor": r.magnitudes.meta["N_POOR"],
                     "q_poor": r.magnitudes.meta["Q_POOR"], "lr_threshold": r.lr_threshold,
                     "reliability": r.reliability, "completeness": r.completeness,
                     **{f"n_{c}": int(np.count_nonzero(cls == c)) for c in CLASSES},
                     "area_annulus_arcsec2": r.magnitudes.meta["AREA_ANN"]})
    return Table(rows=rows) if rows else Table()
