"""Joint replicas: one sky for all bands, determinism, rendering, truth, honest thresholds."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from xsurvey import calibrate, catalog, lognlogs, simulate
from xsurvey.mosaic import make_grid
from xsurvey.tables import write_csv

BANDS = ["3-24", "3-8", "8-24", "8-16", "16-24"]


def _maps(nustar, npix=160, exposure_ks=600.0, bands=BANDS, counts_extra=None):
    """Flat-exposure mosaics of every band with a NuSTAR-like background (FPMA+B)."""
    pix = nustar.pixel_arcsec
    wcs, shape = make_grid((150.0, 2.0), (npix * pix / 60, npix * pix / 60), pix)
    maps = {}
    for b in bands:
        rate = 2 * nustar.background.rate_cts_s_arcmin2 * nustar.band(b).background_share
        bkg = np.full(shape, rate * (pix / 60) ** 2 * exposure_ks * 1e3)
        fcxb = nustar.band(b).fcxb_fraction * bkg
        extra = counts_extra[b] if counts_extra else 0.0
        maps[b] = {"counts": bkg * (1 + extra / bkg.sum()),
                   "exposure": np.full(shape, exposure_ks * 1e3), "background": bkg,
                   "background_nofcxb": bkg - fcxb}
    return wcs, maps


def _model_counts(setup):
    """Mean rendered source counts of each processed band (its elements' sum)."""
    eef_max = setup._eef_max
    per_element = [simulate.expected_source_counts(setup.population, e.columns, e.exposure,
                                                   setup.pixel_arcsec, eef_max)
                   for e in setup.elements]
    return {b: sum(per_element[k] for k in setup.members[b]) for b in setup.bands}


@pytest.fixture(scope="module")
def setup(nustar, population):
    wcs, maps = _maps(nustar)
    draft = simulate.make_setup(maps, wcs, nustar, population, 7, "test")
    # real counts = background + the model's mean source counts -> top-up scale 1
    wcs, maps = _maps(nustar, counts_extra=_model_counts(draft))
    return simulate.make_setup(maps, wcs, nustar, population, 7, "test")


def test_fcxb_scale_matches_real_totals(setup):
    assert [e.band.name for e in setup.elements] == ["3-8", "8-16", "16-24"]
    for e in setup.elements:
        assert e.fcxb_scale == pytest.approx(1.0, rel=1e-6)


def test_expected_source_counts_is_the_mean_of_the_draws(setup):
    rng = np.random.default_rng(0)
    eef_max = setup._eef_max
    mus = np.array([simulate.draw_inputs(setup, rng)["mu"].sum(axis=0) * eef_max
                    for _ in range(400)])
    for k, e in enumerate(setup.elements):
        expected = simulate.expected_source_counts(setup.population, e.columns, e.exposure,
                                                   setup.pixel_arcsec, eef_max)
        # the bright tail makes the sum noisy: compare within 4 standard errors
        assert mus[:, k].mean() == pytest.approx(expected,
                                                 abs=4 * mus[:, k].std() / np.sqrt(len(mus)))


def test_inputs_carry_their_spectra(setup, nustar):
    """Band fluxes and counts of every input are those of its own spectrum."""
    rng = np.random.default_rng(3)
    inp = simulate.draw_inputs(setup, rng)
    flux, rate = nustar.fold(BANDS, inp["photon_index"], inp["nh"], inp["redshift"])
    lo, hi = setup.population.counts_band_kev
    g = inp["photon_index"]
    norm = inp["flux_int"] / (1.602176634e-9 * (hi ** (2 - g) - lo ** (2 - g)) / (2 - g))
    np.testing.assert_allclose(inp["flux"], norm[:, None] * flux, rtol=0.03)
    # elementary counts: 3-8, 8-16, 16-24 keV rates times the exposure at the source
    np.testing.assert_allclose(inp["mu"], norm[:, None] * rate[:, [1, 3, 4]] * 600e3,
                               rtol=0.03)
    np.testing.assert_allclose(inp["flux_ref"], inp["flux"][:, 0])


def test_source_image_follows_the_psf(setup, nustar):
    rng = np.random.default_rng(1)
    img = simulate.source_image(setup, [80.0], [80.0], [2e5], rng)
    yy, xx = np.mgrid[: img.shape[0], : img.shape[1]]
    r = np.hypot(xx - 80, yy - 80) * nustar.pixel_arcsec
    within = img[r <= 180].sum()  # the image edge is at 196"
    assert abs(within - 2e5 * nustar.eef(180.0)) < 5 * np.sqrt(2e5) + 0.01 * within
    # whole-pixel 20" aperture of a pixel-binned PSF: EEF(20") to a few percent
    assert img[r <= 20].sum() / 2e5 == pytest.approx(nustar.eef(20.0), rel=0.04)


def test_source_image_radial_profile(setup, nustar):
    """Counts within 10-90" follow the PSF's EEF (radius table of 2**16 EEF steps)."""
    rng = np.random.default_rng(2)
    mu = 4e5
    img = simulate.source_image(setup, [80.3], [79.8], [mu], rng)
    radius, cos, sin = setup._psf_offsets
    # the tables themselves: radii at the EEF mid-steps, directions uniform
    assert np.all(np.diff(radius) >= 0) and radius.size == 2**simulate.PSF_TABLE_BITS
    assert nustar.eef(radius[radius.size // 2] * nustar.pixel_arcsec) == pytest.approx(
        0.5 * setup._eef_max, rel=1e-3)
    assert abs(cos.mean()) < 1e-12 and abs(sin.mean()) < 1e-12
    # pixel-binned counts: compare with the EEF at radii of whole pixel rings
    yy, xx = np.mgrid[: img.shape[0], : img.shape[1]]
    r_pix = np.hypot(xx - 80.3, yy - 79.8)
    for r_arcsec in (30.0, 60.0, 90.0):
        within = img[r_pix * nustar.pixel_arcsec <= r_arcsec].sum() / mu
        assert within == pytest.approx(nustar.eef(r_arcsec), rel=0.02)


@pytest.mark.parametrize("mean", [0.02, 0.65, 2.5, 7.9, 30.0])
def test_poisson_field_draws_poisson_counts(mean):
    """Inversion (with the CDF beyond its 3-term table) and the bright-pixel path."""

    field = simulate.PoissonField(np.r_[np.zeros(10), np.full(4990, mean)].reshape(50, 100))
    rng = np.random.default_rng(int(mean * 100))
    draws = np.stack([field.add_to(np.zeros((50, 100), np.int64), rng).ravel()
                      for _ in range(200)])
    assert np.all(draws[:, :10] == 0)                     # zero-mean pixels stay empty
    d = draws[:, 10:].ravel()
    obs = np.bincount(d)
    k = np.arange(obs.size)
    expected = stats.poisson.pmf(k, mean) * d.size
    ok = expected > 5
    # pool the tail into one bin
    chi2 = (((obs[ok] - expected[ok]) ** 2 / expected[ok]).sum()
            + (obs[~ok].sum() - (d.size - expected[ok].sum())) ** 2
            / max(d.size - expected[ok].sum(), 1e-9))
    assert stats.chi2.sf(chi2, int(ok.sum())) > 1e-3
    assert d.mean() == pytest.approx(mean, abs=5 * np.sqrt(mean / d.size))
    # the counts are added to what is there
    base = np.ones((50, 100), np.int64)
    assert field.add_to(base, rng).min() >= 1


def test_one_sky_for_all_bands(setup):
    """Composite-band images are the sums of the elementary ones, pixel for pixel, and
    every band's detections come from those images."""
    inputs, images = simulate.replica_sky(setup, 4)
    three_8, eight_16, sixteen_24 = images
    np.testing.assert_array_equal(simulate.band_image(setup, images, "3-24"),
                                  three_8 + eight_16 + sixteen_24)
    np.testing.assert_array_equal(simulate.band_image(setup, images, "8-24"),
                                  eight_16 + sixteen_24)
    np.testing.assert_array_equal(simulate.band_image(setup, images, "3-8"), three_8)
    det, _ = simulate.run_replica(setup, 4)
    for band in ("3-24", "8-24"):
        own = setup.detectors[band].detect_arrays(simulate.band_image(setup, images, band))
        np.testing.assert_array_equal(det["det_ml"][det["band"] == band], own["det_ml"])
    # a source's composite-band counts are the sum of its elementary counts
    assert inputs["mu"].shape == (inputs["x"].size, 3)


def test_replica_is_the_same_sky_whatever_the_order_the_chunking_or_the_bands(
        setup, nustar, population):
    d1, i1 = simulate.run_replica(setup, 5)
    simulate.run_replica(setup, 3)
    d2, i2 = simulate.run_replica(setup, 5)
    for a, b in ((d1, d2), (i1, i2)):
        for k in a:
            np.testing.assert_array_equal(a[k], b[k])
    d3, _ = simulate.run_replica(setup, 6)
    assert len(d3["ra"]) != len(d1["ra"]) or not np.array_equal(d3["ra"], d1["ra"])
    # processing only 3-8 keV: the same sources, and the same 3-8 keV image
    wcs, maps = _maps(nustar, counts_extra=_model_counts(setup))
    only = simulate.make_setup({"3-8": maps["3-8"]}, wcs, nustar, population, 7, "test")
    i_only, img_only = simulate.replica_sky(only, 5)
    i_all, img_all = simulate.replica_sky(setup, 5)
    np.testing.assert_array_equal(i_only["x"], i_all["x"])
    np.testing.assert_array_equal(i_only["flux_int"], i_all["flux_int"])
    np.testing.assert_array_equal(img_only[0], img_all[0])


def test_calibration_tables_identical_for_any_chunking(setup, tmp_path):
    """Chunks of 3 or one chunk of 12: byte-identical calibration tables."""
    whole = simulate.run_replicas(setup, range(12))
    parts = [simulate.run_replicas(setup, range(k, min(k + 3, 12))) for k in range(0, 12, 3)]
    chunked = tuple(pd.concat([p[i] for p in parts], ignore_index=True) for i in (0, 1))
    out = []
    for det, inp in (whole, chunked):
        d = det[det.band == "8-24"]
        curve, thr = calibrate.band_reliability(d, "8-24", [20, np.inf])
        r = calibrate.calibrate_band(d, simulate.band_inputs(inp, "8-24"),
                                     setup.detectors["8-24"].exposure, 1e-6, "8-24", 12, thr)
        path = tmp_path / f"t{len(out)}.csv"
        write_csv(pd.concat([thr, r["completeness"], curve]), path)
        out.append(path.read_bytes())
    assert out[0] == out[1]


def _aperture(d):
    """A toy aperture fraction: 0.3 at the centre, falling to 0 at 30 pixels."""
    return 0.3 * np.clip(1 - np.asarray(d) / 30.0, 0, None)


def test_flux_rule_needs_a_real_share_of_the_counts():
    """A faint input near a noise peak does not make it real; a bright one does."""
    # detection with 40 net counts; input 5 px away giving 0.25 * 40 = 10 counts needs
    # mu * 0.3 * (1 - 5/30) >= 10, i.e. mu >= 40
    for mu, real in ((30.0, False), (45.0, True)):
        det_to_in, sep, share = simulate.match_sources(
            [0.0], [0.0], [40.0], [5.0], [0.0], [mu], [1e-14], 12.0, _aperture)
        assert (det_to_in[0] == 0) == real
        if real:
            assert share[0] == pytest.approx(mu * 0.25 / 40) and sep[0] == pytest.approx(5.0)
    # the papers' rule takes any input within the radius
    det_to_in, _, _ = simulate.match_sources([0.0], [0.0], [40.0], [5.0], [0.0], [1.0],
                                             [1e-16], 12.0, _aperture, rule="position")
    assert det_to_in[0] == 0
    # no positive net counts: never real by flux
    det_to_in, _, _ = simulate.match_sources([0.0], [0.0], [-2.0], [1.0], [0.0], [100.0],
                                             [1e-13], 12.0, _aperture)
    assert det_to_in[0] == -1


def test_flux_rule_is_one_to_one_by_contribution():
    # two detections in one bright source's light: the one it feeds most is real
    det_to_in, _, _ = simulate.match_sources([0.0, 8.0], [0.0, 0.0], [100.0, 30.0], [1.0],
                                             [0.0], [1000.0], [1e-13], 12.0, _aperture)
    assert list(det_to_in) == [0, -1]
    # two inputs feeding one detection: the larger contribution wins, even farther away
    det_to_in, sep, _ = simulate.match_sources([0.0], [0.0], [50.0], [2.0, 6.0], [0.0, 0.0],
                                               [50.0, 500.0], [1e-14, 1e-13], 12.0, _aperture)
    assert det_to_in[0] == 1 and sep[0] == pytest.approx(6.0)
    # position rule: brightest input first, nearest free detection
    det_to_in, _, _ = simulate.match_sources([0.0, 3.0], [0.0, 0.0], [10.0, 10.0],
                                             [2.0, 5.0], [0.0, 0.0], [1.0, 1.0], [1.0, 10.0],
                                             12.0, _aperture, rule="position")
    assert sorted(det_to_in) == [0, 1]
    with pytest.raises(ValueError, match="truth rule"):
        simulate.match_sources([0.0], [0.0], [1.0], [0.0], [0.0], [1.0], [1.0], 12.0,
                               _aperture, rule="nearest")


def test_bright_source_counts():
    net = np.array([32.0, 3.2, -1.0])
    flux = np.array([2e-13, 5e-14, 3e-13])
    assert simulate.bright_source_counts(net, flux, 1e-13, 0.32, 0.985) == pytest.approx(98.5)


@pytest.fixture(scope="module")
def two_sets(setup):
    """Two independent sets of joint replicas: calibration and fresh."""
    cal = simulate.run_replicas(setup, range(0, 300), progress_every=10_000)
    fresh = simulate.run_replicas(setup, range(5000, 5300), progress_every=10_000)
    return cal, fresh


def test_honest_band_thresholds_on_fresh_replicas(two_sets):
    """Per-band 95%/99% thresholds from one set give 5%/1% spurious (flux rule) on another."""
    (det_cal, _), (det_new, _) = two_sets
    for band in ("3-24", "8-24"):
        curve, thr = calibrate.band_reliability(det_cal[det_cal.band == band], band,
                                                [20.0, np.inf], levels=(0.95, 0.99))
        fresh = det_new[det_new.band == band]
        for level in (0.95, 0.99):
            t = float(thr.loc[thr.reliability == level, "det_ml_threshold"].iloc[0])
            above = fresh[fresh.det_ml >= t]
            n = len(above)
            spurious = float((above.input_id < 0).mean())
            sigma = np.sqrt((1 - level) * level / n)
            assert n > 150, (band, level, n)
            assert abs(spurious - (1 - level)) < 3 * sigma + 0.005, (band, level, t, n, spurious)


def test_merged_catalogue_reaches_its_reliability_on_fresh_replicas(two_sets):
    """Per-band thresholds chosen on one set make the band-merged catalogue 95% (99%) real
    on a fresh set, and the calibrated spurious probabilities add up to its spurious count."""

    (det_cal, _), (det_new, _) = two_sets
    curves = pd.concat([calibrate.band_reliability(det_cal[det_cal.band == b], b,
                                                   [20.0, np.inf])[0] for b in BANDS])
    for level in (0.95, 0.99):
        plain = catalog.replica_catalogues(
            det_cal, calibrate.threshold_for_reliability(curves, [level]), level, BANDS, 30.0)
        thr, merged = catalog.merged_thresholds(det_cal, curves, level, BANDS, 30.0)
        assert float(thr.merged_reliability.iloc[0]) >= level
        assert np.all(thr.band_reliability >= level)
        # per-band thresholds alone leave the merged catalogue below its level
        assert plain["real"].mean() < merged["real"].mean()
        table = catalog.merged_reliability(merged, thr, level, min_per_bin=50)
        fresh = catalog.replica_catalogues(det_new, thr, level, BANDS, 30.0)
        n = len(fresh)
        real = float(fresh["real"].mean())
        assert n > 300
        assert real == pytest.approx(level, abs=3 * np.sqrt(level * (1 - level) / n) + 0.003)
        p = catalog.merged_p_spurious(fresh.best_band, fresh.n_bands_passing, fresh.det_ml,
                                      fresh.exposure_ks, table, level)
        assert np.all(np.isfinite(p))
        n_spur, expected = int((~fresh.real).sum()), float(p.sum())
        assert stats.poisson.sf(n_spur - 1, expected) > 0.005
        assert stats.poisson.cdf(n_spur, expected) > 0.005


def test_number_counts_recovered_from_replicas(two_sets, setup):
    """Counts from simulated catalogues reproduce the input counts of the drawn population.

    Thresholds and the counts coverage come from one set of replicas; the counts are
    recovered from the other with the method.md §10 selection.
    """

    (det_cal, inp_cal), (det_new, _) = two_sets
    band = "3-24"
    d_cal = det_cal[det_cal.band == band]
    inp = simulate.band_inputs(inp_cal, band)
    _, thr = calibrate.band_reliability(d_cal, band, [20.0, np.inf], levels=(0.95,))
    bins = calibrate.log_bins(inp.flux[inp.flux > 0].min(), inp.flux.max(), 8)
    cov = calibrate.counts_coverage(d_cal, inp, thr, bins, setup.area_deg2, snr_min=2.5)
    cov_flux, cov_area = lognlogs.coverage_curve(cov, level=0.95)
    sens = calibrate.sensitivity(calibrate.sky_coverage(
        calibrate.completeness(inp, thr, bins),
        calibrate.geometric_areas(setup.detectors[band].exposure,
                                  (setup.pixel_arcsec / 3600) ** 2, [20.0, np.inf])),
        setup.area_deg2)
    half = float(sens.flux_half_area.iloc[0])
    flux_max = 1e-13
    rep = lognlogs.replica_number_counts(det_new[det_new.band == band], thr, cov_flux,
                                         cov_area, half, flux_max, replicas=range(5000, 5300))
    cmp = lognlogs.compare_to_model(rep, setup.population.band_counts(band, drawn=True),
                                    flux_max)
    # the fitted range: from the faintest flux with selected sources up to flux_max
    fitted = cmp[(cmp.flux >= cov_flux[np.nanargmax(cov_area > 0)]) & (cmp.flux < flux_max)]
    assert len(fitted) >= 5
    assert np.all(np.abs(fitted.pull) < 1.5), fitted[["flux", "ratio", "pull"]]
    assert abs(np.median(fitted.ratio) - 1) < 0.1
