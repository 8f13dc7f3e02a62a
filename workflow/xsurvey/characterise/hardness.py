"""Hardness ratios, N_H tracks and obscured fractions (method.md §12).

* :func:`bayesian_hr` -- posterior of HR = (H - S)/(H + S) of the net count
  rates of two bands from Poisson counts with a known background (Park et
  al. 2006, "BEHR" style): mode, 68% highest-density interval, 90% one-sided
  limits and a flag saying which side is constrained. Vectorised over
  sources.
* :func:`hardness_table` -- :func:`bayesian_hr` on the columns of a
  :func:`xsurvey.catalog.build_catalog` catalogue.
* :func:`band_count_rates`, :func:`hr_track`, :func:`hr_tracks_table`,
  :func:`hr_threshold`, :func:`nh_from_hr` -- the model tracks HR(N_H, z) of
  an absorbed power law (MM83 photoelectric absorption at the source
  redshift, solar abundances, Compton scattering by the instrument's
  ``absorber`` model, :func:`xsurvey.instrument.photon_spectrum`) folded
  through the on-axis effective area (:meth:`xsurvey.instrument.Instrument.fold`).
* :func:`count_rate_to_flux` -- the count-rate-to-flux factor of any absorbed
  power law (the CF of method.md §2 is the special case of the default model).
* :func:`obscured_fractions` -- obscured (N_H > 1e23) and Compton-thick
  (N_H > 1e24) fractions with lower bound, best value and upper bound.

Units: counts in ct, background in expected ct in the aperture, exposures in
s, rates in ct/s, energies in keV, column densities in cm^-2, fluxes in
erg cm^-2 s^-1, CF in erg cm^-2 per count. Bands are instrument band keys
(e.g. ``"3-8"``); no band is hard-wired here.

Compton-thick threshold: for NuSTAR 3-8 / 8-24 keV, Gamma = 1.8, N_H = 1e24
and z = 0, the method.md §12 "transmitted" model (photoelectric times Compton
attenuation; the scattered light is lost) gives HR = 0.618 (the Thomson
attenuation is grey and cancels in HR; Klein-Nishina would add +0.006). The
"sphere" model (NuSTAR default) keeps the Compton-scattered light that
escapes a uniform sphere and gives 0.670, closer to the ~0.74 quoted for
NuSTAR from torus models (not verified against the papers). The
"reprocessed" absorber (recoil and iron fluorescence,
:mod:`xsurvey.instrument.reprocessing`) gives 0.593: the recoil and the K
lines soften what escapes. Compton-thin tracks (N_H <= 1e23) agree to 0.003
between transmitted and sphere. The demo survey simulates the instrument's
model, so its truth lies on these tracks.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from astropy.table import Table

from xsurvey.tables import float_column

#: Mass of the "68%" intervals (Gaussian 1 sigma).
LEVEL_1SIGMA = 0.6826894921370859


#: Mass below (above) the one-sided upper (lower) limits.
LIMIT_LEVEL = 0.90


#: Possible values of the ``flag`` output of :func:`bayesian_hr`.
HR_FLAGS = ("two-sided", "lower_limit", "upper_limit", "unconstrained")


#: Default column-density grid of the tracks (cm^-2).
DEFAULT_NH_GRID = np.logspace(20.0, np.log10(3e24), 241)


#: Nodes (in units of the local width) of the integral over the total rate.
_Z_NODES = np.linspace(-14.0, 8.0, 45)


_NEWTON_ITER = 12


# --------------------------------------------------------------------------- Bayesian HR
def _non_negative(x, name) -> np.ndarray:
    """Float64 array of ``x``; error naming ``name`` if any value is negative."""
    a = np.asarray(x, dtype=np.float64)
    if np.any(a < 0):
        raise ValueError(f"{name} must be non-negative (found {np.nanmin(a)})")
    return a


def _hr_log_density(ns, bs, a_s, nh, bh, a_h, h, psi_s, psi_h, nodes=None):
    """Unnormalised log posterior density of HR at ``h`` (sources x grid).

    The total rate T = s_S + s_H is integrated out numerically. For each
    (source, h) the integrand in u = ln T, ``T**psi L_S L_H``, is unimodal
    (``T**psi L`` is log-concave in T); its maximum u* is found by
    safeguarded Newton iterations on d/du (bracketed: the derivative is
    positive below ln(psi / c) and negative above ln((psi + N_S + N_H) / c),
    c = total counts per unit rate), and the integral is a trapezoid sum on
    ``u* + sigma_u * nodes`` (sigma_u from the curvature at u*), which
    converges geometrically for such smooth, fast-decaying integrands.
    """
    nodes = _Z_NODES if nodes is None else nodes
    cs = a_s * 0.5 * (1.0 - h)          # soft source counts per unit total rate
    ch = a_h * 0.5 * (1.0 + h)
    psi = psi_s + psi_h
    ctot = cs + ch
    lo = np.log(psi / ctot)
    hi = np.log((psi + ns + nh) / ctot)
    u = 0.5 * (lo + hi)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        for _ in range(_NEWTON_ITER):
            t = np.exp(u)
            x, y = cs * t, ch * t
            fx, fy = _frac(x, bs), _frac(y, bh)
            d1 = psi + ns * fx - x + nh * fy - y
            d2 = ns * fx * (1.0 - fx) - x + nh * fy * (1.0 - fy) - y
            up = d1 > 0
            lo = np.where(up, u, lo)
            hi = np.where(up, hi, u)
            step = u - d1 / d2
            ok = (d2 < 0) & (step > lo) & (step < hi)
            u = np.where(ok, step, 0.5 * (lo + hi))
        t = np.exp(u)
        x, y = cs * t, ch * t
        fx, fy = _frac(x, bs), _frac(y, bh)
        d2 = ns * fx * (1.0 - fx) - x + nh * fy * (1.0 - fy) - y
        sig = 1.0 / np.sqrt(np.maximum(-d2, 1e-6))
        uu = u[..., None] + sig[..., None] * nodes
        t = np.exp(uu)
        x = cs[..., None] * t
        y = ch[..., None] * t
        g = (psi * uu + ns[..., None] * np.log(np.maximum(x + bs[..., None], 1e-300)) - x
             + nh[..., None] * np.log(np.maximum(y + bh[..., None], 1e-300)) - y)
    gmax = g.max(axis=-1)
    logp = gmax + np.log(np.exp(g - gmax[..., None]).sum(axis=-1) * sig * (nodes[1] - nodes[0]))
    return logp + (psi_s - 1.0) * np.log(0.5 * (1.0 - h)) + (psi_h - 1.0) * np.log(0.5 * (1.0 + h))


def _frac(x, b):
    """x / (x + b), 1 where b == 0."""
    return np.where(b > 0, x / (x + b), 1.0)


def _quantiles(cdf, edges, q):
    """Per-row quantile ``q`` of a piecewise-linear CDF given at the grid edges."""
    k = (cdf < q).sum(axis=1).clip(1, edges.size - 1)
    rows = np.arange(cdf.shape[0])
    c0, c1 = cdf[rows, k - 1], cdf[rows, k]
    frac = np.where(c1 > c0, (q - c0) / np.where(c1 > c0, c1 - c0, 1.0), 0.0)
    return edges[k - 1] + np.clip(frac, 0.0, 1.0) * (edges[k] - edges[k - 1])


def _summarise(p, centres, edges, level):
    """Mode, HPD interval, 90% limits and flags from densities on the grid."""
    m, k = p.shape
    dh = edges[1] - edges[0]
    rows = np.arange(m)
    # mode: vertex of the parabola through log p around the best cell
    lp = np.log(np.maximum(p, 1e-300))
    i = p.argmax(axis=1)
    j = np.clip(i, 1, k - 2)
    l0, l1, l2 = lp[rows, j - 1], lp[rows, j], lp[rows, j + 1]
    den = l0 - 2.0 * l1 + l2
    off = np.where(den < 0, 0.5 * (l0 - l2) / np.where(den < 0, den, -1.0), 0.0)
    mode = np.clip(centres[j] + np.clip(off, -1.5, 1.5) * dh, -1.0, 1.0)
    at_edge_lo = (i == 0) & (p[:, 0] >= p[:, 1])
    at_edge_hi = (i == k - 1) & (p[:, -1] >= p[:, -2])
    mode = np.where(at_edge_lo, -1.0, np.where(at_edge_hi, 1.0, mode))
    # HPD: cells with the highest density holding `level` of the mass
    ps = -np.sort(-p, axis=1)
    cum = np.cumsum(ps, axis=1) * dh
    n_in = np.minimum((cum < level).sum(axis=1) + 1, k)
    thr = ps[rows, n_in - 1]
    inc = p >= thr[:, None]
    first = inc.argmax(axis=1)
    last = k - 1 - inc[:, ::-1].argmax(axis=1)
    lower_open = first == 0
    upper_open = last == k - 1
    lo = edges[first].copy()
    hi = edges[last + 1].copy()
    excess = np.maximum((p * inc).sum(axis=1) * dh - level, 0.0)
    pl, pr = p[rows, first], p[rows, last]
    trim_lo = ~lower_open & (upper_open | (pl <= pr))
    trim_hi = ~upper_open & ~trim_lo
    with np.errstate(divide="ignore", invalid="ignore"):
        lo = np.where(trim_lo, lo + np.minimum(excess / pl, dh), lo)
        hi = np.where(trim_hi, hi - np.minimum(excess / pr, dh), hi)
    cdf = np.concatenate([np.zeros((m, 1)), np.cumsum(p, axis=1) * dh], axis=1)
    lo90 = _quantiles(cdf, edges, 1.0 - LIMIT_LEVEL)
    hi90 = _quantiles(cdf, edges, LIMIT_LEVEL)
    # a flat posterior (e.g. no counts, equal exposures): no mode, no HPD
    flat = p.min(axis=1) > (1.0 - 1e-6) * p.max(axis=1)
    lower_open |= flat
    upper_open |= flat
    lo = np.where(flat, -1.0, lo)
    hi = np.where(flat, 1.0, hi)
    mode = np.where(flat, 0.0, mode)
    flag = np.full(m, HR_FLAGS[0], dtype=object)
    flag[upper_open & ~lower_open] = "lower_limit"
    flag[lower_open & ~upper_open] = "upper_limit"
    flag[lower_open & upper_open] = "unconstrained"
    return mode, lo, hi, lo90, hi90, flag


def bayesian_hr(n_soft, bkg_soft, t_soft, n_hard, bkg_hard, t_hard, eef=1.0, eef_hard=None,
                n_grid=400, prior_index=1.0, chunk=None, return_posterior=False):
    """Bayesian hardness ratio of net count rates (Park et al. 2006, BEHR style).

    Model, per source and band: observed total counts in the aperture
    ``N ~ Poisson(eef * t * s + B)`` with ``s >= 0`` the source count rate
    (ct/s, corrected to the full PSF) and ``B`` the expected background
    counts in the aperture, treated as *known* (the background comes from a
    model map fitted over an area far larger than the aperture, so its
    uncertainty is negligible; BEHR's unknown-background term, i.e. a finite
    background-to-source area ratio, is not modelled). Priors: independent
    gamma priors ``p(s) ~ s**(prior_index - 1)``; the default
    ``prior_index = 1`` is the flat (non-informative) prior on the
    intensities, Park et al.'s default, which makes the posterior mode of
    each rate the classical ``max(0, (N - B)/(eef t))`` and keeps the HR
    density finite at +-1 (``prior_index = 0.5``, Jeffreys-like, makes it
    diverge there whenever a band is empty). The posterior of
    ``HR = (s_H - s_S) / (s_H + s_S)`` is evaluated on a grid of ``n_grid``
    cells in [-1, 1] by integrating the joint posterior over the total rate
    ``T = s_S + s_H`` (Jacobian T/2) numerically for every (source, HR).

    There is no maintained Python implementation of BEHR (the reference is
    Park et al.'s C/Fortran program distributed with CIAO); this is an
    independent, vectorised implementation tested for frequentist coverage.

    Parameters
    ----------
    n_soft, n_hard : array_like
        Total counts in the aperture, soft and hard band (ct, >= 0).
    bkg_soft, bkg_hard : array_like
        Expected background counts in the same aperture (ct, >= 0).
    t_soft, t_hard : array_like
        Exposures at the source position (s); rows with ``t <= 0`` give NaN.
    eef : float or array_like
        Encircled-energy fraction of the aperture (soft band, and hard band
        unless ``eef_hard`` is given). It cancels in HR when equal in both
        bands.
    eef_hard : float or array_like, optional
        EEF of the hard band when different.
    n_grid : int
        Number of HR cells in [-1, 1] (resolution 2/n_grid).
    prior_index : float or (float, float)
        Gamma-prior index psi of the soft and hard rates (1 = flat).
    chunk : int, optional
        Sources per vectorised block (default: ~2e6 / (n_grid * 64)).
    return_posterior : bool
        Also return the grid (``"hr_grid"``, cell centres) and the normalised
        densities (``"density"``, shape (n_sources, n_grid)).

    Returns
    -------
    dict of numpy.ndarray (1-D, one entry per source)
        ``mode`` -- posterior mode of HR;
        ``lo68``, ``hi68`` -- 68.27% highest-posterior-density interval
        (an end at -1 or +1 means that side is unconstrained);
        ``lo90``, ``hi90`` -- 10% and 90% posterior quantiles, i.e. the
        one-sided 90% lower limit (HR > lo90) and upper limit (HR < hi90);
        ``flag`` -- ``'two-sided'``; ``'lower_limit'`` when the 68% HPD
        reaches +1 (the posterior piles against +1: quote HR > lo90);
        ``'upper_limit'`` when it reaches -1 (quote HR < hi90);
        ``'unconstrained'`` when it reaches both. Invalid rows (no
        exposure, non-finite input) have NaN values and flag
        ``'unconstrained'``.
    """
    ns = _non_negative(n_soft, "n_soft")
    nh = _non_negative(n_hard, "n_hard")
    bs = _non_negative(bkg_soft, "bkg_soft")
    bh = _non_negative(bkg_hard, "bkg_hard")
    e_s = np.asarray(eef, dtype=np.float64)
    e_h = e_s if eef_hard is None else np.asarray(eef_hard, dtype=np.float64)
    a_s = e_s * np.asarray(t_soft, dtype=np.float64)
    a_h = e_h * np.asarray(t_hard, dtype=np.float64)
    ns, bs, a_s, nh, bh, a_h = (np.ravel(v) for v in np.broadcast_arrays(
        ns, bs, a_s, nh, bh, a_h))
    psi_s, psi_h = np.broadcast_to(np.asarray(prior_index, dtype=np.float64), (2,))
    if psi_s <= 0 or psi_h <= 0:
        raise ValueError(f"prior_index must be > 0, got {prior_index}")
    n = ns.size
    edges = np.linspace(-1.0, 1.0, int(n_grid) + 1)
    centres = 0.5 * (edges[:-1] + edges[1:])
    ok = np.isfinite(ns + nh + bs + bh + a_s + a_h) & (a_s > 0) & (a_h > 0)
    out = {key: np.full(n, np.nan) for key in ("mode", "lo68", "hi68", "lo90", "hi90")}
    out["flag"] = np.full(n, "unconstrained", dtype=object)
    dens = np.full((n, centres.size), np.nan) if return_posterior else None
    idx = np.flatnonzero(ok)
    step = int(chunk or max(1, 2_000_000 // (centres.size * _Z_NODES.size)))
    for start in range(0, idx.size, step):
        sel = idx[start:start + step]
        col = (lambda v, s=sel: v[s][:, None])  # noqa: E731
        logp = _hr_log_density(col(ns), col(bs), col(a_s), col(nh), col(bh), col(a_h),
                               centres[None, :], psi_s, psi_h)
        p = np.exp(logp - logp.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True) * (edges[1] - edges[0])
        mode, lo, hi, lo90, hi90, flag = _summarise(p, centres, edges, LEVEL_1SIGMA)
        for key, val in zip(("mode", "lo68", "hi68", "lo90", "hi90", "flag"),
                            (mode, lo, hi, lo90, hi90, flag), strict=True):
            out[key][sel] = val
        if dens is not None:
            dens[sel] = p
    out["flag"] = out["flag"].astype(str)
    if return_posterior:
        out["hr_grid"] = centres
        out["density"] = dens
    return out


#: Columns of :func:`hardness_table`: name -> (unit, description).
HR_COLUMNS = {
    "hr": ("", "posterior mode of HR = (H - S)/(H + S) of net count rates"),
    "hr_lo68": ("", "lower end of the 68.27% highest-density interval of HR"),
    "hr_hi68": ("", "upper end of the 68.27% highest-density interval of HR"),
    "hr_lo90": ("", "one-sided 90% lower limit of HR (10% quantile)"),
    "hr_hi90": ("", "one-sided 90% upper limit of HR (90% quantile)"),
    "hr_flag": ("", "two-sided | lower_limit (HR > hr_lo90) | upper_limit (HR < hr_hi90) | "
                    "unconstrained"),
}


def hardness_table(catalog, soft_band, hard_band, eef=1.0, background="deblended",
                   **kwargs) -> Table:
    """Bayesian HR of every catalogue source from its aperture photometry.

    Uses, per band (suffix ``b`` = band with '-' -> '_'): total counts
    ``counts_b``; background ``bkg_deblended_b`` where finite (detected:
    includes the neighbours' share, as the catalogue's net counts do), else
    ``bkg_b`` (forced photometry); exposure ``exposure_ks_b`` (ks).
    Undetected bands still have N and B, so every source gets an HR
    posterior.

    Parameters
    ----------
    catalog : astropy.table.Table or pandas.DataFrame
        :func:`xsurvey.catalog.build_catalog` output.
    soft_band, hard_band : str
        Band keys, e.g. ``"3-8"`` and ``"8-24"``.
    eef : float
        Aperture EEF (``instrument.eef_aperture``; cancels in HR).
    background : {"deblended", "raw"}
        ``"raw"`` uses ``bkg_b`` (background map only) for every source.
    **kwargs
        Passed to :func:`bayesian_hr`.

    Returns
    -------
    astropy.table.Table
        ``id`` (if present) and :data:`HR_COLUMNS`; ``meta`` holds the bands.
    """
    def cols(band):
        sfx = str(band).replace("-", "_").replace(".", "p")
        try:
            n = float_column(catalog, f"counts_{sfx}", "catalogue")
            b = float_column(catalog, f"bkg_{sfx}", "catalogue")
            bd = float_column(catalog, f"bkg_deblended_{sfx}", "catalogue")
            t = float_column(catalog, f"exposure_ks_{sfx}", "catalogue") * 1e3
        except KeyError as exc:
            raise ValueError(f"catalogue lacks column {exc} for band {band!r}") from None
        return n, (np.where(np.isfinite(bd), bd, b) if background == "deblended" else b), t

    if background not in ("deblended", "raw"):
        raise ValueError(f"background must be 'deblended' or 'raw', got {background!r}")

    ns, bs, ts = cols(soft_band)
    nh, bh, th = cols(hard_band)
    res = bayesian_hr(ns, bs, ts, nh, bh, th, eef=eef, **kwargs)
    tab = Table()
    if "id" in (catalog.colnames if hasattr(catalog, "colnames") else catalog.columns):
        tab["id"] = np.asarray(catalog["id"])
    for (name, (unit, desc)), key in zip(HR_COLUMNS.items(),
                                         ("mode", "lo68", "hi68", "lo90", "hi90", "flag"),
                                         strict=True):
        tab[name] = res[key]
        tab[name].unit = unit or None
        tab[name].description = desc
    tab.meta["SOFTBAND"] = str(soft_band)
    tab.meta["HARDBAND"] = str(hard_band)
    return tab


# --------------------------------------------------------------------------- spectral tracks
def band_count_rates(instrument, band, photon_index=None, nh=0.0, z=0.0, nh_galactic=0.0):
    """Count rate (ct/s, one module on axis) of a unit-normalised absorbed power law.

    :func:`xsurvey.instrument.photon_spectrum` (1 at 1 keV before absorption,
    the instrument's absorber at the source redshift, Galactic photoelectric
    absorption at z = 0) folded through ``instrument.effective_area``
    (diagonal response, :meth:`xsurvey.instrument.Instrument.fold`).

    Parameters
    ----------
    instrument : xsurvey.instrument.Instrument
    band : str
        Band key.
    photon_index : float or array_like, optional
        Gamma (default: the instrument's spectral model).
    nh : float or array_like
        Column density at the source redshift, cm^-2.
    z : float or array_like
        Redshift of the absorber.
    nh_galactic : float or array_like
        Extra Galactic column (z = 0, photoelectric only), cm^-2.

    Returns
    -------
    numpy.ndarray
        Shape of the broadcast parameters.
    """
    rate = instrument.fold([band], photon_index, nh, z, nh_galactic)[1][..., 0]
    return float(rate) if np.ndim(rate) == 0 else rate


def count_rate_to_flux(instrument, band, photon_index=None, nh=0.0, z=0.0, nh_galactic=None):
    """Count-rate-to-flux factor CF (erg cm^-2 per count) of an absorbed power law.

    ``CF = F_band / R_band``: observed (absorbed) energy flux in the band
    over the count rate of one module on axis, for the spectrum of
    :func:`band_count_rates`. With the defaults (the instrument's photon
    index, no intrinsic column, its Galactic column) this is exactly
    ``instrument.cf(band)`` without overrides.

    Parameters
    ----------
    instrument : xsurvey.instrument.Instrument
    band : str
    photon_index : float or array_like, optional
        Default: ``instrument.photon_index``.
    nh : float or array_like
        Intrinsic column density at redshift ``z`` (cm^-2).
    z : float or array_like
        Absorber redshift.
    nh_galactic : float or array_like, optional
        z = 0 photoelectric column (cm^-2); default
        ``instrument.nh_galactic_cm2``.

    Returns
    -------
    numpy.ndarray or float
        CF, erg cm^-2 per count; broadcast shape of the parameters.
    """
    flux, rate = instrument.fold([band], photon_index, nh, z, nh_galactic)
    cf = flux[..., 0] / rate[..., 0]
    return float(cf) if np.ndim(cf) == 0 else cf


def hr_track(instrument, soft_band, hard_band, nh, z=0.0, photon_index=None, nh_galactic=0.0):
    """Model HR = (R_H - R_S)/(R_H + R_S) of an absorbed power law.

    Parameters
    ----------
    instrument : xsurvey.instrument.Instrument
    soft_band, hard_band : str
        Band keys (e.g. ``"3-8"``, ``"8-24"``).
    nh : float or array_like
        Column density at the source redshift, cm^-2 (e.g. 1e20 ... 3e24).
    z : float or array_like
        Redshift; broadcast against ``nh`` (e.g. ``nh[:, None]``, ``z[None, :]``).
    photon_index : float or array_like, optional
        Default: the instrument's spectral model (1.8 for NuSTAR).
    nh_galactic : float
        Extra Galactic column at z = 0 (cm^-2).

    Returns
    -------
    numpy.ndarray or float
        HR, broadcast shape of (nh, z, photon_index).
    """
    rs = band_count_rates(instrument, soft_band, photon_index, nh, z, nh_galactic)
    rh = band_count_rates(instrument, hard_band, photon_index, nh, z, nh_galactic)
    hr = (rh - rs) / (rh + rs)
    return float(hr) if np.ndim(hr) == 0 else hr


def hr_threshold(instrument, soft_band, hard_band, nh=1e24, z=0.0, photon_index=None):
    """HR of the track at a threshold column (default: Compton thick, 1e24 cm^-2).

    Sources with a higher HR are consistent with ``N_H > nh`` at redshift
    ``z`` (HR rises monotonically with N_H at fixed z). The threshold falls
    with z (the absorption moves out of the band), so the z = 0 value is
    the most conservative one.

    Parameters and returns as :func:`hr_track`.
    """
    return hr_track(instrument, soft_band, hard_band, nh, z, photon_index)


def hr_tracks_table(instrument, soft_band, hard_band, nh_grid=None, z_values=(0.0,),
                    photon_index=None) -> pd.DataFrame:
    """Tracks HR(N_H, z) as a long table (for CSV and figures).

    Parameters
    ----------
    instrument : xsurvey.instrument.Instrument
    soft_band, hard_band : str
    nh_grid : array_like, optional
        Column densities (cm^-2); default 241 log-spaced values 1e20-3e24.
    z_values : array_like
        Redshifts (e.g. ``[0, median_z]`` or ``np.linspace(0, 3, 61)``).
    photon_index : float, optional

    Returns
    -------
    pandas.DataFrame
        ``z, nh, rate_soft, rate_hard, hr`` (rates in ct/s of one module
        for a spectrum of 1 photon cm^-2 s^-1 keV^-1 at 1 keV).
    """
    nh_grid = DEFAULT_NH_GRID if nh_grid is None else np.asarray(nh_grid, dtype=np.float64)
    z_values = np.atleast_1d(np.asarray(z_values, dtype=np.float64))
    nn, zz = np.meshgrid(nh_grid, z_values)
    rs = band_count_rates(instrument, soft_band, photon_index, nn, zz)
    rh = band_count_rates(instrument, hard_band, photon_index, nn, zz)
    return pd.DataFrame({"z": zz.ravel(), "nh": nn.ravel(), "rate_soft": rs.ravel(),
                         "rate_hard": rh.ravel(), "hr": ((rh - rs) / (rh + rs)).ravel()})


def nh_from_hr(instrument, soft_band, hard_band, hr, z=0.0, photon_index=None, nh_grid=None,
               outside="clip", dz=0.05):
    """Column density whose track HR(N_H, z) equals ``hr`` (inverse of the track).

    The track is monotone non-decreasing in N_H at fixed z; it is
    inverted by linear interpolation in log N_H. Per-source redshifts are
    handled by tracks on a redshift grid (step ``dz``) interpolated
    linearly in z.

    Parameters
    ----------
    instrument : xsurvey.instrument.Instrument
    soft_band, hard_band : str
    hr : array_like
        Hardness ratios.
    z : float or array_like
        Redshift(s), broadcast against ``hr``.
    photon_index : float, optional
    nh_grid : array_like, optional
        Column-density grid (cm^-2), default 121 log-spaced values
        1e20-3e24 (0.037 dex; N_H is interpolated linearly in log N_H).
    outside : {"clip", "nan"}
        HR below (above) the track range gives the first (last) grid value
        with ``"clip"`` (read: <= 1e20, >= 3e24), NaN with ``"nan"``.
    dz : float
        Redshift step of the interpolation grid.

    Returns
    -------
    numpy.ndarray
        N_H in cm^-2, broadcast shape of (hr, z).
    """
    nh_grid = DEFAULT_NH_GRID[::2] if nh_grid is None else np.asarray(nh_grid, dtype=np.float64)
    h, zz = np.broadcast_arrays(np.asarray(hr, dtype=np.float64),
                                np.asarray(z, dtype=np.float64))
    shape = h.shape
    h, zz = h.ravel(), zz.ravel()
    finite_z = zz[np.isfinite(zz)]
    z0 = float(finite_z.min()) if finite_z.size else 0.0
    z1 = float(finite_z.max()) if finite_z.size else 0.0
    zgrid = np.linspace(z0, z1, max(2, int(np.ceil((z1 - z0) / dz)) + 1))
    tracks = hr_track(instrument, soft_band, hard_band, nh_grid[None, :], zgrid[:, None],
                      photon_index)
    tracks = np.maximum.accumulate(tracks, axis=1)
    pos = np.clip((zz - z0) / max(zgrid[1] - zgrid[0], 1e-12), 0, zgrid.size - 1 - 1e-9)
    iz = np.floor(np.nan_to_num(pos)).astype(int)
    w = (np.nan_to_num(pos) - iz)[:, None]
    iz1 = np.minimum(iz + 1, zgrid.size - 1)
    track = (1.0 - w) * tracks[iz] + w * tracks[iz1]
    k = (track < h[:, None]).sum(axis=1)
    kk = np.clip(k, 1, nh_grid.size - 1)
    rows = np.arange(h.size)
    t0, t1 = track[rows, kk - 1], track[rows, kk]
    frac = np.where(t1 > t0, (h - t0) / np.where(t1 > t0, t1 - t0, 1.0), 0.0)
    lg = np.log10(nh_grid)
    out = 10.0 ** (lg[kk - 1] + np.clip(frac, 0.0, 1.0) * (lg[kk] - lg[kk - 1]))
    below, above = k == 0, k == nh_grid.size
    if outside == "clip":
        out = np.where(below, nh_grid[0], np.where(above, nh_grid[-1], out))
    elif outside == "nan":
        out = np.where(below | above, np.nan, out)
    else:
        raise ValueError(f"outside must be 'clip' or 'nan', got {outside!r}")
    out = np.where(np.isfinite(h) & np.isfinite(zz), out, np.nan)
    return out.reshape(shape)


# --------------------------------------------------------------------------- fractions
def first_column(table, *names) -> np.ndarray:
    """The first of ``names`` present in ``table`` (a Table, DataFrame or dict), as an array.

    Lets functions accept both :func:`bayesian_hr` dicts (``mode, lo68, ...``)
    and :func:`hardness_table` tables (``hr, hr_lo68, ...``).
    """
    for name in names:
        try:
            return np.asarray(table[name])
        except (KeyError, ValueError):
            continue
    raise ValueError(f"HR table lacks any of the columns {names}")


def _hr_columns(hr_table):
    """(mode, lower limit, upper limit) arrays from a bayesian_hr dict or hardness_table."""
    def get(*names):
        return first_column(hr_table, *names)

    mode = get("mode", "hr").astype(np.float64)
    lo68, hi68 = get("lo68", "hr_lo68").astype(float), get("hi68", "hr_hi68").astype(float)
    lo90, hi90 = get("lo90", "hr_lo90").astype(float), get("hi90", "hr_hi90").astype(float)
    flag = get("flag", "hr_flag").astype(str)
    lower = np.where(flag == "two-sided", lo68,
                     np.where(flag == "lower_limit", lo90, -1.0))
    upper = np.where(flag == "two-sided", hi68,
                     np.where(flag == "upper_limit", hi90, 1.0))
    return mode, lower, upper


def obscured_fractions(hr_table, redshifts, instrument, soft_band, hard_band,
                       nh_thresholds=(1e23, 1e24), photon_index=None,
                       default_redshift=None) -> pd.DataFrame:
    """Obscured and Compton-thick fractions from hardness ratios (method.md §12).

    For every column-density threshold N_t:

    * lower bound -- sources whose HR *lower limit* exceeds the z = 0
      threshold HR(N_t, 0) (the highest threshold at any z: conservative).
      Lower limit = ``lo68`` for two-sided sources, ``lo90`` for
      ``lower_limit`` sources; ``upper_limit`` and ``unconstrained`` sources
      never count;
    * best value -- sources whose HR *mode* exceeds HR(N_t, z_i) at the
      source redshift, or at ``default_redshift`` (default: the median of the
      known redshifts) where z_i is unknown (NaN);
    * upper bound -- sources whose HR *upper limit* exceeds HR(N_t, z_i):
      ``hi68`` for two-sided, ``hi90`` for ``upper_limit``, +1 for
      ``lower_limit`` and ``unconstrained`` sources (they always count).

    Fractions are over the sources with a valid HR (finite mode).

    Parameters
    ----------
    hr_table : dict or table
        :func:`bayesian_hr` output or :func:`hardness_table`.
    redshifts : array_like or None
        Per-source redshift, NaN where unknown (None: all unknown).
    instrument : xsurvey.instrument.Instrument
    soft_band, hard_band : str
    nh_thresholds : sequence of float
        Column densities, cm^-2.
    photon_index : float, optional
    default_redshift : float, optional
        Redshift for sources without one (default: median of the known
        ones, 0 if none is known).

    Returns
    -------
    pandas.DataFrame
        One row per threshold: ``nh_threshold, hr_threshold_z0,
        default_redshift, hr_threshold_default_z, n_sources, n_lower,
        n_best, n_upper, frac_lower, frac_best, frac_upper``.
    """
    mode, lower, upper = _hr_columns(hr_table)
    valid = np.isfinite(mode)
    z = (np.full(mode.shape, np.nan) if redshifts is None
         else np.asarray(redshifts, dtype=np.float64).copy())
    if z.shape != mode.shape:
        raise ValueError(f"redshifts has shape {z.shape}, HR table {mode.shape}")
    known = np.isfinite(z)
    if default_redshift is None:
        default_redshift = float(np.median(z[known])) if known.any() else 0.0
    z[~known] = default_redshift
    zgrid, inverse = np.unique(np.round(z, 3), return_inverse=True)
    rows = []
    n_src = int(valid.sum())
    for nt in nh_thresholds:
        thr0 = hr_threshold(instrument, soft_band, hard_band, nt, 0.0, photon_index)
        thr_z = np.asarray(hr_threshold(instrument, soft_band, hard_band, nt, zgrid,
                                        photon_index))[inverse]
        thr_def = hr_threshold(instrument, soft_band, hard_band, nt, default_redshift,
                               photon_index)
        n_lo = int(np.sum(valid & (lower > thr0)))
        n_best = int(np.sum(valid & (mode > thr_z)))
        n_up = int(np.sum(valid & (upper > thr_z)))
        rows.append({
            "nh_threshold": float(nt), "hr_threshold_z0": float(thr0),
            "default_redshift": float(default_redshift),
            "hr_threshold_default_z": float(thr_def), "n_sources": n_src,
            "n_lower": n_lo, "n_best": n_best, "n_upper": n_up,
            "frac_lower": n_lo / n_src if n_src else np.nan,
            "frac_best": n_best / n_src if n_src else np.nan,
            "frac_upper": n_up / n_src if n_src else np.nan,
        })
    return pd.DataFrame(rows)
