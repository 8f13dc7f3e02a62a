"""Variability between epochs (method.md §13).

Per source, band and epoch the caller supplies (from aperture photometry on
the epoch mosaics at the catalogue position, :func:`epoch_photometry`) the
total counts N in the aperture, the expected background counts b in it and
the exposure t (PSF-weighted over the aperture), as arrays of shape
(n_sources, n_epochs). Epochs without exposure (t <= 0 or
NaN) are ignored.

* :func:`rate_posterior` -- posterior of the net source rate s (ct/s,
  corrected to the full PSF) for known background and a flat prior on
  s >= 0 (Primini & Kashyap 2014 in the known-background limit):
  ``p(s | N) ~ (alpha s + b)**N exp(-(alpha s + b))``, ``alpha = EEF t``.
  The expected counts ``lambda = alpha s + b`` then follow a Gamma(N + 1)
  distribution truncated to ``lambda >= b``, so the mode is
  ``max(0, (N - b)/alpha)`` and the intervals come from regularised
  incomplete gamma functions (stable for N up to 1e4 and beyond).
* :func:`variability_test` -- Chandra-Source-Catalog-style chi^2 (Nowak
  2016 / CSC 2): ``chi2 = sum_i (s_i - s_all)**2 / sigma_i**2`` with the
  one-sided 68% error on the side of the deviation, ``p`` from the chi^2
  distribution with (epochs with exposure - 1) degrees of freedom.
* :func:`variability_table`, :func:`light_curve_table` -- the per-source
  and per-(source, epoch) tables.
"""

from __future__ import annotations

import numpy as np
from astropy.table import Table
from scipy import stats
from scipy.special import gammaincc, gammainccinv, gammaln, lambertw, xlogy

from xsurvey.calibrate.reliability import above_threshold
from xsurvey.characterise.hardness import LEVEL_1SIGMA
from xsurvey.detect.deblend import aperture_pairs, neighbour_light, solve_deblend
from xsurvey.detect.photometry import aperture_sums, psf_weighted_exposure, value_at
from xsurvey.simulate.match import match_sources
from xsurvey.simulate.render import source_image
from xsurvey.simulate.replicas import draw_inputs, replica_seed
from xsurvey.simulate.sampling import PoissonField

_NEWTON_ITER = 30


#: Below this Q(N+1, b) (observed counts far below the background) the
#: truncated gamma is replaced by its exponential limit.
_Q_TINY = 1e-250


def _upper_partner(lam, n):
    """The lambda' > n with lam**n e**-lam = lambda'**n e**-lambda' (Lambert W_-1)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        x = np.where(n > 0, lam / np.where(n > 0, n, 1.0), 0.0)
        arg = np.maximum(-x * np.exp(-x), -np.exp(-1.0))
        w = lambertw(arg, k=-1).real
    return -n * w


def _hpd_lower_end(n, b, a, qb, level):
    """Lower end l in (b, n) of the HPD of Gamma(n + 1) truncated at b (interior case).

    Solves ``mass(l) = level``, ``mass(l) = (Q(a, l) - Q(a, u(l))) / Q(a, b)``
    (decreasing from mass(b) > level to 0 at l = n), by Newton steps
    safeguarded with bisection: ``d mass/dl = f(l) (u'(l) - 1) / Q(a, b)``,
    f the Gamma(a) density, ``u'(l) = (n/l - 1) / (n/u - 1)``.
    """
    l_lo, l_hi = b.copy(), n.copy()
    lam = np.maximum(0.5 * (b + n), n - np.sqrt(n))
    log_norm = gammaln(a)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        for _ in range(_NEWTON_ITER):
            u = _upper_partner(lam, n)
            resid = (gammaincc(a, lam) - gammaincc(a, u)) / qb - level
            if np.all(np.abs(resid) < 1e-13):
                break
            big = resid > 0
            l_lo = np.where(big, lam, l_lo)
            l_hi = np.where(big, l_hi, lam)
            f = np.exp(xlogy(n, lam) - lam - log_norm)
            slope = f * ((n / lam - 1.0) / (n / u - 1.0) - 1.0) / qb
            step = lam - resid / slope
            ok = np.isfinite(step) & (step > l_lo) & (step < l_hi)
            lam = np.where(ok, step, 0.5 * (l_lo + l_hi))
    return lam


def _truncated_gamma_interval(n, b, level, interval):
    """Interval of lambda ~ Gamma(n + 1) truncated to lambda >= b.

    Returns (lo, hi) in lambda; HPD: the shortest interval (contains the
    mode max(n, b)); equal-tail: the (1 -+ level)/2 quantiles.
    """
    a = n + 1.0
    qb = gammaincc(a, b)                       # P(lambda > b) before truncation
    tiny = qb < _Q_TINY
    qb_safe = np.where(tiny, 1.0, qb)

    def quantile(q):
        return gammainccinv(a, qb_safe * (1.0 - q))

    if interval == "equal-tail":
        lo = quantile(0.5 * (1.0 - level))
        hi = quantile(0.5 * (1.0 + level))
    elif interval == "hpd":
        lo = b.copy()
        hi = quantile(level)                   # [b, F^-1(level)]: right when n <= b
        inner = n > b
        if np.any(inner):
            nn, bb, aa, qq = n[inner], b[inner], a[inner], qb_safe[inner]

            def mass(lam):
                return (gammaincc(aa, lam) - gammaincc(aa, _upper_partner(lam, nn))) / qq

            # the HPD touches b when the density at b is above the level
            touches = mass(bb) <= level
            lam = bb.copy()
            solve = ~touches
            if np.any(solve):
                lam[solve] = _hpd_lower_end(nn[solve], bb[solve], aa[solve], qq[solve], level)
            lo[inner] = lam
            hi[inner] = np.where(touches, hi[inner], _upper_partner(lam, nn))
    else:
        raise ValueError(f"interval must be 'hpd' or 'equal-tail', got {interval!r}")
    # exponential limit far below the background: log-density slope n/b - 1 at b
    rate = np.where(tiny, 1.0 - n / np.where(b > 0, b, 1.0), 1.0)
    if np.any(tiny):
        if interval == "hpd":
            lo = np.where(tiny, b, lo)
            hi = np.where(tiny, b - np.log1p(-level) / rate, hi)
        else:
            lo = np.where(tiny, b - np.log1p(-0.5 * (1.0 - level)) / rate, lo)
            hi = np.where(tiny, b - np.log1p(-0.5 * (1.0 + level)) / rate, hi)
    return lo, hi


def rate_posterior(counts, bkg, exposure_s, eef=1.0, level=LEVEL_1SIGMA, interval="hpd"):
    """Mode and interval of the net source rate for known background (flat prior).

    ``p(s | N) ~ (alpha s + b)**N exp(-(alpha s + b))``, ``s >= 0``,
    ``alpha = eef * t``. Mode ``max(0, (N - b)/alpha)``.

    Parameters
    ----------
    counts : array_like
        Total counts N in the aperture (ct).
    bkg : array_like
        Expected background counts b in the aperture (ct).
    exposure_s : array_like
        Exposure t (s); entries with t <= 0 or NaN give NaN.
    eef : float or array_like
        Aperture encircled-energy fraction; ``s`` is then the rate
        corrected to the full PSF (``eef = 1``: the aperture rate).
    level : float
        Posterior mass of the interval (default 0.6827).
    interval : {"hpd", "equal-tail"}
        ``"hpd"`` (default): highest posterior density, the shortest
        interval; it always contains the mode and is ``[0, hi]`` when
        N <= b, so a non-detection is an upper bound rather than an
        interval excluding zero. ``"equal-tail"``: posterior quantiles
        (1 -+ level)/2.

    Returns
    -------
    dict of numpy.ndarray
        ``mode``, ``lo``, ``hi`` (ct/s), broadcast shape of the inputs.
    """
    n, b, t, e = np.broadcast_arrays(*(np.asarray(v, dtype=np.float64)
                                       for v in (counts, bkg, exposure_s, eef)))
    if np.any(n < 0) or np.any(b < 0):
        raise ValueError("counts and bkg must be non-negative")
    alpha = e * t
    ok = np.isfinite(n) & np.isfinite(b) & np.isfinite(alpha) & (alpha > 0)
    shape = n.shape
    out = {k: np.full(shape, np.nan) for k in ("mode", "lo", "hi")}
    if ok.any():
        nn, bb, aa = n[ok], b[ok], alpha[ok]
        lo, hi = _truncated_gamma_interval(nn, bb, level, interval)
        out["mode"][ok] = np.maximum(nn - bb, 0.0) / aa
        out["lo"][ok] = np.maximum(lo - bb, 0.0) / aa
        out["hi"][ok] = np.maximum(hi - bb, 0.0) / aa
    return out


def _has_exposure(exposure_s, eef):
    alpha = np.asarray(eef, dtype=np.float64) * np.asarray(exposure_s, dtype=np.float64)
    return np.isfinite(alpha) & (alpha > 0)


def stacked_rate(counts, bkg, exposure_s, eef=1.0):
    """Posterior mode of the rate from the counts summed over epochs with exposure.

    ``max(0, (sum N - sum b) / sum(eef t))`` over the epochs (last axis)
    with exposure, ct/s; NaN if there is none.
    """
    n, b, t, e = np.broadcast_arrays(*(np.asarray(v, dtype=np.float64)
                                       for v in (counts, bkg, exposure_s, eef)))
    has = _has_exposure(t, e)
    nt = np.where(has, n, 0.0).sum(axis=-1)
    bt = np.where(has, b, 0.0).sum(axis=-1)
    at = np.where(has, e * t, 0.0).sum(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(at > 0, np.maximum(nt - bt, 0.0) / at, np.nan)


def variability_test(counts, bkg, exposure_s, eef=1.0, rate_all=None, p_threshold=0.05,
                     level=LEVEL_1SIGMA, interval="hpd", sys_frac=0.0):
    """Chi^2 variability test between epochs (CSC style, Nowak 2016).

    ``chi2 = sum_i (s_i - s_all)**2 / sigma_i**2`` over the epochs with
    exposure; ``s_i`` is the posterior mode of epoch i
    (:func:`rate_posterior`), ``sigma_i`` its one-sided error on the side of
    the deviation: ``hi_i - s_i`` when ``s_all > s_i``, ``s_i - lo_i`` when
    ``s_all < s_i``. ``p = P(chi2_dof > chi2)`` with ``dof = n_epochs - 1``.

    Parameters
    ----------
    counts, bkg, exposure_s : array_like, shape (n_sources, n_epochs)
        Total counts, expected background counts (ct) and exposure (s) per
        epoch; epochs with t <= 0 or NaN are ignored.
    eef : float or array_like
        Aperture EEF (rates are corrected to the full PSF).
    rate_all : array_like, optional
        Reference (constant) rate per source, ct/s *corrected to the full
        PSF*; default :func:`stacked_rate` of the same epochs. (The
        catalogue's ``rate_<band>`` is an aperture rate: divide it by the
        EEF, and note it uses the deblended background.)
    p_threshold : float
        ``variable = p < p_threshold``.
    level, interval
        Interval definition of the per-epoch errors (:func:`rate_posterior`).
    sys_frac : float
        Optional fractional systematic error added in quadrature to every
        sigma_i as ``sys_frac * s_all`` (exposure/PSF/background
        systematics that dominate for bright sources); 0 (default) is the
        pure CSC statistic of method.md §13.

    Returns
    -------
    dict of numpy.ndarray
        Per source: ``n_epochs``, ``rate_all``, ``chi2``, ``dof``, ``p_value``
        (NaN with fewer than 2 epochs), ``ratio_max_min`` (highest over lowest
        epoch mode; inf when the lowest is 0), ``ratio_max_min_lo`` (highest
        epoch lower bound over lowest epoch upper bound: a conservative
        amplitude, < 1 when all intervals overlap), ``variable`` (bool);
        per epoch (n_sources, n_epochs): ``rate``, ``rate_lo``, ``rate_hi``.
    """
    n, b, t, e = np.broadcast_arrays(*(np.atleast_2d(np.asarray(v, dtype=np.float64))
                                       for v in (counts, bkg, exposure_s, eef)))
    has = _has_exposure(t, e)
    post = rate_posterior(n, b, np.where(has, t, 0.0), e, level=level, interval=interval)
    s, lo, hi = post["mode"], post["lo"], post["hi"]
    if rate_all is None:
        rate_all = stacked_rate(n, b, t, e)
    rate_all = np.broadcast_to(np.asarray(rate_all, dtype=np.float64), s.shape[:-1])
    dev = s - rate_all[:, None]
    sigma = np.where(dev < 0, hi - s, s - lo)
    if sys_frac:
        sigma = np.hypot(sigma, sys_frac * rate_all[:, None])
    with np.errstate(divide="ignore", invalid="ignore"):
        term = np.where(has & (dev != 0) & (sigma > 0), dev**2 / sigma**2, 0.0)
    chi2 = term.sum(axis=1)
    n_ep = has.sum(axis=1)
    dof = n_ep - 1
    enough = (dof >= 1) & np.isfinite(rate_all)
    p = np.full(chi2.shape, np.nan)
    p[enough] = stats.chi2.sf(chi2[enough], dof[enough])
    chi2 = np.where(enough, chi2, np.nan)
    smax = np.where(has, s, -np.inf).max(axis=1)
    smin = np.where(has, s, np.inf).min(axis=1)
    lomax = np.where(has, lo, -np.inf).max(axis=1)
    himin = np.where(has, hi, np.inf).min(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(n_ep >= 2, np.where(smin > 0, smax / np.where(smin > 0, smin, 1.0),
                                             np.where(smax > 0, np.inf, np.nan)), np.nan)
        ratio_lo = np.where(n_ep >= 2, lomax / himin, np.nan)
    return {
        "n_epochs": n_ep, "rate_all": np.asarray(rate_all, dtype=np.float64), "chi2": chi2,
        "dof": dof, "p_value": p, "ratio_max_min": ratio, "ratio_max_min_lo": ratio_lo,
        "variable": np.where(enough, p < p_threshold, False),
        "rate": np.where(has, s, np.nan), "rate_lo": np.where(has, lo, np.nan),
        "rate_hi": np.where(has, hi, np.nan),
    }


#: Columns of :func:`variability_table`: name -> (unit, description).
VARIABILITY_COLUMNS = {
    "n_epochs": ("", "epochs with exposure at the position"),
    "rate_all": ("ct / s", "net rate from the stacked epochs (PSF-corrected, posterior mode)"),
    "chi2": ("", "sum (s_i - s_all)^2 / sigma_i^2, one-sided 68% errors"),
    "dof": ("", "degrees of freedom, n_epochs - 1"),
    "p_value": ("", "P(chi2 >= observed) for a constant source"),
    "ratio_max_min": ("", "highest / lowest epoch rate (posterior modes)"),
    "ratio_max_min_lo": ("", "highest epoch lower bound / lowest epoch upper bound (68%)"),
    "variable": ("", "p_value below the threshold"),
}


def variability_table(counts, bkg, exposure_s, eef=1.0, ids=None, band=None, rate_all=None,
                      p_threshold=0.05, interval="hpd", sys_frac=0.0) -> Table:
    """Per-source variability table of one band (see :func:`variability_test`).

    Parameters
    ----------
    counts, bkg, exposure_s : array_like, shape (n_sources, n_epochs)
        Epoch photometry: total counts, background counts (ct), exposure (s).
    eef : float
        Aperture EEF.
    ids : array_like, optional
        Source ids (``id`` column).
    band : str, optional
        Band key (``band`` column); stack the tables of several bands with
        ``astropy.table.vstack``.
    rate_all : array_like, optional
        Reference rates (ct/s, PSF-corrected); default: stacked epochs.
    p_threshold : float
        Significance of the ``variable`` flag.
    interval : {"hpd", "equal-tail"}
        Per-epoch interval type.
    sys_frac : float
        Fractional systematic error (see :func:`variability_test`).

    Returns
    -------
    astropy.table.Table
        ``id``, ``band`` (if given) and :data:`VARIABILITY_COLUMNS`.
    """
    res = variability_test(counts, bkg, exposure_s, eef, rate_all=rate_all,
                           p_threshold=p_threshold, interval=interval, sys_frac=sys_frac)
    tab = Table()
    m = res["chi2"].size
    if ids is not None:
        tab["id"] = np.asarray(ids)
    if band is not None:
        tab["band"] = np.full(m, str(band))
    for name, (unit, desc) in VARIABILITY_COLUMNS.items():
        tab[name] = res[name]
        tab[name].unit = unit or None
        tab[name].description = desc
    tab.meta["PTHRESH"] = float(p_threshold)
    tab.meta["SYSFRAC"] = float(sys_frac)
    return tab


#: Columns of :func:`light_curve_table`: name -> (unit, description).
LC_COLUMNS = {
    "counts": ("ct", "total counts N in the aperture"),
    "bkg": ("ct", "expected background counts b in the aperture"),
    "exposure_ks": ("ks", "exposure t of the aperture (PSF-weighted mean, epoch_photometry)"),
    "rate": ("ct / s", "posterior mode of the net rate (PSF-corrected)"),
    "rate_lo": ("ct / s", "lower end of the 68% interval"),
    "rate_hi": ("ct / s", "upper end of the 68% interval"),
}


def light_curve_table(counts, bkg, exposure_s, eef=1.0, ids=None, epochs=None, band=None,
                      interval="hpd") -> Table:
    """Light curves as a long table: one row per (source, epoch with exposure).

    Parameters
    ----------
    counts, bkg, exposure_s : array_like, shape (n_sources, n_epochs)
    eef : float
        Aperture EEF.
    ids : array_like, optional
        Source ids (default 0..n-1).
    epochs : sequence of str, optional
        Epoch names in column order (default ``"0", "1", ...``).
    band : str, optional
        Band key (``band`` column).
    interval : {"hpd", "equal-tail"}

    Returns
    -------
    astropy.table.Table
        ``id, [band,] epoch`` and :data:`LC_COLUMNS`.
    """
    n, b, t = np.broadcast_arrays(*(np.atleast_2d(np.asarray(v, dtype=np.float64))
                                    for v in (counts, bkg, exposure_s)))
    m, k = n.shape
    ids = np.arange(m) if ids is None else np.asarray(ids)
    epochs = [str(i) for i in range(k)] if epochs is None else [str(x) for x in epochs]
    if len(epochs) != k or ids.size != m:
        raise ValueError(f"need {m} ids and {k} epochs, got {ids.size} and {len(epochs)}")
    has = _has_exposure(t, eef)
    post = rate_posterior(n, b, np.where(has, t, 0.0), eef, interval=interval)
    rows, cols = np.nonzero(has)
    tab = Table()
    tab["id"] = ids[rows]
    if band is not None:
        tab["band"] = np.full(rows.size, str(band))
    tab["epoch"] = np.asarray(epochs)[cols]
    values = {"counts": n, "bkg": b, "exposure_ks": t / 1e3, "rate": post["mode"],
              "rate_lo": post["lo"], "rate_hi": post["hi"]}
    for name, (unit, desc) in LC_COLUMNS.items():
        tab[name] = values[name][rows, cols]
        tab[name].unit = unit or None
        tab[name].description = desc
    return tab


def constant_neighbour_counts(counts, bkg, exposure_s, x, y, pixel_arcsec: float, psf,
                              aperture_arcsec: float, deblend_radius_arcsec: float):
    """Neighbours' expected counts in each aperture and epoch if all sources are constant.

    The deblending of method.md §5 is solved once on the sum of the epochs
    (the stack), giving every source's total counts F_j and so its mean rate
    ``F_j / sum_e t_je``; in epoch e neighbour j then puts
    ``A_ij F_j t_je / sum_e t_je`` counts into aperture i. This is the
    background of the null hypothesis (no source varies) that the chi^2 test
    examines. Refitting the deblending in every epoch instead adds the noise
    of the neighbours' per-epoch fits (NNLS clipping at zero) that the
    posteriors ignore, and makes faint constant pairs look variable (on the
    demo: 17% false positives among constant sources in 8-24 keV).

    Parameters
    ----------
    counts, bkg, exposure_s : numpy.ndarray, shape (n_sources, n_epochs)
        Total counts, background counts in the aperture (ct) and exposure (s).
    x, y : array_like, shape (n_sources,)
        0-based pixel positions.
    pixel_arcsec, psf, aperture_arcsec, deblend_radius_arcsec
        As for :func:`xsurvey.detect.deblend`.

    Returns
    -------
    numpy.ndarray, shape (n_sources, n_epochs)
        Neighbours' counts in each source's aperture, ct.
    """

    exposure_s = np.nan_to_num(np.asarray(exposure_s, dtype=np.float64))
    eef = float(psf.aperture_fraction(0.0, aperture_arcsec))
    i, j, frac = aperture_pairs(x, y, pixel_arcsec, psf, aperture_arcsec, deblend_radius_arcsec)
    total = solve_deblend(np.sum(counts, axis=1) - np.sum(bkg, axis=1), eef, i, j, frac)
    t_all = exposure_s.sum(axis=1)
    rate = np.divide(total, t_all, out=np.zeros_like(total), where=t_all > 0)
    return neighbour_light(i, j, frac, rate[:, None] * exposure_s)


def epoch_photometry(maps_by_epoch, wcs, ra, dec, aperture, psf=None,
                     deblend_radius_arcsec: float = 90.0):
    """Aperture counts, background and exposure of sources in every epoch mosaic.

    With ``psf`` the exposure of a source in an epoch is the PSF-weighted
    mean exposure of its aperture (:func:`xsurvey.detect.psf_weighted_exposure`),
    so that ``EEF * t`` is the expected aperture counts per unit rate even
    where a field-of-view edge of one of the epoch's pointings cuts the
    aperture (the exposure at the centre would count light that falls off
    the detector: an apparent dip). Epochs without exposure at the position
    itself keep ``t = 0`` (no measurement from PSF wings reaching the
    field), so the epochs used are those of the exposure at the position.
    The neighbours' light is added to each source's background as expected
    for constant sources (:func:`constant_neighbour_counts`, with the
    neighbours' own PSF-weighted exposures): the light curve of an isolated
    constant source and of a constant source with constant neighbours is
    then flat on average. Without ``psf`` the exposure is that of the pixel
    holding the position.

    Parameters
    ----------
    maps_by_epoch : list of dict
        Per epoch ``{"counts", "background", "exposure"}`` mosaics of one band
        (exposure in s).
    wcs : astropy.wcs.WCS
        Grid of the mosaics.
    ra, dec : array_like
        Source positions, deg.
    aperture : xsurvey.detect.Aperture
    psf : xsurvey.instrument.RadialPSF, optional
        Add the neighbours' expected counts with this PSF.
    deblend_radius_arcsec : float
        Neighbours closer than this share counts.

    Returns
    -------
    counts, bkg, exposure_s : numpy.ndarray
        Shape ``(n_sources, n_epochs)``: total counts N, background counts b
        in the aperture (including the neighbours' with ``psf``), exposure (s):
        PSF-weighted over the aperture with ``psf`` (0 where the position has
        none), else at the position.
    """

    x, y = wcs.wcs_world2pix(np.asarray(ra, float), np.asarray(dec, float), 0)
    x, y = np.atleast_1d(x), np.atleast_1d(y)
    pixel_arcsec = abs(float(wcs.wcs.cdelt[0])) * 3600.0
    sums = [aperture_sums(m["counts"], m["background"], x, y, aperture.radius_pix)
            for m in maps_by_epoch]
    counts = np.stack([n for n, _ in sums], axis=1)
    bkg = np.stack([b for _, b in sums], axis=1)
    expo = np.stack([value_at(m["exposure"], x, y) for m in maps_by_epoch], axis=1)
    if psf is not None:
        t_eff = np.stack([psf_weighted_exposure(m["exposure"], x, y, aperture.radius_pix, psf,
                                                pixel_arcsec) for m in maps_by_epoch], axis=1)
        expo = np.where(expo > 0, t_eff, 0.0)
    if psf is not None and len(x):
        bkg = bkg + constant_neighbour_counts(counts, bkg, expo, x, y, pixel_arcsec, psf,
                                              aperture.radius_pix * pixel_arcsec,
                                              deblend_radius_arcsec)
    return counts, bkg, expo


def null_p_values(setup, epoch_maps, thresholds, aperture, psf, replicas, level: float = 0.95,
                  deblend_radius_arcsec: float = 90.0, sys_frac: float = 0.0) -> np.ndarray:
    """p-values of the variability test for constant sources in per-epoch replicas.

    The catalogue positions are peaks of the stacked significance, and a
    faint source enters the catalogue more easily when one epoch fluctuated
    up; both bias the test of the catalogue's constant sources towards
    variability. This simulates the survey epoch by epoch with constant
    sources (the stack's replica sky of :mod:`xsurvey.simulate`, each
    epoch's own exposure and background), detects on the sum of the epochs
    with the same detector, keeps the detections matched to an input and
    above the ``level`` threshold, and runs :func:`epoch_photometry` and
    :func:`variability_test` on them exactly as for the catalogue. The
    distribution of these p-values is the null distribution of the test
    including the selection.

    Parameters
    ----------
    setup : xsurvey.simulate.ReplicaSetup
        Replica setup of the stack for one band (its population, fCXB scale,
        detector and truth rule).
    epoch_maps : list of dict
        Per epoch ``{"exposure", "background", "background_nofcxb"}`` mosaics
        of the band (s, counts, counts).
    thresholds : pandas.DataFrame
        Calibration ``thresholds.csv`` rows of the band.
    aperture : xsurvey.detect.Aperture
    psf : xsurvey.instrument.RadialPSF
    replicas : iterable of int
        Replica indices (streams from the setup's seed, the stack, the index
        and ``variability:<band>``).
    level : float
        Reliability level of the catalogue.
    deblend_radius_arcsec, sys_frac : float
        As for the real test.

    Returns
    -------
    numpy.ndarray
        p-values of the matched constant sources with at least two epochs.
    """

    band = setup.bands[0]
    element = setup.elements[0]
    detector = setup.detectors[band]
    fields = [PoissonField(m["background_nofcxb"] + element.fcxb_scale
                           * np.clip(m["background"] - m["background_nofcxb"], 0.0, None))
              for m in epoch_maps]
    radius = setup.match_radius_arcsec / setup.pixel_arcsec
    out = []
    for index in replicas:
        rng = np.random.default_rng(replica_seed(setup.seed, setup.stack, index,
                                                 f"variability:{band}"))
        sky = draw_inputs(setup, rng)
        counts, mu = [], 0.0
        for m, field in zip(epoch_maps, fields, strict=True):
            mu_epoch = sky["rate"][:, 0] * value_at(m["exposure"], sky["x"], sky["y"])
            mu = mu + mu_epoch
            counts.append(field.add_to(source_image(setup, sky["x"], sky["y"], mu_epoch, rng),
                                       rng))
        det = detector.detect_arrays(np.sum(counts, axis=0))
        keep = np.flatnonzero(above_threshold(det["det_ml"], det["exposure_ks"], thresholds,
                                              level))
        if keep.size == 0:
            continue
        matched, _, _ = match_sources(det["x"][keep], det["y"][keep], det["net"][keep],
                                      sky["x"], sky["y"], mu, sky["flux"][:, 0], radius,
                                      setup.aperture_fraction, setup.truth, setup.truth_share)
        n, b, t = epoch_photometry(
            [{"counts": c, "background": m["background"], "exposure": m["exposure"]}
             for c, m in zip(counts, epoch_maps, strict=True)],
            setup.wcs, det["ra"][keep], det["dec"][keep], aperture, psf, deblend_radius_arcsec)
        res = variability_test(n, b, t, aperture.eef, sys_frac=sys_frac)
        ok = (matched >= 0) & (res["n_epochs"] >= 2)
        out.append(np.asarray(res["p_value"], float)[ok])
    return np.concatenate(out) if out else np.zeros(0)


def calibrated_p_threshold(null_p, false_positive_rate: float = 0.05) -> float:
    """p-value below which ``false_positive_rate`` of the null p-values lie.

    The empirical quantile of :func:`null_p_values`; NaN without null values.
    """
    null_p = np.asarray(null_p, float)
    null_p = null_p[np.isfinite(null_p)]
    return float(np.quantile(null_p, false_positive_rate)) if null_p.size else float("nan")
