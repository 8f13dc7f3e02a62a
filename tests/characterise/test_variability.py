"""Per-epoch rate posteriors and the chi^2 variability test (method.md §13)."""

import numpy as np
import pandas as pd
import pytest
from scipy.special import gammaincc, xlogy

from xsurvey import plotting, simulate
from xsurvey.characterise import figures, hardness, variability
from xsurvey.detect import photometry as ph
from xsurvey.instrument import ComponentPSF
from xsurvey.mosaic import make_grid, tan_wcs
from xsurvey.population import population_from_config

EEF = 0.32
LEVEL = hardness.LEVEL_1SIGMA


def _brute_force(n, b, alpha, level=LEVEL):
    """Mode, HPD and equal-tail interval of s from the density on a fine grid."""
    lam_hi = max(n, b) + 15.0 * np.sqrt(n + 1.0) + 30.0
    s = np.linspace(0.0, (lam_hi - b) / alpha, 2_000_001)
    lam = alpha * s + b
    lp = xlogy(n, lam) - lam
    p = np.exp(lp - lp.max())
    ds = s[1] - s[0]
    cdf = np.cumsum(p) - 0.5 * (p + p[0])
    cdf /= cdf[-1] + 0.5 * p[-1]
    p /= p.sum() * ds
    order = np.argsort(-p)
    k = np.searchsorted(np.cumsum(p[order]) * ds, level)
    inc = order[:k + 1]
    tails = np.interp([(1 - level) / 2, (1 + level) / 2], cdf, s)
    return s[p.argmax()], s[inc].min(), s[inc].max(), tails, ds


CASES = [(0, 5.0, 1e4), (3, 5.0, 1e4), (10, 3.0, 1e4), (50, 40.0, 3e4), (200, 40.0, 3e4),
         (1, 0.0, 100.0), (5, 0.0, 1e3), (10000, 9500.0, 1e5), (10000, 10300.0, 1e5)]


def test_mode_is_analytic():
    rng = np.random.default_rng(0)
    n = rng.poisson(rng.uniform(0, 300, 500)).astype(float)
    b = rng.uniform(0, 200, 500)
    t = rng.uniform(1e4, 1e5, 500)
    post = variability.rate_posterior(n, b, t, EEF)
    np.testing.assert_array_equal(post["mode"], np.maximum(0.0, (n - b) / (EEF * t)))
    assert np.all(post["lo"] <= post["mode"]) and np.all(post["mode"] < post["hi"])


@pytest.mark.parametrize("n,b,alpha", CASES)
def test_intervals_match_numerical_integration(n, b, alpha):
    hpd = variability.rate_posterior(n, b, alpha)
    tail = variability.rate_posterior(n, b, alpha, interval="equal-tail")
    mode, lo, hi, tails, ds = _brute_force(n, b, alpha)
    tol = 3 * ds + 1e-6 * (hi - lo)
    assert float(hpd["mode"]) == pytest.approx(mode, abs=ds)
    assert float(hpd["lo"]) == pytest.approx(lo, abs=tol)
    assert float(hpd["hi"]) == pytest.approx(hi, abs=tol)
    assert float(tail["lo"]) == pytest.approx(tails[0], abs=tol)
    assert float(tail["hi"]) == pytest.approx(tails[1], abs=tol)


def test_hpd_mass_and_equal_density():
    n = np.array([5.0, 50.0, 400.0, 10000.0, 10000.0, 3.0])
    b = np.array([1.0, 20.0, 300.0, 9000.0, 10100.0, 8.0])
    post = variability.rate_posterior(n, b, 1.0)
    lo, hi = post["lo"] + b, post["hi"] + b          # lambda = s + b for alpha = 1
    mass = (gammaincc(n + 1, lo) - gammaincc(n + 1, hi)) / gammaincc(n + 1, b)
    np.testing.assert_allclose(mass, LEVEL, atol=1e-9)
    interior = post["lo"] > 0
    assert interior[:4].all() and not interior[4:].any()
    dens = lambda x: n * np.log(x) - x  # noqa: E731
    np.testing.assert_allclose(dens(lo)[interior], dens(hi)[interior], atol=1e-7)


def test_extreme_inputs_are_finite():
    post = variability.rate_posterior([0, 100, 10000, 20000], [800.0, 1000.0, 10500.0, 0.0],
                                      [1.0, 1.0, 1.0, 1.0])
    assert np.all(np.isfinite(post["hi"])) and np.all(post["hi"] > post["mode"])
    assert float(post["hi"][0]) == pytest.approx(-np.log1p(-LEVEL), rel=1e-3)
    bad = variability.rate_posterior([3, 3], [1.0, 1.0], [0.0, np.nan])
    assert np.all(np.isnan(bad["mode"]))
    with pytest.raises(ValueError):
        variability.rate_posterior([-1], [1.0], [1.0])


def _simulate(rng, m, net_lo, net_hi, factors=None, n_epochs=3):
    """Per-epoch counts: mean net counts per epoch log-uniform in [net_lo, net_hi]."""
    t = rng.uniform(5e4, 2e5, (m, n_epochs))
    net = np.exp(rng.uniform(np.log(net_lo), np.log(net_hi), m))
    rate = net / (EEF * t.mean(axis=1))
    bkg = rng.uniform(30.0, 100.0, (m, 1)) * t / 1e5        # 30-100 ct per 100 ks
    f = np.ones((m, n_epochs)) if factors is None else factors
    return rng.poisson(EEF * t * rate[:, None] * f + bkg), bkg, t


def test_false_positive_rate_constant_sources():
    rng = np.random.default_rng(13)
    n, b, t = _simulate(rng, 3000, 10.0, 50.0)
    res = variability.variability_test(n, b, t, EEF)
    frac = np.mean(res["p_value"] < 0.05)
    print(f"\nconstant sources (10-50 net ct/epoch, 30-100 bkg ct/epoch, 3 epochs): "
          f"{frac:.3f} with p < 0.05")
    assert abs(frac - 0.05) < 0.02
    assert np.all(res["dof"] == 2) and np.all(res["n_epochs"] == 3)


def test_variable_sources_are_flagged():
    rng = np.random.default_rng(14)
    m = 1000
    f = np.ones((m, 3))
    rows = np.arange(m)
    f[rows, rng.integers(0, 3, m)] = 3.0                    # one or two epochs 3x brighter
    two = rng.random(m) < 0.5
    f[rows[two], (np.argmax(f, axis=1)[two] + 1) % 3] = 3.0
    # low state 17-50 net counts per epoch: the bright state has >= 50
    n, b, t = _simulate(rng, m, 50.0 / 3.0, 50.0, factors=f)
    res = variability.variability_test(n, b, t, EEF)
    frac = res["variable"].mean()
    print(f"\nfactor-3 variables (bright state >= 50 net ct): {frac:.3f} flagged")
    assert frac > 0.85


def test_chi2_uses_one_sided_errors():
    n = np.array([[30, 80, 50]])
    b = np.array([[20.0, 20.0, 20.0]])
    t = np.array([[1e5, 1e5, 0.0]])                         # third epoch not observed
    res = variability.variability_test(n, b, t, EEF)
    post = variability.rate_posterior(n[:, :2], b[:, :2], t[:, :2], EEF)
    s_all = (110 - 40) / (EEF * 2e5)
    s, lo, hi = post["mode"][0], post["lo"][0], post["hi"][0]
    expect = (s[0] - s_all) ** 2 / (hi[0] - s[0]) ** 2 + (s[1] - s_all) ** 2 / (s[1] - lo[1]) ** 2
    assert res["rate_all"][0] == pytest.approx(s_all)
    assert res["chi2"][0] == pytest.approx(expect)
    assert res["n_epochs"][0] == 2 and res["dof"][0] == 1
    assert np.isnan(res["rate"][0, 2])
    assert res["ratio_max_min"][0] == pytest.approx(6.0)
    # a single epoch: no test
    one = variability.variability_test(n[:, :1], b[:, :1], t[:, :1], EEF)
    assert np.isnan(one["p_value"][0]) and not one["variable"][0]


def test_tables_and_light_curve_figure(tmp_path):
    rng = np.random.default_rng(2)
    n, b, t = _simulate(rng, 6, 20.0, 60.0)
    t[1, 2] = 0.0
    ids = np.arange(101, 107)
    var = variability.variability_table(n, b, t, EEF, ids=ids, band="3-24")
    assert list(var.colnames) == ["id", "band", *variability.VARIABILITY_COLUMNS]
    assert var["n_epochs"][1] == 2
    lc = variability.light_curve_table(n, b, t, EEF, ids=ids, epochs=["e1", "e2", "e3"],
                                       band="3-24")
    assert len(lc) == 17 and list(lc.colnames) == ["id", "band", "epoch",
                                                   *variability.LC_COLUMNS]
    assert lc["rate"].unit == "ct / s"
    fig = figures.light_curves(lc, ids[:4], var, band="3-24")
    path = tmp_path / "lc.png"
    plotting.save(fig, path)
    assert path.stat().st_size > 0


def test_systematic_error_term():
    # a bright source with +-10% epoch-to-epoch differences (e.g. exposure systematics)
    n = np.array([[3300, 3000, 2700]])
    b = np.full((1, 3), 50.0)
    t = np.full((1, 3), 1e5)
    pure = variability.variability_test(n, b, t, EEF)
    sys = variability.variability_test(n, b, t, EEF, sys_frac=0.1)
    assert pure["variable"][0] and not sys["variable"][0]
    assert sys["chi2"][0] < pure["chi2"][0] / 4


# --------------------------------------------------------------------------- exposure edges
def _exposed_fraction(psf, pixel_arcsec, radius_pix, edge_offset_pix, n=1601):
    """Share of the PSF light in the aperture that falls at x - x_source < edge_offset_pix.

    Independent of the quadrature under test: midpoint rule on a fine Cartesian grid.
    """
    g = ((np.arange(n) + 0.5) / n * 2.0 - 1.0) * radius_pix
    gx, gy = np.meshgrid(g, g)
    r = np.hypot(gx, gy)
    sb = np.where(r <= radius_pix, psf.surface_brightness(r * pixel_arcsec), 0.0)
    return sb[gx < edge_offset_pix].sum() / sb.sum()


def test_psf_weighted_exposure_sharp_edge(nustar):
    pix = nustar.pixel_arcsec
    radius = 20.0 / pix
    t0 = 5e4
    expo = np.zeros((48, 64))
    expo[:, :30] = t0                        # exposed for x < 29.5 (a field-of-view edge)
    flat = np.full_like(expo, t0)
    offsets = np.array([-6.3, -2.5, 0.0, 1.7, 3.5, 7.5, 9.0])   # edge - source, pixels
    x = 29.5 - offsets
    y = np.full(x.shape, 23.3)
    t_eff = ph.psf_weighted_exposure(expo, x, y, radius, nustar.psf, pix)
    expected = np.array([_exposed_fraction(nustar.psf, pix, radius, d) for d in offsets])
    np.testing.assert_allclose(t_eff / t0, expected, atol=4e-3)
    assert t_eff[offsets == 0.0][0] == pytest.approx(0.5 * t0, rel=1e-12)   # symmetry
    assert t_eff[-1] == pytest.approx(t0, rel=1e-12)                       # edge beyond R
    np.testing.assert_allclose(ph.psf_weighted_exposure(flat, x, y, radius, nustar.psf, pix),
                               t0, rtol=1e-12)
    # the exposure at the centre misses the edge: 0 or t0 instead of 0.26..0.81 t0
    centre = ph.value_at(expo, x, y)
    cut = (expected > 0.1) & (expected < 0.9)
    assert cut.sum() == 4
    assert np.all(np.abs(centre[cut] / t0 - expected[cut]) > 0.15)
    # off the map counts as no exposure; same shape as the input positions
    assert ph.psf_weighted_exposure(flat, [0.0], [23.0], radius, nustar.psf, pix)[0] \
        == pytest.approx(t0 * _exposed_fraction(nustar.psf, pix, radius, 0.5), abs=4e-3 * t0)
    assert ph.psf_weighted_exposure(flat, x.reshape(7, 1), y.reshape(7, 1), radius, nustar.psf,
                                    pix).shape == (7, 1)


def _edge_epoch_maps(psf, pix, exposures, edge_epoch, edge_offset_pix, rate, bkg_rate, rng,
                     n_side=40, stamp=32):
    """Epoch mosaics of n_side^2 copies of one constant source, one per stamp.

    In ``edge_epoch`` every stamp's exposure is zero on pixels whose centre lies more than
    ``edge_offset_pix`` (a half-integer: a pixel boundary) to the right of the source: the
    source's light landing there is lost, like light falling off the detector. Counts are
    Poisson draws of ``rate * PSF * t + bkg_rate * t`` per pixel.
    """
    kern = psf.kernel(pix)                              # source at the central pixel centre
    half = kern.shape[0] // 2
    c = stamp // 2 - 1
    src = np.zeros((stamp, stamp))
    src[c - half:c + half + 1, c - half:c + half + 1] = kern
    cols = np.arange(stamp)
    maps = []
    for e, t in enumerate(exposures):
        t_stamp = np.full((stamp, stamp), float(t))
        if e == edge_epoch:
            t_stamp[:, cols - c > edge_offset_pix] = 0.0
        t_map = np.tile(t_stamp, (n_side, n_side))
        bkg = bkg_rate * t_map
        mu = np.tile(rate * src * t_stamp, (n_side, n_side)) + bkg
        maps.append({"counts": rng.poisson(mu).astype(np.float64), "background": bkg,
                     "exposure": t_map})
    pos = np.arange(n_side) * stamp + c
    x, y = (v.ravel().astype(float) for v in np.meshgrid(pos, pos))
    return maps, x, y


def test_constant_source_at_an_exposure_edge_is_not_variable(nustar):
    """A constant source cut by a field-of-view edge in one epoch: calibrated with t_eff."""

    pix = nustar.pixel_arcsec
    # the instrument PSF truncated at 35": copies 32 pixels (79") apart do not overlap
    psf = ComponentPSF(nustar.psf.components, kernel_radius_arcsec=35.0)
    rng = np.random.default_rng(21)
    exposures = (5e4, 6e4, 4e4)
    rate = 60.0 / (EEF * 5e4)                 # 60 net ct per 50 ks in the aperture
    bkg_rate = 40.0 / (np.pi * (20.0 / pix) ** 2 * 5e4)    # 40 bkg ct per 50 ks
    maps, x, y = _edge_epoch_maps(psf, pix, exposures, 1, 1.5, rate, bkg_rate, rng)
    wcs = tan_wcs((150.0, 2.0), maps[0]["counts"].shape, pix)
    ra, dec = wcs.wcs_pix2world(x, y, 0)
    aperture = ph.Aperture(radius_pix=20.0 / pix, eef=float(psf.eef(20.0)), cf=1.0)
    lost = 1.0 - _exposed_fraction(psf, pix, aperture.radius_pix, 1.5)
    # with the PSF: PSF-weighted exposures (no neighbours within 60")
    n, b, t = variability.epoch_photometry(maps, wcs, ra, dec, aperture, psf,
                                           deblend_radius_arcsec=60.0)
    np.testing.assert_allclose(t[:, 0], 5e4, rtol=1e-9)
    np.testing.assert_allclose(t[:, 1] / 6e4, 1.0 - lost, atol=4e-3)
    res = variability.variability_test(n, b, t, aperture.eef)
    fp_eff = np.mean(res["p_value"] < 0.05)
    # without: the exposure at the centre, as before
    n_c, b_c, t_c = variability.epoch_photometry(maps, wcs, ra, dec, aperture)
    np.testing.assert_array_equal(n_c, n)
    np.testing.assert_allclose(t_c[:, 1], 6e4)
    fp_c = np.mean(variability.variability_test(n_c, b_c, t_c, aperture.eef)["p_value"] < 0.05)
    print(f"\nconstant source, {lost:.0%} of its aperture light off the detector in 1 of 3 "
          f"epochs, {n.shape[0]} trials: p < 0.05 in {fp_eff:.3f} (PSF-weighted exposure), "
          f"{fp_c:.3f} (exposure at the centre)")
    assert abs(fp_eff - 0.05) < 0.02
    assert fp_c > 0.25
    # a position on an unexposed pixel has no measurement in that epoch (PSF wings only)
    ra2, dec2 = wcs.wcs_pix2world(x[:3] + 2.0, y[:3], 0)
    _, _, t2 = variability.epoch_photometry(maps, wcs, ra2, dec2, aperture, psf,
                                            deblend_radius_arcsec=60.0)
    assert np.all(t2[:, 1] == 0.0) and np.all(t2[:, [0, 2]] > 0.0)
    assert np.all(ph.psf_weighted_exposure(maps[1]["exposure"], x[:3] + 2.0, y[:3],
                                           aperture.radius_pix, psf, pix) > 0.3 * 6e4)


def _epoch_survey(nustar, npix=220, exposures_ks=(150.0, 100.0, 50.0), band="3-24"):
    """Three epochs of one flat field (epoch maps) and the replica setup of their stack."""


    pix = nustar.pixel_arcsec
    wcs, shape = make_grid((150.0, 2.0), (npix * pix / 60, npix * pix / 60), pix)
    rate = 2 * nustar.background.rate_cts_s_arcmin2 * (pix / 60) ** 2
    share = nustar.band(band).fcxb_fraction
    epochs = [{"exposure": np.full(shape, t * 1e3), "background": np.full(shape, rate * t * 1e3),
               "background_nofcxb": np.full(shape, rate * t * 1e3 * (1 - share))}
              for t in exposures_ks]
    stack = {k: sum(e[k] for e in epochs) for k in epochs[0]}
    # a dense sky (the seed papers' counts, one spectrum): many constant sources per replica
    population = population_from_config(
        {"mode": "paper", "flux_min": 3e-15, "flux_max": 1e-11,
         "counts": {"band_kev": [3.0, 24.0], "shape": "broken_power_law", "norm_deg2": 79.0,
                    "flux_ref": 1e-13, "flux_break": 1.5e-14, "slope_bright": 1.5,
                    "slope_faint": 0.6}}, nustar)
    setup = simulate.make_setup({band: {"counts": stack["background"], **stack}}, wcs, nustar,
                                population, 11, "t")
    thresholds = pd.DataFrame({"band": [band], "exp_lo_ks": [20.0], "exp_hi_ks": [np.inf],
                               "reliability": [0.95], "det_ml_threshold": [8.0],
                               "n_detected": [0]})
    return setup, epochs, thresholds


def test_null_p_values_calibrate_the_variability_threshold(nustar):
    """A threshold calibrated on per-epoch replicas flags 5% of fresh constant sources.

    Detected constant sources are tested at their detected positions, so the null
    distribution includes the selection; the calibrated threshold must give the target
    false-positive rate on independent replicas (binomial errors).
    """
    setup, epochs, thresholds = _epoch_survey(nustar)
    aperture = ph.Aperture.from_instrument(nustar, "3-24")
    null = variability.null_p_values(setup, epochs, thresholds, aperture, nustar.psf,
                                     range(80), sys_frac=0.05)
    again = variability.null_p_values(setup, epochs, thresholds, aperture, nustar.psf,
                                      range(3), sys_frac=0.05)
    np.testing.assert_array_equal(again, null[:again.size])          # replica streams
    assert null.size > 800 and np.all((null >= 0) & (null <= 1))
    p_cal = variability.calibrated_p_threshold(null, 0.05)
    assert np.mean(null < p_cal) == pytest.approx(0.05, abs=1.0 / null.size)
    fresh = variability.null_p_values(setup, epochs, thresholds, aperture, nustar.psf,
                                      range(1000, 1080), sys_frac=0.05)
    k = int(np.sum(fresh < p_cal))
    assert abs(k - 0.05 * fresh.size) < 3 * np.sqrt(0.05 * 0.95 * fresh.size)
    assert np.isnan(variability.calibrated_p_threshold([]))
