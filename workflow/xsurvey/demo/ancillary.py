"""The demo's ancillary catalogues: an XMM-like soft X-ray list and an optical i-band
catalogue with spectroscopic redshifts."""

from __future__ import annotations

import numpy as np
from astropy.table import Table

from xsurvey.demo.sky import _need, _rng, _seed, _sky_region, _spectra
from xsurvey.instrument.core import Instrument
from xsurvey.population.counts import BrokenPowerLawCounts
from xsurvey.population.sky import draw_positions, draw_sources, region_area_deg2

#: Cumulative slope of the unrelated soft-X-ray sources' counts (Euclidean).
SOFT_EXTRA_SLOPE = 1.5


#: dlog10(dN/dm)/dm of the optical field objects.
OPTICAL_COUNT_SLOPE = 0.33


# --------------------------------------------------------------------------- ancillary
def _scatter(rng, ra, dec, sigma_arcsec):
    """Gaussian positional scatter of sigma (arcsec) per coordinate."""
    n = np.size(ra)
    s = np.broadcast_to(np.asarray(sigma_arcsec, float), (n,)) / 3600.0
    d_dec = rng.standard_normal(n) * s
    d_ra = rng.standard_normal(n) * s / np.cos(np.radians(dec))
    return (np.asarray(ra) + d_ra) % 360.0, np.asarray(dec) + d_dec


def _soft_fluxes(instrument, truth, e_lo, e_hi):
    flux, _ = instrument.fold([(e_lo, e_hi)], *_spectra(truth))
    return np.asarray(truth["norm"], dtype=float) * flux[:, 0]


def _spectroscopic_redshifts(rng, demo_cfg, mag, truth_id, truth):
    """Spectroscopic redshifts of optical objects (NaN where none was measured).

    Objects with ``mag < demo.optical.redshift_mag_limit`` are measured with
    probability ``redshift_completeness``; counterparts of hard truth
    sources (``truth_id >= 0``) get their truth redshift, other objects the
    redshift of a random truth source (the population's distribution).
    """
    ocfg = _need(demo_cfg, "optical")
    measured = ((mag < float(_need(ocfg, "redshift_mag_limit", "demo.optical")))
                & (rng.random(mag.size)
                   < float(_need(ocfg, "redshift_completeness", "demo.optical"))))
    pool = np.asarray(truth["redshift"], float)
    z = rng.choice(pool, mag.size) if pool.size else np.full(mag.size, np.nan)
    own = truth_id >= 0
    z[own] = pool[np.searchsorted(np.asarray(truth["id"], np.int64), truth_id[own])]
    return np.where(measured, z, np.nan)


def make_ancillary_catalogs(instrument: Instrument, truth: Table, demo_cfg: dict):
    """Soft-X-ray and optical catalogues of the demo sky, with their truth.

    Soft X-ray (XMM-like, ``demo.softx``): every truth source whose flux in
    ``band_kev`` (its own spectrum) exceeds ``flux_limit``, plus unrelated
    soft sources (surface density ``extra_density_deg2`` above the limit,
    Euclidean counts, uniform over the sky region). Each gets a positional
    error ``pos_err`` uniform in ``pos_err_arcsec`` and its catalogued
    position is scattered by ``N(0, pos_err)`` *per coordinate* (``pos_err``
    is the 1-sigma error of RA*cos(Dec) and of Dec; the radial offset is
    Rayleigh distributed with scale ``pos_err``).

    Optical (i band, ``demo.optical``): field objects with Poisson number of
    mean ``field_density_deg2 * area``, ``dN/dm`` proportional to
    ``10**(0.33 m)`` below ``mag_limit``, uniform positions; and the true
    counterparts of a random ``counterpart_fraction`` of all X-ray sources
    (hard truth and soft extras) with ``m = 2.5 (X/O - log10 f_X - C)``,
    ``X/O ~ N(xo_mean, xo_sigma)``, ``C = xo_constant`` and ``f_X`` the
    source's flux in the soft band, kept when ``m < mag_limit``, positions
    scattered by ``pos_err_arcsec`` per coordinate around the true X-ray
    position. Spectroscopic redshifts ``z_spec``: objects brighter than
    ``redshift_mag_limit`` get one with probability
    ``redshift_completeness`` -- the truth redshift for counterparts of hard
    truth sources, the redshift of a random truth source for the others (NaN
    otherwise).

    Catalogue rows are sorted by RA and numbered from 1.

    Parameters
    ----------
    instrument : Instrument
    truth : astropy.table.Table
        From :func:`make_demo_sky`.
    demo_cfg : dict
        ``demo`` section.

    Returns
    -------
    softx : astropy.table.Table
        ``id``, ``ra``, ``dec`` (deg), ``pos_err`` (arcsec, 1-sigma per
        coordinate), ``flux_soft`` (erg cm^-2 s^-1 in ``band_kev``).
    softx_truth : astropy.table.Table
        ``id``, ``truth_id`` (hard truth id or -1 for unrelated soft sources),
        ``ra_true``, ``dec_true``, ``has_counterpart`` (a counterpart was
        drawn, whatever its magnitude), ``mag_counterpart`` (NaN if none).
    optical : astropy.table.Table
        ``id``, ``ra``, ``dec`` (deg), ``pos_err`` (arcsec, per coordinate),
        ``mag_i``, ``z_spec``.
    optical_truth : astropy.table.Table
        ``id``, ``truth_id`` (-1 unless the counterpart of a hard truth
        source), ``softx_id`` (soft catalogue id of its X-ray source, or -1),
        ``counterpart`` (bool).
    """
    seed = _seed(demo_cfg)
    center, size = _sky_region(demo_cfg)
    area = region_area_deg2(size)
    scfg = _need(demo_cfg, "softx")
    ocfg = _need(demo_cfg, "optical")
    e_lo, e_hi = (float(v) for v in _need(scfg, "band_kev", "demo.softx"))
    limit = float(_need(scfg, "flux_limit", "demo.softx"))
    err_lo, err_hi = (float(v) for v in _need(scfg, "pos_err_arcsec", "demo.softx"))
    extra_density = float(_need(scfg, "extra_density_deg2", "demo.softx"))

    # soft X-ray list
    rng_s = _rng(seed, "ancillary", "softx")
    soft_true = _soft_fluxes(instrument, truth, e_lo, e_hi)
    det = soft_true > limit
    extra_model = BrokenPowerLawCounts(extra_density, limit, limit, SOFT_EXTRA_SLOPE,
                                       SOFT_EXTRA_SLOPE, limit, 1e6 * limit)
    extras = draw_sources(rng_s, extra_model, center_deg=center, size_arcmin=size)
    n_hard, n_extra = len(truth), len(extras)
    # X-ray population = all hard truth sources + soft extras
    x_ra = np.concatenate([np.asarray(truth["ra"], float), np.asarray(extras["ra"], float)])
    x_dec = np.concatenate([np.asarray(truth["dec"], float), np.asarray(extras["dec"], float)])
    x_flux = np.concatenate([soft_true, np.asarray(extras["flux"], float)])
    x_truth = np.concatenate([np.asarray(truth["id"], np.int64), np.full(n_extra, -1, np.int64)])
    in_soft = np.concatenate([det, np.ones(n_extra, dtype=bool)])
    rows = np.flatnonzero(in_soft)
    pos_err = rng_s.uniform(err_lo, err_hi, rows.size)
    s_ra, s_dec = _scatter(rng_s, x_ra[rows], x_dec[rows], pos_err)
    order = np.argsort(s_ra, kind="stable")
    rows, pos_err, s_ra, s_dec = rows[order], pos_err[order], s_ra[order], s_dec[order]
    softx_id = np.full(x_ra.size, -1, dtype=np.int64)
    softx_id[rows] = np.arange(1, rows.size + 1)

    # optical catalogue
    rng_o = _rng(seed, "ancillary", "optical")
    mag_limit = float(_need(ocfg, "mag_limit", "demo.optical"))
    opt_err = float(_need(ocfg, "pos_err_arcsec", "demo.optical"))
    n_field = int(rng_o.poisson(float(_need(ocfg, "field_density_deg2", "demo.optical")) * area))
    m_field = mag_limit + np.log10(1.0 - rng_o.random(n_field)) / OPTICAL_COUNT_SLOPE
    f_ra, f_dec = draw_positions(rng_o, n_field, center, size)
    has_cp = rng_o.random(x_ra.size) < float(_need(ocfg, "counterpart_fraction", "demo.optical"))
    xo = rng_o.normal(float(_need(ocfg, "xo_mean", "demo.optical")),
                      float(_need(ocfg, "xo_sigma", "demo.optical")), x_ra.size)
    mag_cp = 2.5 * (xo - np.log10(np.maximum(x_flux, 1e-300))
                    - float(_need(ocfg, "xo_constant", "demo.optical")))
    mag_cp = np.where(has_cp, mag_cp, np.nan)
    cp = np.flatnonzero(has_cp & (mag_cp < mag_limit))
    c_ra, c_dec = _scatter(rng_o, x_ra[cp], x_dec[cp], opt_err)

    o_ra = np.concatenate([f_ra, c_ra])
    o_dec = np.concatenate([f_dec, c_dec])
    o_mag = np.concatenate([m_field, mag_cp[cp]])
    o_truth = np.concatenate([np.full(n_field, -1, np.int64), x_truth[cp]])
    o_soft = np.concatenate([np.full(n_field, -1, np.int64), softx_id[cp]])
    o_cp = np.concatenate([np.zeros(n_field, bool), np.ones(cp.size, bool)])
    o_z = _spectroscopic_redshifts(_rng(seed, "ancillary", "redshift"), demo_cfg, o_mag,
                                   o_truth, truth)
    oo = np.argsort(o_ra, kind="stable")
    o_ids = np.arange(1, oo.size + 1, dtype=np.int64)

    softx = Table({"id": np.arange(1, rows.size + 1, dtype=np.int64), "ra": s_ra, "dec": s_dec,
                   "pos_err": pos_err, "flux_soft": x_flux[rows]})
    softx_truth = Table({"id": softx["id"].copy(), "truth_id": x_truth[rows],
                         "ra_true": x_ra[rows], "dec_true": x_dec[rows],
                         "has_counterpart": has_cp[rows], "mag_counterpart": mag_cp[rows]})
    optical = Table({"id": o_ids, "ra": o_ra[oo], "dec": o_dec[oo],
                     "pos_err": np.full(oo.size, opt_err), "mag_i": o_mag[oo],
                     "z_spec": o_z[oo]})
    optical_truth = Table({"id": o_ids.copy(), "truth_id": o_truth[oo], "softx_id": o_soft[oo],
                           "counterpart": o_cp[oo]})
    for t in (softx, optical):
        t["ra"].unit = t["dec"].unit = "deg"
        t["pos_err"].unit = "arcsec"
    softx["flux_soft"].unit = "erg / (cm2 s)"
    optical["mag_i"].unit = "mag"
    softx.meta.update({"E_MIN": e_lo, "E_MAX": e_hi, "FLUXLIM": limit, "AREA": area})
    optical.meta.update({"MAGLIM": mag_limit, "AREA": area})
    softx_truth.meta["N_HARD"] = n_hard
    return softx, softx_truth, optical, optical_truth
