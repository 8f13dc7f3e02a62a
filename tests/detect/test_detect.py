"""Tests of xsurvey.detect: DET_ML, smoothing, peaks, deblending, the catalogue."""

from pathlib import Path

import mpmath
import numpy as np
import pytest
import sep
from astropy import units as u
from astropy.wcs import WCS
from scipy import ndimage
from scipy.optimize import brentq, nnls
from scipy.signal import convolve2d
from scipy.special import gammainc, gammaincinv

from xsurvey import detect, mosaic
from xsurvey.detect import DETECTION_COLUMNS, Detector, aperture_sum, det_ml, detect_sources
from xsurvey.instrument import load_instrument

from ..conftest import place

ROOT = Path(__file__).resolve().parents[2]
PIX = 2.4588  # arcsec


@pytest.fixture(scope="module")
def nustar():
    return load_instrument(ROOT / "resources" / "instruments" / "nustar.yaml")


@pytest.fixture(scope="module")
def kernel(nustar):
    return nustar.psf_kernel()


def tan_wcs(n: int) -> WCS:
    return mosaic.tan_wcs((150.0, 2.0), (n, n), PIX)


def bkg_per_pixel(exposure_s, rate=2e-3):
    """NuSTAR background, ~1e-3 ct/s/arcmin^2 per module, two modules (3-24 keV)."""
    return rate * (PIX / 60.0) ** 2 * exposure_s


# --- DET_ML --------------------------------------------------------------------
def test_det_ml_matches_mpmath_over_wide_range():
    mpmath.mp.dps = 40
    counts = [1, 2, 3, 5, 10, 30, 100, 300, 1e3, 3e3, 1e4, 3e4, 1e5, 3e5, 1e6]
    targets = np.geomspace(1e-3, 1e5, 17)
    checked = 0
    for n in counts:
        for target in targets:
            def f(log_b, n=n, target=target):
                return det_ml(n, np.exp(log_b)) - target

            lo, hi = np.log(1e-300), np.log(10 * n + 100)
            if f(lo) < 0:          # DET_ML this large needs B < 1e-300 (not representable)
                continue
            b = np.exp(brentq(f, lo, hi, xtol=1e-13))
            ours = det_ml(n, b)
            ref = float(-mpmath.log(mpmath.gammainc(n, 0, b, regularized=True)))
            assert np.isfinite(ours)
            assert ours == pytest.approx(ref, rel=1e-6), (n, b)
            checked += 1
    assert checked > 150


def test_det_ml_vectorised_edges_and_monotone():
    assert det_ml(0, 5.0) == 0.0
    assert det_ml(5, 0.0) == np.inf
    assert np.isnan(det_ml(np.nan, 1.0))
    n = np.array([1.0, 10.0, 1e4, 1e6])
    b = np.array([0.5, 2.0, 1e3, 9e5])
    np.testing.assert_allclose(det_ml(n, b), [det_ml(a, c) for a, c in zip(n, b, strict=True)])
    # Monotone, and continuous across the switch points (P = 0.5 and P = 1e-280).
    for nn in (50.0, 1e4, 1e6):
        bb = np.geomspace(1e-3 * nn, 2 * nn, 4000)
        ml = det_ml(nn, bb)
        assert np.all(np.isfinite(ml)) and np.all(np.diff(ml) <= 0)
        assert np.all(np.diff(ml[ml > 1e-250]) < 0)
        for p in (0.5, 1e-280):
            b0 = gammaincinv(nn, p)
            lo, hi = det_ml(nn, b0 * (1 - 1e-12)), det_ml(nn, b0 * (1 + 1e-12))
            assert lo >= hi and (lo - hi) < 1e-8 * lo
            assert det_ml(nn, b0) == pytest.approx(-np.log(p), rel=1e-9)
    ml_n = det_ml(np.arange(1.0, 400.0), 50.0)
    assert np.all(np.diff(ml_n) > 0)


def test_neg_log10_pfalse_matches_gammainc_where_representable():
    a = np.array([3.0, 20.0, 150.0, 400.0])
    x = np.array([1.0, 8.0, 100.0, 300.0])
    np.testing.assert_allclose(detect.neg_log10_pfalse(a, x), -np.log10(gammainc(a, x)),
                               rtol=1e-12)


def test_log_poisson_tail_fast_path_equals_masked_path():
    """All-valid inputs skip the masking; the values are the same bit for bit."""
    rng = np.random.default_rng(4)
    n = np.concatenate([rng.uniform(0.5, 5e3, 3000), [1e6, 30.0, 2.0]])
    mu = np.concatenate([rng.uniform(1e-3, 5e3, 3000), [9e5, 1e-2, 40.0]])
    fast = detect.log_poisson_tail(n, mu)
    masked = detect.log_poisson_tail(np.r_[n, 0.0, np.nan], np.r_[mu, 1.0, 1.0])
    np.testing.assert_array_equal(fast, masked[:-2])
    assert masked[-2] == 0.0 and np.isnan(masked[-1])
    assert np.all(np.isfinite(fast)) and np.all(fast <= 0)


def test_threshold_counts_is_a_lower_bound():
    x = np.concatenate([np.geomspace(1e-4, 1e5, 400), [0.0]])
    athr = detect.threshold_counts(x, 2.5)
    assert np.isinf(athr[-1])
    x, athr = x[:-1], athr[:-1]
    a = np.floor(athr)[:, None] + np.arange(-3, 9)[None, :]     # integers around it
    a = np.maximum(a, 0.5)
    passes = detect.neg_log10_pfalse(a, x[:, None]) >= 2.5
    assert passes.any() and (~passes).any()
    assert np.all(a[passes] >= np.broadcast_to(athr[:, None], a.shape)[passes])
    # Tight: the exact threshold counts are at most ~1 above the bound.
    exact = np.array([brentq(lambda q, xx=xx: detect.neg_log10_pfalse(q, xx) - 2.5,
                             1e-6, 10 * xx + 100) for xx in x[::4]])
    assert np.all(exact >= athr[::4]) and np.all(exact - athr[::4] < 1e-3 * exact + 1e-3)


# --- smoothing -------------------------------------------------------------------
def test_tophat_kernel_and_fft_convolution_are_exact():
    k = detect.tophat_kernel(20.0 / PIX)
    assert k.shape == (17, 17)
    assert k.sum() == 213  # pixel centres within 20" (pi r^2 = 207.9 pixels)
    rng = np.random.default_rng(1)
    img = rng.poisson(2.0, (97, 131)).astype(float)
    conv = detect.FFTConvolver(img.shape, k)
    np.testing.assert_allclose(conv(img), convolve2d(img, k, mode="same"), atol=1e-9)


def test_runsum_is_exact_integer_tophat_sum():
    k = detect.tophat_kernel(20.0 / PIX)
    assert detect.RunSum.applies(k) and detect.RunSum.applies(np.ones((3, 3)))
    assert not detect.RunSum.applies(np.ones((2, 2)))
    assert not detect.RunSum.applies(np.array([[1, 0, 1], [1, 1, 1], [0, 1, 0]]))
    rng = np.random.default_rng(2)
    for shape in ((97, 131), (5, 7), (1, 40), (17, 17)):
        img = rng.poisson(3.0, shape)
        rs = detect.RunSum(shape, k)
        out = rs(img.astype(rs.dtype_for(img.max())))
        assert out.dtype == np.int16
        np.testing.assert_array_equal(out, convolve2d(img, k, mode="same"))
    # Larger counts widen the sums (int16 -> int32 -> int64) and stay exact.
    rs = detect.RunSum((30, 30), k)
    assert [rs.sum_dtype_for(v) for v in (100, 1e4, 2e7)] == [np.int16, np.int32, np.int64]
    assert rs.dtype_for(1e6) == np.int32 and rs.dtype_for(1e8) == np.int64
    for top in (150, 2**12, 2**26, 2**40):
        big = rng.integers(0, top, (30, 30))
        out = rs(big.astype(rs.dtype_for(big.max())))
        np.testing.assert_array_equal(out, convolve2d(big, k, mode="same"))


def test_integer_and_float_counts_give_identical_detections(nustar, kernel):
    """Integer maps are smoothed exactly in integers; FFT (float) gives the same catalogue."""
    n = 150
    expo = np.full((n, n), 3e5)
    expo[:, :10] = 0.0
    bkg = np.full((n, n), bkg_per_pixel(3e5))
    model = bkg + place((n, n), [(60, 70, 900.0), (75, 72, 400.0), (120, 40, 250.0)], kernel)
    counts = np.random.default_rng(12).poisson(model)
    det = Detector(expo, tan_wcs(n), nustar, "3-24", background=bkg)
    ref = det.detect_arrays(counts)
    assert len(ref["x"]) >= 3
    for variant in (counts.astype(np.int32), counts.astype(float), counts.astype(np.uint16)):
        out = det.detect_arrays(variant)
        for name in DETECTION_COLUMNS:
            np.testing.assert_array_equal(out[name], ref[name], err_msg=name)
    # The exact integer sums equal the rounded FFT convolution.
    fft = det._convolver(det._cropped(counts, "counts"))
    np.testing.assert_array_equal(det.smooth(counts), np.rint(fft))
    # Non-integer counts (e.g. a smoothed model) go through the FFT path.
    frac = det.smooth(model)
    assert np.all(frac >= 0) and not np.array_equal(frac, np.rint(frac))


def test_integer_threshold_counts_are_exact():
    x = np.concatenate([np.geomspace(1e-3, 3e3, 300), [0.0, -1.0]])
    nthr = detect.integer_threshold_counts(x, 2.5)
    assert np.all(np.isinf(nthr[-2:]))
    x, nthr = x[:-2], nthr[:-2]
    assert np.all(nthr == np.round(nthr)) and np.all(nthr >= 1)
    assert np.all(detect.neg_log10_pfalse(nthr, x) >= 2.5)
    assert np.all(detect.neg_log10_pfalse(nthr - 1, x) < 2.5)


def test_masked_smoothing_ignores_unexposed_pixels(nustar):
    n = 120
    expo = np.full((n, n), 1e5)
    expo[:, :40] = 0.0
    det = Detector(expo, tan_wcs(n), nustar, "3-24", background=np.full((n, n), 0.5))
    counts = np.zeros((n, n), dtype=np.int64)
    counts[:, :40] = 100                     # counts where there is no exposure
    sig = det.significance(counts)
    assert np.all(sig == 0.0)
    assert len(det.detect(counts)) == 0


# --- peaks -------------------------------------------------------------------------
def test_find_peaks_simple_cases():
    yy, xx = np.mgrid[0:60, 0:80]
    img = 10 * np.exp(-((xx - 20) ** 2 + (yy - 30) ** 2) / 20.0)
    img += 8 * np.exp(-((xx - 30) ** 2 + (yy - 31) ** 2) / 20.0)   # saddle ~5: one region
    img += 6 * np.exp(-((xx - 60) ** 2 + (yy - 30) ** 2) / 20.0)   # a separate region
    ix, iy = detect.find_peaks(img, 2.5)
    assert sorted(zip(ix.tolist(), iy.tolist(), strict=True)) == [(20, 30), (30, 31), (60, 30)]
    ix, iy = detect.find_peaks(img, 2.5, deblend_cont=1.0)   # no deblending
    assert sorted(zip(ix.tolist(), iy.tolist(), strict=True)) == [(20, 30), (60, 30)]
    plateau = np.zeros((10, 10))
    plateau[4:6, 4:6] = 5.0                  # ties: one object
    assert detect.find_peaks(plateau, 2.5)[0].size == 1
    assert detect.find_peaks(np.zeros((5, 5)), 2.5)[0].size == 0


def reference_peaks(image, threshold, minarea=1, nthresh=32, cont=0.005):
    """Slow, literal multi-threshold deblending: label every sub-threshold of every region.

    Nodes are the 8-connected sets of a region's pixels strictly above each
    sub-threshold; a node is valid with >= min(minarea, 3) pixels and a valid
    parent, significant if valid and its summed value above its level exceeds
    ``cont`` times the region's summed value. Top-down, a node with a child
    that is not ok is not ok; a node with >= 2 significant children is split
    (its ok and significant children become objects) and is then not ok. A
    region still ok is one object. Object position: the node's highest pixel,
    the first in flat order among equal ones.
    """
    eight = np.ones((3, 3), bool)
    lab0, nreg = ndimage.label(image >= threshold, eight)
    flat = image.ravel()
    out = []
    for r in range(1, nreg + 1):
        region = lab0 == r
        if region.sum() < minarea:
            continue
        peak = image[region].max()
        value0 = cont * image[region].sum()
        levels = threshold * np.exp(np.log(peak / threshold) * np.arange(nthresh + 1) / nthresh)
        nodes = [{"k": 0, "mask": region, "parent": -1, "valid": True, "sig": False}]
        prev = [0]
        for k in range(1, nthresh):
            lab, n = ndimage.label(region & (image > levels[k]), eight)
            cur = []
            for j in range(1, n + 1):
                m = lab == j
                parent = next(i for i in prev if nodes[i]["mask"][m].all())
                npix = int(m.sum())
                valid = npix >= min(minarea, 3) and nodes[parent]["valid"]
                sig = valid and image[m].sum() - levels[k] * npix > value0
                nodes.append({"k": k, "mask": m, "parent": parent, "valid": valid, "sig": sig})
                cur.append(len(nodes) - 1)
            prev = cur
        ok = [True] * len(nodes)
        chosen = []
        for k in range(nthresh - 1, 0, -1):
            kids = {}
            for i, nd in enumerate(nodes):
                if nd["k"] == k and nd["valid"]:
                    kids.setdefault(nd["parent"], []).append(i)
            for p, ch in kids.items():
                if not all(ok[c] for c in ch):
                    ok[p] = False
                if sum(nodes[c]["sig"] for c in ch) > 1:
                    chosen += [c for c in ch if ok[c] and nodes[c]["sig"]]
                    ok[p] = False
        if ok[0]:
            chosen.append(0)
        for c in chosen:
            idx = np.flatnonzero(nodes[c]["mask"].ravel())
            out.append(int(idx[np.argmax(flat[idx])]))
    iy, ix = np.divmod(np.sort(np.array(out, dtype=int)), image.shape[1])
    return ix, iy


def test_find_peaks_matches_literal_level_by_level_deblending():
    """The union-find tree gives exactly the objects of the literal algorithm,
    including plateaus (ties), touching regions and the parameter variants."""
    rng = np.random.default_rng(3)
    yy, xx = np.mgrid[0:48, 0:56]
    checked = 0
    for trial in range(8):
        img = np.zeros(yy.shape)
        for _ in range(rng.integers(3, 9)):
            cx, cy = rng.uniform(0, 56), rng.uniform(0, 48)
            img += rng.uniform(3, 60) * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2)
                                               / rng.uniform(4, 40))
        img += rng.exponential(0.8, img.shape)
        if trial % 3 == 0:
            img = np.round(img)                  # plateaus: ties broken by position
        for kw in ({}, {"minarea": 4}, {"cont": 0.05}, {"nthresh": 8}, {"cont": 1.0}):
            ref = reference_peaks(img, 2.5, **kw)
            args = {"minarea": kw.get("minarea", 1), "deblend_nthresh": kw.get("nthresh", 32),
                    "deblend_cont": kw.get("cont", 0.005)}
            ours = detect.find_peaks(img, 2.5, **args)
            np.testing.assert_array_equal(np.c_[ours], np.c_[ref], err_msg=f"{trial} {kw}")
            checked += len(ref[0])
    assert checked > 150


def test_find_peaks_reproduces_sep_extract(nustar, kernel):
    """Same objects as sep.extract region by region; same peaks except where sep's
    random pixel attribution moves a deblended object's brightest pixel."""
    n = 260
    rng = np.random.default_rng(7)
    expo = np.full((n, n), 4e5)
    bkg = np.full((n, n), bkg_per_pixel(4e5))
    srcs = [(int(x), int(y), float(c)) for x, y, c in
            zip(rng.integers(20, 240, 25), rng.integers(20, 240, 25),
                30 * rng.pareto(1.0, 25) + 60, strict=True)]
    model = bkg + place((n, n), srcs, kernel)
    det = Detector(expo, tan_wcs(n), nustar, "3-24", background=bkg)
    total = agree = 0
    for seed in range(3):
        sig = det.significance(np.random.default_rng(seed).poisson(model), full=False)
        for kw in ({}, {"minarea": 3}, {"deblend_cont": 0.05}, {"deblend_nthresh": 16}):
            params = {"minarea": 1, **kw}
            obj = sep.extract(sig, 2.5, filter_kernel=None, clean=False, **params)
            ix, iy = detect.find_peaks(sig, 2.5, **params)
            labels, nlab = ndimage.label(sig >= 2.5, np.ones((3, 3), bool))
            per_region_sep = np.bincount(labels[obj["ypeak"], obj["xpeak"]], minlength=nlab + 1)
            per_region_ours = np.bincount(labels[iy, ix], minlength=nlab + 1)
            np.testing.assert_array_equal(per_region_ours, per_region_sep)
            ref = set(zip(obj["xpeak"].tolist(), obj["ypeak"].tolist(), strict=True))
            total += len(ref)
            agree += len(ref & set(zip(ix.tolist(), iy.tolist(), strict=True)))
    assert total > 300 and agree >= 0.9 * total


def test_fast_significance_equals_full_map_above_threshold(nustar, kernel):
    n = 200
    expo = np.full((n, n), 3e5)
    bkg = np.full((n, n), bkg_per_pixel(3e5)) * np.linspace(0.7, 1.3, n)[None, :]
    model = bkg + place((n, n), [(60, 70, 800.0), (140, 120, 300.0)], kernel)
    det = Detector(expo, tan_wcs(n), nustar, "3-24", background=bkg)
    counts = np.random.default_rng(3).poisson(model)
    full = det.significance(counts)
    fast = det.significance(counts, full=False)
    above = full >= 2.5
    assert above.sum() > 100
    # same pixels (exact integer thresholds); values from the tabulated tail to 1e-9
    np.testing.assert_allclose(fast[above], full[above], rtol=1e-9, atol=0)
    assert np.all(fast[~above] == 0.0)


# --- deblending -----------------------------------------------------------------------
def test_deblend_two_sources_40arcsec(nustar, kernel):
    """Deblended total counts F of two sources 39" apart recover both inputs (3%)."""
    n = 128
    t = 2e5
    srcs = [(56, 64, 3000.0), (72, 64, 1500.0)]          # 16 px = 39.3"
    bkg = np.full((n, n), bkg_per_pixel(t))
    model = bkg + place((n, n), srcs, kernel)
    x = np.array([56.0, 72.0])
    y = np.array([64.0, 64.0])
    r = nustar.aperture_radius_arcsec / PIX
    rng = np.random.default_rng(5)
    ndraw = 200
    cut = (slice(32, 96), slice(24, 104))                 # 64 x 80 around the pair
    draws = rng.poisson(model[cut], size=(ndraw, 64, 80)).astype(float)
    row = np.hstack(list(draws))
    xs = (x[None, :] - 24 + 80.0 * np.arange(ndraw)[:, None]).ravel()
    ys = np.tile(y - 32, ndraw)
    nn = aperture_sum(row, xs, ys, r).reshape(ndraw, 2)
    bb = aperture_sum(bkg, x, y, r)
    f = np.array([detect.deblend(nn[i], bb, x, y, PIX, nustar.psf, 20.0, 90.0)[0]
                  for i in range(ndraw)])
    np.testing.assert_allclose(f.mean(axis=0), [3000.0, 1500.0], rtol=0.03)
    # Without deblending the fainter source would be overestimated by > 20%.
    raw = (nn - bb).mean(axis=0) / nustar.eef_aperture
    assert raw[1] > 1.2 * 1500.0
    # B' = B + neighbour's counts in the aperture.
    total, bdeb = detect.deblend(nn[0], bb, x, y, PIX, nustar.psf, 20.0, 90.0)
    a12 = nustar.psf.aperture_fraction(16 * PIX, 20.0)
    np.testing.assert_allclose(bdeb, bb + a12 * total[::-1])


def test_solve_deblend_groups_and_nonnegativity(nustar):
    eef = nustar.eef_aperture
    x = np.array([0.0, 10.0, 200.0, 400.0])
    y = np.zeros(4)
    i, j, frac = detect.aperture_pairs(x, y, PIX, nustar.psf, 20.0, 90.0)
    assert list(zip(i.tolist(), j.tolist(), strict=True)) == [(0, 1)]
    truth = np.array([500.0, 0.0, 300.0, 0.0])
    a = detect.aperture_matrix(4, eef, i, j, frac).toarray()
    excess = a @ truth + np.array([0.0, -20.0, 0.0, -5.0])
    f = detect.solve_deblend(excess, eef, i, j, frac)
    # Same as one NNLS over all detections; the isolated ones are max(excess, 0) / EEF.
    np.testing.assert_allclose(f, nnls(a, excess)[0], rtol=1e-10, atol=1e-10)
    assert np.all(f >= 0) and f[3] == 0.0
    assert f[2] == pytest.approx(300.0)
    np.testing.assert_allclose(detect.solve_deblend(a @ truth, eef, i, j, frac), truth,
                               atol=1e-9)


def test_detection_separates_equal_sources_60arcsec(nustar, kernel):
    n = 160
    t = 2e5
    srcs = [(60, 80, 2000.0), (84, 80, 2000.0)]          # 24 px = 59"
    bkg = np.full((n, n), bkg_per_pixel(t))
    model = bkg + place((n, n), srcs, kernel)
    det = Detector(np.full((n, n), t), tan_wcs(n), nustar, "3-24", background=bkg)
    rng = np.random.default_rng(8)
    ratios = []
    for _ in range(30):
        tab = det.detect(rng.poisson(model))
        for sx, sy, c in srcs:
            d = np.hypot(tab["x"] - sx, tab["y"] - sy) * PIX
            k = int(np.argmin(d))
            assert d[k] < 15.0
            ratios.append(tab["net"][k] / nustar.eef_aperture / c)
    assert np.mean(ratios) == pytest.approx(1.0, abs=0.05)


@pytest.mark.parametrize("x_range", [(0.3, 3.0), (5.0, 200.0), (150.0, 900.0)])
def test_threshold_tail_table_matches_direct_evaluation(x_range):
    rng = np.random.default_rng(int(x_range[0] * 10))
    x = rng.uniform(*x_range, 5000)
    nthr = detect.integer_threshold_counts(x, 2.5)
    table = detect.ThresholdTailTable(x, nthr)
    assert table.enabled
    pix = rng.integers(0, x.size, 20000)
    a = nthr[pix] + rng.integers(0, 100, pix.size)        # some beyond the table's depth
    values, direct = table(a, pix)
    inside = np.ones(a.size, bool)
    inside[direct] = False
    assert 0.5 < inside.mean() < 1 and np.all(np.isnan(values[direct]))
    assert np.all(inside[a - nthr[pix] < 64])              # the depth is covered
    got = values[inside]
    exact = detect.neg_log10_pfalse(a[inside], x[pix[inside]])
    np.testing.assert_allclose(got, exact, rtol=1e-7, atol=0)
    assert np.all(got >= 2.5 - 1e-7)
    # a table that would be too large is not built (the detector evaluates directly)
    assert not detect.ThresholdTailTable(x, nthr, max_entries=10).enabled


def test_suppress_close_peaks_is_greedy_by_peak_value():
    # A chain 10 px apart, radius 12 px: b falls to a, so c (only b above it nearby) stays.
    keep = detect.suppress_close_peaks([0.0, 10.0, 20.0], [0.0, 0.0, 0.0], [10.0, 9.0, 8.0], 12.0)
    assert keep.tolist() == [0, 2]
    assert detect.suppress_close_peaks([0.0, 5.0], [0.0, 0.0], [1.0, 2.0], 0.0).tolist() == [0, 1]
    # Random fields against a plain greedy loop (highest first, ties by index).
    rng = np.random.default_rng(5)
    for _ in range(20):
        n = 300
        x, y = rng.uniform(0, 200, n), rng.uniform(0, 200, n)
        peak = rng.integers(0, 40, n).astype(float)           # many ties
        kept = []
        for k in np.lexsort((np.arange(n), -peak)):
            if all(np.hypot(x[k] - x[m], y[k] - y[m]) > 6.0 for m in kept):
                kept.append(k)
        assert detect.suppress_close_peaks(x, y, peak, 6.0).tolist() == sorted(kept)


def test_close_peaks_do_not_split_a_faint_source(nustar, kernel):
    """Sub-peaks of one faint source are suppressed and no longer share its counts.

    The multi-threshold deblending of the jagged top-hat map splits a faint
    source (100 counts at 200 ks) into peaks 10-20" apart; as separate
    detections the deblending shares the source's counts among them and
    lowers its DET_ML. With the default minimum separation (20", between
    peak pixels; sub-pixel refinement moves a peak by at most 1.7") no two
    detections are closer than 16.5", and the source's detection keeps its
    counts.
    """
    n = 120
    t = 2e5
    total = 100.0
    bkg = np.full((n, n), bkg_per_pixel(t))
    model = bkg + place((n, n), [(60, 60, total)], kernel)
    rng = np.random.default_rng(12)
    counts = [rng.poisson(model) for _ in range(60)]
    close, ml = [], []
    for sep_arcsec in (0.0, None):
        kw = {} if sep_arcsec is None else {"min_separation_arcsec": sep_arcsec}
        det = Detector(np.full((n, n), t), tan_wcs(n), nustar, "3-24", background=bkg, **kw)
        pairs, best = 0, []
        for c in counts:
            tab = det.detect(c)
            xy = np.column_stack([tab["x"], tab["y"]]) * PIX
            pairs += int((np.hypot(*(xy[:, None] - xy[None]).transpose(2, 0, 1)) < 16.5).sum()
                         - len(tab)) // 2
            d = np.hypot(tab["x"] - 60, tab["y"] - 60) * PIX
            best.append(tab["det_ml"][np.argmin(d)] if (d < 20.0).any() else 0.0)
        close.append(pairs)
        ml.append(np.mean(best))
    assert det.params.min_separation_arcsec == 20.0
    assert close[0] >= 10 and close[1] == 0
    assert ml[1] > ml[0] + 0.5                            # about 4.3 -> 5.5


# --- the catalogue ------------------------------------------------------------------------
def test_bright_source_no_saturation(nustar, kernel):
    """1e-11 erg/cm2/s (3-24 keV) at 200 ks: position within 2", flux within 5%."""
    n = 301
    t = 2e5
    flux = 1e-11
    total = flux / nustar.cf("3-24") * t
    bkg = np.full((n, n), bkg_per_pixel(t))
    model = bkg + place((n, n), [(150, 150, total)], kernel)
    wcs = tan_wcs(n)
    tab = detect_sources(np.random.default_rng(4).poisson(model), bkg, np.full((n, n), t), wcs,
                         nustar, "3-24")
    best = tab[0]                                       # sorted by det_ml
    assert np.hypot(best["x"] - 150, best["y"] - 150) * PIX < 2.0
    assert np.isfinite(best["det_ml"]) and best["det_ml"] > 1e4
    assert best["det_ml_raw"] >= best["det_ml"]
    assert best["flux"] == pytest.approx(flux, rel=0.05)
    assert best["exposure_ks"] == pytest.approx(200.0)
    ra, dec = wcs.wcs_pix2world(best["x"], best["y"], 0)
    assert best["ra"] == pytest.approx(float(ra)) and best["dec"] == pytest.approx(float(dec))
    assert best["rate"] == pytest.approx(best["net"] / t)
    assert best["snr"] == pytest.approx(best["net"] / np.sqrt(best["counts"]
                                                              + best["bkg_deblended"]))


def test_columns_units_descriptions_and_empty_table(nustar):
    n = 100
    expo = np.full((n, n), 1e5)
    bkg = np.full((n, n), 0.3)
    det = Detector(expo, tan_wcs(n), nustar, "3-24", background=bkg)
    empty = det.detect(np.zeros((n, n), dtype=np.int64))
    assert len(empty) == 0
    assert empty.colnames == list(DETECTION_COLUMNS)
    for name, (unit, desc) in DETECTION_COLUMNS.items():
        assert empty[name].description == desc
        assert empty[name].unit == (u.Unit(unit) if unit else None)
    assert empty.meta["BAND"] == "3-24"
    assert detect.empty_detection_table().colnames == list(DETECTION_COLUMNS)
    # No exposure at all, and a map smaller than the top-hat: still a valid empty table.
    for m in (50, 9):
        none = Detector(np.zeros((m, m)), tan_wcs(m), nustar, "3-24", background=np.zeros((m, m)))
        assert none.detect(np.zeros((m, m), dtype=int)).colnames == list(DETECTION_COLUMNS)
    tiny = Detector(np.full((9, 9), 1e5), tan_wcs(9), nustar, "3-24",
                    background=np.full((9, 9), 0.1))
    assert len(tiny.detect(np.zeros((9, 9), dtype=int))) == 0


def test_background_only_false_detections(nustar):
    """Null mosaics: calibrated false-alarm rate, no edge effects, counts scale with area.

    Expectation used: the per-pixel probability that ``-log10 P_false >= 2.5``
    is known exactly for a Poisson mean x (the smallest count n_thr with
    P(n_thr, x) <= 10**-2.5, then Prob(N >= n_thr)); the number of detections
    lies between the number of separate excursions of this correlated map and
    its number of local maxima above the threshold; it must scale with the
    exposed area, be uniform (no excess near the exposure edge, which the
    masked top-hat guarantees) and agree between independent realisations
    (Poisson scatter). Calibrated this way, the 20" top-hat map of a flat
    background holds about one independent test per 5 pixels.
    """
    t = 2e5
    level = bkg_per_pixel(t)

    def run(n, seeds):
        yy, xx = np.mgrid[0:n, 0:n]
        c = (n - 1) / 2
        expo = np.where(np.hypot(xx - c, yy - c) < 0.45 * n, t, 0.0)
        bkg = np.where(expo > 0, level, 0.0)
        # min_separation_arcsec=0: the detections of sep's algorithm, unsuppressed
        det = Detector(expo, tan_wcs(n), nustar, "3-24", background=bkg,
                       min_separation_arcsec=0.0)
        edge = ndimage.distance_transform_edt(expo > 0) < 20.0 / PIX
        ndet, nedge, nexceed = 0, 0, 0
        for s in seeds:
            counts = np.random.default_rng(s).poisson(bkg)
            tab = det.detect(counts)
            ndet += len(tab)
            ix, iy = np.rint(tab["x"]).astype(int), np.rint(tab["y"]).astype(int)
            nedge += int(edge[iy, ix].sum())
            sig = det.significance(counts, full=False)
            above = sig >= 2.5
            nexceed += int(above[(expo > 0) & ~edge].sum())
            # Bracket: at least one detection per excursion region, at most one per
            # local maximum above the threshold.
            nregions = ndimage.label(above, np.ones((3, 3), bool))[1]
            nmaxima = int((above & (sig == ndimage.maximum_filter(sig, size=3))).sum())
            assert nregions <= len(tab) <= nmaxima
        return det, expo, edge, ndet, nedge, nexceed

    nseed = 20
    det, expo, edge, nsmall, nedge, nexceed = run(200, range(nseed))
    area = int((expo > 0).sum())
    # (1) Per-pixel false-alarm rate against the exact Poisson expectation.
    x = level * det.kernel.sum()
    n_thr = np.arange(1, 200)
    n_thr = n_thr[detect.neg_log10_pfalse(n_thr, x) >= 2.5][0]
    p_exceed = gammainc(n_thr, x)
    interior = int(((expo > 0) & ~edge).sum())
    assert nexceed / (nseed * interior) == pytest.approx(p_exceed, rel=0.2)
    # (2) No excess near the exposure edge: detections per pixel alike.
    expected_edge = nsmall * (edge & (expo > 0)).sum() / area
    assert abs(nedge - expected_edge) < 4 * np.sqrt(expected_edge) + 2
    # (3) Detections per exposed pixel: same for a 4x larger field and other seeds.
    _, expo4, _, nbig, _, _ = run(400, range(100, 105))
    area4 = int((expo4 > 0).sum())
    rate_small, rate_big = nsmall / (nseed * area), nbig / (5 * area4)
    sd = np.hypot(np.sqrt(nsmall) / (nseed * area), np.sqrt(nbig) / (5 * area4))
    assert abs(rate_small - rate_big) < 4 * sd
    # (4) Scale: the rough top-hat map has many more excursions than "independent
    # beams" (exposed area / top-hat area): one per ~5 exposed pixels x p_exceed.
    beams = rate_small * area / p_exceed
    assert area / 10 < beams < area / 2
    # Empty result is a valid table (tiny background, no counts).
    tab = detect_sources(np.zeros(expo.shape), np.full(expo.shape, 1e-4), expo,
                         tan_wcs(200), nustar, "3-24")
    assert len(tab) == 0 and tab.colnames == list(DETECTION_COLUMNS)


def test_exposure_floor_and_background_update(nustar, kernel):
    n = 160
    expo = np.full((n, n), 2e5)
    expo[:, 100:] = 1.5e4                              # 15 ks: below the 20 ks floor
    bkg = bkg_per_pixel(expo)
    model = bkg + place((n, n), [(50, 80, 2000.0), (130, 80, 2000.0)], kernel)
    counts = np.random.default_rng(9).poisson(model)
    det = Detector(expo, tan_wcs(n), nustar, "3-24", background=bkg)
    tab = det.detect(counts)
    assert np.all(tab["exposure_ks"] >= 20.0)
    assert np.any(np.hypot(tab["x"] - 50, tab["y"] - 80) < 4)
    assert not np.any(np.hypot(tab["x"] - 130, tab["y"] - 80) < 10)
    low = Detector(expo, tan_wcs(n), nustar, "3-24", background=bkg, exposure_floor_ks=10.0)
    tab_low = low.detect(counts)
    assert np.any(np.hypot(tab_low["x"] - 130, tab_low["y"] - 80) < 4)
    # Same answer twice (deterministic), and a new background is picked up.
    again = det.detect(counts)
    np.testing.assert_array_equal(np.asarray(tab["det_ml"]), np.asarray(again["det_ml"]))
    higher = det.detect(counts, background=2 * bkg)
    assert len(higher) < len(tab)
    assert det.detect(counts, background=bkg)["det_ml"][0] == tab["det_ml"][0]
