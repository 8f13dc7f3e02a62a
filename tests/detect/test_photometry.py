"""Tests of xsurvey.detect.photometry: exact apertures, Gehrels limits, forced photometry."""

from pathlib import Path

import numpy as np
import pytest
from astropy import units as u
from scipy.stats import chi2

from xsurvey.detect import photometry as ph
from xsurvey.instrument import load_instrument

from ..conftest import place

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def nustar():
    return load_instrument(ROOT / "resources" / "instruments" / "nustar.yaml")


# --- Gehrels (1986) -----------------------------------------------------------
# Published values, Gehrels 1986 ApJ 303, 336, tables 1 and 2.
# S = 1 (CL 0.8413): upper and lower limits.
GEHRELS_S1_UPPER = {0: 1.841, 1: 3.300, 2: 4.638, 3: 5.918, 4: 7.163, 5: 8.382, 10: 14.27}
GEHRELS_S1_LOWER = {1: 0.173, 2: 0.708, 3: 1.367, 4: 2.086, 5: 2.840, 10: 6.891}
# S = 1.645 (CL 0.95): upper limits; lower limits where the approximation holds.
GEHRELS_S1645_UPPER = {0: 2.996, 1: 4.744, 2: 6.296, 5: 10.51, 10: 16.96}
GEHRELS_S1645_LOWER = {5: 1.970, 10: 5.425}


def test_gehrels_ten_counts_one_sigma():
    assert ph.gehrels_upper(10) == pytest.approx(14.27, rel=0.01)
    assert ph.gehrels_lower(10) == pytest.approx(6.89, rel=0.01)


@pytest.mark.parametrize("n,expected", GEHRELS_S1_UPPER.items())
def test_gehrels_upper_table1(n, expected):
    assert ph.gehrels_upper(n, 1.0) == pytest.approx(expected, rel=0.01)


@pytest.mark.parametrize("n,expected", GEHRELS_S1645_UPPER.items())
def test_gehrels_upper_table1_95(n, expected):
    assert ph.gehrels_upper(n, 1.645) == pytest.approx(expected, rel=0.01)


@pytest.mark.parametrize("n,expected", GEHRELS_S1_LOWER.items())
def test_gehrels_lower_table2(n, expected):
    assert ph.gehrels_lower(n, 1.0) == pytest.approx(expected, rel=0.03)


@pytest.mark.parametrize("n,expected", GEHRELS_S1645_LOWER.items())
def test_gehrels_lower_table2_95(n, expected):
    assert ph.gehrels_lower(n, 1.645) == pytest.approx(expected, rel=0.03)


def test_gehrels_vectorised_and_exact_poisson_limits():
    n = np.arange(0, 200)
    up = ph.gehrels_upper(n)
    lo = ph.gehrels_lower(n)
    assert up.shape == lo.shape == n.shape
    assert lo[0] == 0.0 and np.all(lo >= 0) and np.all(lo <= n) and np.all(up > n)
    # Against the exact Poisson limits (chi-square quantiles), CL 0.8413 one-sided.
    cl = 0.841345
    exact_up = chi2.ppf(cl, 2 * (n + 1)) / 2
    exact_lo = np.where(n > 0, chi2.ppf(1 - cl, np.maximum(2 * n, 1)) / 2, 0.0)
    np.testing.assert_allclose(up, exact_up, rtol=0.01)
    np.testing.assert_allclose(lo[3:], exact_lo[3:], rtol=0.01)
    # Non-integer counts (exact sub-pixel apertures) are accepted and monotone.
    x = np.linspace(0, 50, 501)
    assert np.all(np.diff(ph.gehrels_upper(x)) > 0)
    assert np.all(np.diff(ph.gehrels_lower(x)) >= 0)


def test_net_errors_and_upper_limit():
    hi, lo = ph.net_errors([10.0, 0.0])
    np.testing.assert_allclose(hi, [ph.gehrels_upper(10) - 10, ph.gehrels_upper(0)])
    np.testing.assert_allclose(lo, [10 - ph.gehrels_lower(10), 0.0])
    # 90% upper limit on net counts: lambda_u(N; 1.645) - B, floored at zero.
    ul = ph.net_upper_limit([10.0, 2.0], [4.0, 20.0])
    assert ul[0] == pytest.approx(ph.gehrels_upper(10, 1.645) - 4.0)
    assert ul[1] == 0.0


# --- apertures ---------------------------------------------------------------
def test_aperture_sum_is_exact_area():
    ones = np.ones((60, 60))
    r = 20.0 / 2.4588
    x = np.array([30.0, 30.37, 29.5])
    y = np.array([30.0, 29.81, 30.5])
    np.testing.assert_allclose(ph.aperture_sum(ones, x, y, r), np.pi * r * r, rtol=1e-12)
    # Off the image the missing part counts as zero.
    # (pixel 0 spans -0.5..0.5, so the image edge is at x = -0.5).
    assert ph.aperture_sum(ones, [-0.5], [30.0], r)[0] == pytest.approx(0.5 * np.pi * r * r,
                                                                        rel=1e-9)
    assert ph.aperture_sum(ones, [], [], r).shape == (0,)


def test_aperture_sum_matches_photutils_exact():
    photutils = pytest.importorskip("photutils.aperture")
    rng = np.random.default_rng(0)
    img = rng.poisson(1.3, (120, 120)).astype(float)
    x, y = rng.uniform(15, 105, 30), rng.uniform(15, 105, 30)
    ref = photutils.CircularAperture(np.c_[x, y], 8.13).do_photometry(img, method="exact")[0]
    np.testing.assert_allclose(ph.aperture_sum(img, x, y, 8.13), ref, rtol=1e-12)


def test_aperture_sums_equal_two_single_sums():
    rng = np.random.default_rng(5)
    counts = rng.poisson(1.3, (90, 110))
    bkg = rng.uniform(0.1, 2.0, counts.shape)
    x, y = rng.uniform(-3, 113, 40), rng.uniform(-3, 93, 40)
    n, b = ph.aperture_sums(counts, bkg, x, y, 8.13)
    np.testing.assert_array_equal(n, ph.aperture_sum(counts, x, y, 8.13))
    np.testing.assert_allclose(b, ph.aperture_sum(bkg, x, y, 8.13), rtol=1e-15)
    # A map with negative pixels is summed separately (no square root of it).
    signed = bkg - 1.0
    _, s = ph.aperture_sums(counts, signed, x, y, 8.13)
    np.testing.assert_array_equal(s, ph.aperture_sum(signed, x, y, 8.13))
    # Integer and float32 maps are read as they are, with the same result.
    for image in (counts.astype(np.int32), counts.astype(np.float32), counts.astype(">i4")):
        np.testing.assert_array_equal(ph.aperture_sum(image, x, y, 8.13), n)
    empty = ph.aperture_sums(counts, bkg, [], [], 8.13)
    assert empty[0].shape == empty[1].shape == (0,)


def test_value_at_nearest_pixel():
    img = np.arange(12.0).reshape(3, 4)
    np.testing.assert_array_equal(ph.value_at(img, [0.2, 3.4, 1.6, -0.7], [0.0, 2.3, 0.6, 1.0]),
                                  [0.0, 11.0, 6.0, 0.0])


def test_aperture_net_counts_equal_eef_times_total(nustar):
    """The 20" aperture holds EEF(20") of a source's counts (exact aperture, pixelised PSF)."""
    kernel = nustar.psf_kernel()
    total = 1e4
    img = place((301, 301), [(150, 150, total)], kernel)
    ap = ph.Aperture.from_instrument(nustar, "3-24")
    assert ap.eef == pytest.approx(0.32, abs=1e-3)
    n = ph.aperture_sum(img, [150.0], [150.0], ap.radius_pix)[0]
    assert n == pytest.approx(ap.eef * total, rel=0.005)
    # Same in expectation for Poisson data on a background: mean net = EEF * total.
    rng = np.random.default_rng(11)
    bkg = np.full(img.shape, 0.5)
    cut = (slice(130, 171), slice(130, 171))
    draws = rng.poisson((img + bkg)[cut], size=(400, 41, 41)).astype(float)
    row = np.hstack(list(draws))                  # 400 cut-outs side by side
    xs = 20.0 + 41.0 * np.arange(400)
    n = ph.aperture_sum(row, xs, np.full(400, 20.0), ap.radius_pix)
    b = 0.5 * np.pi * ap.radius_pix**2
    net = n - b
    assert net.mean() == pytest.approx(ap.eef * total, abs=3 * net.std() / np.sqrt(400))


def test_gehrels_interval_coverage_isolated_source(nustar):
    """1-sigma Gehrels interval on net counts covers the aperture-expected net 68 +- 5%."""
    kernel = nustar.psf_kernel()
    total = 300.0
    src = place((41, 41), [(20, 20, total)], kernel)
    bkg_level = 0.3
    ap = ph.Aperture.from_instrument(nustar, "3-24")
    truth = ap.eef * total                         # aperture-expected net counts
    b = bkg_level * np.pi * ap.radius_pix**2
    rng = np.random.default_rng(2024)
    ndraw = 2000
    draws = rng.poisson(src + bkg_level, size=(ndraw, 41, 41)).astype(float)
    row = np.hstack(list(draws))
    n = ph.aperture_sum(row, 20.0 + 41.0 * np.arange(ndraw), np.full(ndraw, 20.0),
                        ap.radius_pix)
    hi, lo = ph.net_errors(n)
    net = n - b
    covered = (net - lo <= truth) & (truth <= net + hi)
    assert covered.mean() == pytest.approx(0.68, abs=0.05)


# --- derived quantities --------------------------------------------------------
def test_rate_flux_snr():
    assert ph.count_rate(100.0, 2e5) == pytest.approx(5e-4)
    assert np.isnan(ph.count_rate(1.0, 0.0))
    assert ph.aperture_corrected_flux(5e-4, 4.86e-11, 0.32) == pytest.approx(
        5e-4 * 4.86e-11 / 0.32)
    assert ph.signal_to_noise(30.0, 50.0, 20.0) == pytest.approx(30 / np.sqrt(70))
    assert np.isnan(ph.signal_to_noise(0.0, 0.0, 0.0))


def test_forced_photometry_columns_and_values(nustar):
    kernel = nustar.psf_kernel()
    shape = (201, 201)
    t = 1e5
    cf = nustar.cf("3-24")
    flux = 2e-13
    total = flux / cf * t
    model = place(shape, [(100, 100, total)], kernel)
    bkg = np.full(shape, 0.2)
    expo = np.full(shape, t)
    ap = ph.Aperture.from_instrument(nustar, "3-24")
    tab = ph.forced_photometry(model + bkg, bkg, expo, [100.0, 40.0], [100.0, 40.0], ap)
    assert tab.colnames == list(ph.FORCED_COLUMNS)
    for name, (unit, desc) in ph.FORCED_COLUMNS.items():
        assert tab[name].description == desc
        assert tab[name].unit == (u.Unit(unit) if unit else None)
    assert tab["flux"].unit == u.erg / u.cm**2 / u.s
    assert tab["exposure_ks"][0] == pytest.approx(100.0)
    # Noise-free source: flux recovered through the aperture correction.
    assert tab["flux"][0] == pytest.approx(flux, rel=0.01)
    assert tab["rate"][0] == pytest.approx(tab["net"][0] / t)
    # Faint position (PSF wing only): net = the wing counts; upper limit
    # = lambda_u(N; 1.645) - B.
    wing = ph.aperture_sum(model, [40.0], [40.0], ap.radius_pix)[0]
    assert 0 < tab["net"][1] == pytest.approx(wing, rel=1e-5)
    assert tab["net_ul"][1] == pytest.approx(ph.gehrels_upper(tab["counts"][1], 1.645)
                                             - tab["bkg"][1])
    assert tab["flux_ul"][1] == pytest.approx(tab["net_ul"][1] / t * ap.cf / ap.eef)
    d = ph.forced_photometry(model + bkg, bkg, expo, [100.0], [100.0], ap, as_table=False)
    assert set(d) == set(ph.FORCED_COLUMNS)
