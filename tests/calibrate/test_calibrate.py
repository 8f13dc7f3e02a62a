"""Tests of xsurvey.calibrate against synthetic replicas whose truth is analytic."""

import numpy as np
import pandas as pd
import pytest
from astropy.table import Table
from scipy.special import erf

from xsurvey import calibrate as cal
from xsurvey import catalog, plotting
from xsurvey.calibrate import figures
from xsurvey.io import InputError
from xsurvey.tables import write_csv

EDGES = (20.0, 200.0, np.inf)
GRID = np.round(np.arange(0, 3001) * 0.01, 10)      # DET_ML 0..30 by 0.01

# Two exposure intervals; in each, spurious detections with DET_ML ~ Exp(1) and
# real ones with DET_ML ~ Exp(scale 10). Stratified samples (DET_ML at the
# quantiles (i + 1/2)/n) reproduce N(>= x) = n exp(-x / scale) to +-1 count.
POPULATIONS = {  # exposure_ks: (n_spurious, n_real)
    100.0: (100_000, 10_000),
    300.0: (20_000, 10_000),
}


def _stratified_exp(n, scale):
    u = (np.arange(n) + 0.5) / n
    return -scale * np.log1p(-u)


def _analytic_r(x, n_s, n_r):
    real = n_r * np.exp(-x / 10.0)
    return real / (n_s * np.exp(-x) + real)


def _analytic_threshold(level, n_s, n_r):
    # n_r e^{-x/10} (1 - L) = L n_s e^{-x}  =>  x = ln(L n_s / ((1 - L) n_r)) / 0.9
    return np.log(level * n_s / ((1 - level) * n_r)) / 0.9


@pytest.fixture(scope="module")
def detections():
    rng = np.random.default_rng(1)
    parts = []
    for expo, (n_s, n_r) in POPULATIONS.items():
        for n, scale, real in ((n_s, 1.0, False), (n_r, 10.0, True)):
            ml = _stratified_exp(n, scale)
            parts.append(pd.DataFrame({
                "det_ml": ml,
                "exposure_ks": np.full(n, expo),
                "input_id": np.arange(n) if real else np.full(n, -1),
                "real": real,
            }))
    # detections below the exposure floor belong to no interval
    parts.append(pd.DataFrame({"det_ml": np.full(50, 3.0), "exposure_ks": 10.0,
                               "input_id": -1, "real": False}))
    d = pd.concat(parts, ignore_index=True)
    n = len(d)
    real = d["real"].to_numpy()
    fref = np.where(real, 10 ** rng.uniform(-14.5, -12.5, n), np.nan)
    # bright real sources are better localised: Rayleigh sigma 3" vs 8"
    sigma = np.where(fref > 1e-13, 3.0, 8.0)
    sep = np.where(real, rng.rayleigh(sigma), np.nan)
    ratio = np.exp(rng.normal(np.log(1.2), 0.1, n))
    d = d.assign(
        replica=rng.integers(0, 100, n),
        input_flux_ref=fref,
        input_flux=0.4 * fref,
        flux=0.4 * fref * ratio,
        snr=10 ** rng.uniform(0.3, 2.0, n),
        separation_arcsec=sep,
    )
    return d.drop(columns="real")


@pytest.fixture(scope="module")
def curve(detections):
    return cal.reliability_curve(detections, GRID, EDGES)


@pytest.fixture(scope="module")
def thresholds(curve):
    return cal.threshold_for_reliability(curve, (0.95, 0.99))


# --------------------------------------------------------------------------- intervals
def test_exposure_intervals_validation():
    np.testing.assert_array_equal(cal.exposure_intervals(), [20, 200, 500, np.inf])
    for bad in ([20], [0, 100], [20, 10], [20, np.inf, np.inf], [np.nan, 30]):
        with pytest.raises(ValueError):
            cal.exposure_intervals(bad)


def test_assign_interval_edges():
    edges = [20.0, 200.0, 500.0, np.inf]
    e = [5.0, 20.0, 199.999, 200.0, 500.0, 1e5, np.nan]
    np.testing.assert_array_equal(cal.assign_interval(e, edges), [-1, 0, 0, 1, 2, 2, -1])
    # a finite last edge closes the last interval
    np.testing.assert_array_equal(cal.assign_interval([100, 300], [20, 200, 300]), [0, -1])


def test_auto_intervals_equal_counts():
    rng = np.random.default_rng(2)
    e = np.concatenate([rng.lognormal(np.log(150), 0.8, 30_000), np.full(1000, 5.0)])
    edges = cal.auto_exposure_intervals(e, n_intervals=3, floor_ks=20.0)
    assert edges[0] == 20.0 and np.isinf(edges[-1]) and edges.size == 4
    k = cal.assign_interval(e, edges)
    counts = np.bincount(k[k >= 0])
    assert counts.max() - counts.min() <= 2
    # many detections at one exposure: repeated quantiles are merged
    edges = cal.auto_exposure_intervals(np.r_[np.full(100, 50.0), 60.0], 4, 20.0)
    np.testing.assert_array_equal(edges, [20.0, 50.0, np.inf])
    with pytest.raises(ValueError, match="floor"):
        cal.auto_exposure_intervals([1.0, 2.0], 2, 20.0)


def test_log_bins():
    b = cal.log_bins(1e-15, 1e-12, 5)
    assert b.size == 16
    np.testing.assert_allclose(b[[0, -1]], [1e-15, 1e-12])
    np.testing.assert_allclose(np.diff(np.log10(b)), 0.2)


# --------------------------------------------------------------------------- reliability
def test_reliability_curve_analytic(curve):
    assert list(curve.columns) == ["exp_lo_ks", "exp_hi_ks", "det_ml", "reliability",
                                   "n_detected", "n_matched"]
    assert len(curve) == 2 * GRID.size
    for (lo, hi), expo in zip([(20.0, 200.0), (200.0, np.inf)], POPULATIONS, strict=True):
        n_s, n_r = POPULATIONS[expo]
        c = curve[(curve.exp_lo_ks == lo) & (curve.exp_hi_ks == hi)]
        assert c["n_detected"].iloc[0] == n_s + n_r      # floor detections left out
        x = c["det_ml"].to_numpy()
        sel = x <= 20
        np.testing.assert_allclose(c["reliability"].to_numpy()[sel],
                                   _analytic_r(x[sel], n_s, n_r), atol=1e-3)
        assert np.all(np.diff(c["n_detected"].to_numpy()) <= 0)


def test_thresholds_analytic(thresholds):
    assert list(thresholds.columns) == ["exp_lo_ks", "exp_hi_ks", "reliability",
                                        "det_ml_threshold", "n_detected",
                                        "reliability_at_threshold"]
    assert len(thresholds) == 4
    for row in thresholds.itertuples():
        expo = 100.0 if row.exp_lo_ks == 20.0 else 300.0
        n_s, n_r = POPULATIONS[expo]
        x_true = _analytic_threshold(row.reliability, n_s, n_r)
        # +-1 count of the stratified samples moves R by ~2e-4, x by ~0.01
        assert x_true - 0.02 <= row.det_ml_threshold <= x_true + 0.05
        assert row.reliability_at_threshold >= row.reliability
        # detections with DET_ML >= threshold, analytic within a few counts
        expected = n_s * np.exp(-row.det_ml_threshold) + n_r * np.exp(-row.det_ml_threshold / 10)
        assert abs(row.n_detected - expected) <= 2


def _handmade_curve(rel, n):
    x = np.arange(len(rel), dtype=float)
    return pd.DataFrame({"exp_lo_ks": 20.0, "exp_hi_ks": np.inf, "det_ml": x,
                         "reliability": rel, "n_detected": n,
                         "n_matched": np.round(np.asarray(rel) * np.asarray(n))})


def test_threshold_semantics_dip():
    # crosses 95% at x=2, dips to 0.93 at x=4, stays >= 95% from x=5
    rel = [0.5, 0.8, 0.96, 0.97, 0.93, 0.96, 0.97, 0.99, 0.995, 1.0, 1.0]
    n = np.array([5000, 4000, 3000, 2500, 2000, 1500, 1000, 800, 600, 400, 200]) * 10
    t = cal.threshold_for_reliability(_handmade_curve(rel, n), (0.95, 0.99, 0.999))
    np.testing.assert_array_equal(t["det_ml_threshold"], [5.0, 7.0, 9.0])
    np.testing.assert_array_equal(t["n_detected"], [15000, 8000, 4000])
    # 99.9% needs >= 1000 detections at a point: with 400 at x=9 it is not measured
    t = cal.threshold_for_reliability(_handmade_curve(rel, n // 10), [0.999])
    assert np.isnan(t["det_ml_threshold"].iloc[0])


def test_threshold_never_reached_and_small_samples():
    rel = [0.5, 0.7, 0.9, 0.9]
    t = cal.threshold_for_reliability(_handmade_curve(rel, [400, 300, 200, 100]), [0.95])
    assert np.isnan(t["det_ml_threshold"].iloc[0]) and t["n_detected"].iloc[0] == 0
    # a single spurious object among the last few detections makes R = 0.8, 0.5, 0:
    # ignored by default (fewer than 1/(1 - L) = 20 detections), fatal when counted
    rel = [0.8, 0.96, 0.97, 0.98, 0.8, 0.5, 0.0, np.nan]
    n = [1000, 500, 200, 50, 5, 2, 1, 0]
    c = _handmade_curve(rel, n)
    t = cal.threshold_for_reliability(c, [0.95])
    assert t["det_ml_threshold"].iloc[0] == 1.0
    t = cal.threshold_for_reliability(c, [0.95], min_detections=1)
    assert np.isnan(t["det_ml_threshold"].iloc[0])
    # the 99% level needs 100 detections at a point: x=3 (n=50) is not enough
    t = cal.threshold_for_reliability(_handmade_curve([0.9, 0.992, 0.995, 1.0],
                                                      [500, 150, 100, 50]), [0.99])
    assert t["det_ml_threshold"].iloc[0] == 1.0


def test_threshold_at_and_above(thresholds):
    t95 = thresholds[thresholds.reliability == 0.95]
    thr = cal.threshold_at([10.0, 100.0, 1000.0], thresholds, 0.95)
    assert np.isnan(thr[0])
    np.testing.assert_array_equal(thr[1:], t95["det_ml_threshold"].to_numpy())
    above = cal.above_threshold([100.0, thr[1] - 0.001, thr[1]], [10.0, 100.0, 100.0],
                                thresholds, 0.95)
    np.testing.assert_array_equal(above, [False, False, True])
    with pytest.raises(ValueError, match="no reliability level 0.9"):
        cal.threshold_at([100.0], thresholds, 0.9)


# --------------------------------------------------------------------------- completeness
def _thresholds_table(values, edges=EDGES, levels=(0.95,)):
    edges = np.asarray(edges, float)
    rows = [(lo, hi, level, v) for level in levels
            for lo, hi, v in zip(edges[:-1], edges[1:], values, strict=True)]
    return pd.DataFrame(rows, columns=["exp_lo_ks", "exp_hi_ks", "reliability",
                                       "det_ml_threshold"])


def _inputs_erf(n=200_000, seed=3):
    """Inputs with detection probability 0.5 (1 + erf(log10(S/S0) / 0.15)) per interval."""
    rng = np.random.default_rng(seed)
    flux = 10 ** rng.uniform(-15.5, -12.0, n)
    expo = np.where(rng.random(n) < 0.5, 100.0, 300.0)
    s0 = np.where(expo == 100.0, 1e-14, 4e-15)
    p = 0.5 * (1 + erf(np.log10(flux / s0) / 0.15))
    matched = rng.random(n) < p
    return pd.DataFrame({
        "replica": rng.integers(0, 100, n), "input_id": np.arange(n), "flux": flux,
        "flux_ref": 2.5 * flux, "exposure_ks": expo, "matched": matched,
        "det_ml": np.where(matched, 40.0, np.nan),
        "det_exposure_ks": np.where(matched, expo, np.nan),
    }), p


def test_completeness_erf():
    inputs, p = _inputs_erf()
    bins = cal.log_bins(10**-15.5, 1e-12, 5)
    thr = _thresholds_table([10.0, 12.0], levels=(0.95, 0.99))
    c = cal.completeness(inputs, thr, bins)
    assert list(c.columns) == ["exp_lo_ks", "exp_hi_ks", "reliability", "flux", "flux_lo",
                               "flux_hi", "completeness", "n_input", "n_detected"]
    assert len(c) == 2 * 2 * (bins.size - 1)
    assert c["n_input"].sum() == 2 * len(inputs)
    for (lo, s0), expo in zip([(20.0, 1e-14), (200.0, 4e-15)], (100.0, 300.0), strict=True):
        ci = c[(c.exp_lo_ks == lo) & (c.reliability == 0.95)]
        f = ci["flux"].to_numpy()
        comp = ci["completeness"].to_numpy()
        assert np.all(comp[f > 10 * s0] == 1.0)
        assert np.all(comp[f < s0 / 10] == 0.0)
        # every bin agrees with the mean detection probability of its inputs
        sel = inputs["exposure_ks"].to_numpy() == expo
        k = np.searchsorted(bins, inputs["flux"].to_numpy()[sel], side="right") - 1
        p_mean = np.bincount(k, weights=p[sel], minlength=bins.size - 1) / np.bincount(
            k, minlength=bins.size - 1)
        err = np.sqrt(p_mean * (1 - p_mean) / ci["n_input"].to_numpy())
        assert np.all(np.abs(comp - p_mean) <= 5 * err + 1e-3)
    np.testing.assert_allclose(c["flux"].to_numpy()[: bins.size - 1],
                               np.sqrt(bins[:-1] * bins[1:]))


def test_completeness_uses_detection_interval_threshold():
    # thresholds 10 (20-200 ks) and 30 (>= 200 ks); all inputs at 100 ks, in one flux bin
    inputs = pd.DataFrame({
        "flux": 1e-14, "exposure_ks": 100.0,
        "matched": [True, True, True, True, False, True],
        "det_ml": [15.0, 15.0, 35.0, 10.0, np.nan, 50.0],
        "det_exposure_ks": [150.0, 250.0, 250.0, 150.0, np.nan, 5.0],
    })
    # counted: #0 (15 >= 10), #2 (35 >= 30), #3 (10 >= 10); not: #1 (15 < 30),
    # #4 (unmatched), #5 (detection outside every interval)
    c = cal.completeness(inputs, _thresholds_table([10.0, 30.0]), [5e-15, 2e-14])
    row = c[c.exp_lo_ks == 20.0].iloc[0]
    assert (row.n_input, row.n_detected, row.completeness) == (6, 3, 0.5)
    assert c[c.exp_lo_ks == 200.0]["n_input"].iloc[0] == 0
    assert np.isnan(c[c.exp_lo_ks == 200.0]["completeness"].iloc[0])
    # an interval whose level is never reached contributes nothing
    c = cal.completeness(inputs, _thresholds_table([np.nan, 30.0]), [5e-15, 2e-14])
    assert c[c.exp_lo_ks == 20.0]["n_detected"].iloc[0] == 1


# --------------------------------------------------------------------------- areas
def _exposure_map():
    expo = np.empty((100, 100))
    expo[:50] = 10e3          # unsurveyed (below 20 ks)
    expo[50:80] = 100e3
    expo[80:] = 400e3
    expo[0, 0] = np.nan
    return expo


def test_geometric_areas():
    a = cal.geometric_areas(_exposure_map(), 1e-5, EDGES)
    assert list(a.columns) == ["exp_lo_ks", "exp_hi_ks", "area_deg2"]
    np.testing.assert_allclose(a["area_deg2"], [0.03, 0.02])
    pix = np.full((100, 100), 2e-5)
    np.testing.assert_allclose(cal.geometric_areas(_exposure_map(), pix, EDGES)["area_deg2"],
                               [0.06, 0.04])


def test_sky_coverage_single_interval_and_bound():
    inputs, _ = _inputs_erf(50_000)
    bins = cal.log_bins(10**-15.5, 1e-12, 5)
    # one interval: coverage = area * completeness exactly
    edges1 = (20.0, np.inf)
    c1 = cal.completeness(inputs, _thresholds_table([10.0], edges1), bins)
    a1 = cal.geometric_areas(_exposure_map(), 1e-5, edges1)
    cov1 = cal.sky_coverage(c1, a1)
    assert list(cov1.columns) == ["reliability", "flux", "area_deg2"]
    np.testing.assert_array_equal(cov1["area_deg2"].to_numpy(),
                                  c1["completeness"].to_numpy() * a1["area_deg2"].iloc[0])
    # two intervals: sum of completeness x area, never above the total area
    c2 = cal.completeness(inputs, _thresholds_table([10.0, 10.0]), bins)
    a2 = cal.geometric_areas(_exposure_map(), 1e-5, EDGES)
    cov2 = cal.sky_coverage(c2, a2)
    total = a2["area_deg2"].sum()
    assert np.all(cov2["area_deg2"] <= total) and cov2["area_deg2"].max() == pytest.approx(total)
    lo = c2[c2.exp_lo_ks == 20.0]["completeness"].to_numpy()
    hi = c2[c2.exp_lo_ks == 200.0]["completeness"].to_numpy()
    np.testing.assert_allclose(cov2["area_deg2"], 0.03 * lo + 0.02 * hi)
    # a bin without inputs in a surveyed interval is unknown (NaN), not zero
    c3 = c2.copy()
    c3.loc[(c3.exp_lo_ks == 200.0) & (c3.flux > 1e-13), "completeness"] = np.nan
    cov3 = cal.sky_coverage(c3, a2)
    assert cov3["area_deg2"].isna().to_numpy().tolist() == (cov3["flux"] > 1e-13).tolist()
    with pytest.raises(ValueError, match="different exposure intervals"):
        cal.sky_coverage(c1, a2)


def test_sensitivity_known_curve():
    flux = np.logspace(-15, -13, 41)
    f1, total = 2e-14, 0.5
    area = total * np.minimum(1.0, (flux / f1) ** 2)
    cov = pd.DataFrame({"band": "3-24", "reliability": 0.95, "flux": flux, "area_deg2": area})
    # a dip below 50% at a brighter flux moves the half-area flux above the dip
    cov_dip = cov.assign(band="8-24")
    cov_dip.loc[cov_dip.flux.between(3e-14, 4e-14), "area_deg2"] = 0.2
    s = cal.sensitivity(pd.concat([cov, cov_dip]), {"3-24": total, "8-24": total})
    assert list(s.columns) == ["band", "reliability", "flux_half_area", "flux_20pct_area"]
    np.testing.assert_allclose(s.iloc[0][["flux_half_area", "flux_20pct_area"]].to_numpy(float),
                               [f1 * np.sqrt(0.5), f1 * np.sqrt(0.2)], rtol=1e-10)
    assert 4e-14 < s.iloc[1]["flux_half_area"] < 4.5e-14
    # never reached -> NaN; reached already in the faintest bin -> NaN (unresolved)
    s = cal.sensitivity(cov.assign(area_deg2=0.1 * area), total)
    assert np.isnan(s["flux_half_area"].iloc[0])
    s = cal.sensitivity(cov.assign(area_deg2=total), total)
    assert np.isnan(s["flux_half_area"].iloc[0])


# --------------------------------------------------------------------------- positions
def test_rayleigh_sigma_recovers_scale():
    rng = np.random.default_rng(4)
    sigma, err, n = cal.rayleigh_sigma(rng.rayleigh(5.0, 5000))
    assert n == 5000
    assert err == pytest.approx(5.0 / (2 * np.sqrt(5000)), rel=0.02)
    assert abs(sigma - 5.0) < 3 * err
    # the standard error matches the scatter of the estimate
    samples = rng.rayleigh(5.0, (2000, 400))
    est = np.sqrt((samples**2).sum(axis=1) / 800)
    assert est.std() == pytest.approx(5.0 / (2 * np.sqrt(400)), rel=0.1)
    assert cal.rayleigh_sigma([np.nan])[2] == 0 and np.isnan(cal.rayleigh_sigma([])[0])


def test_positional_accuracy(detections, thresholds):
    pos = cal.positional_accuracy(detections, thresholds, bright_flux=1e-13, band="3-24")
    assert list(pos.columns) == ["band", "subset", "sigma_arcsec", "sigma_err_arcsec", "n"]
    assert pos["subset"].tolist() == ["all", "above95", "bright", "faint"]
    p = pos.set_index("subset")
    matched = detections[detections.input_id >= 0]
    bright = matched.input_flux_ref > 1e-13
    assert p.loc["all", "n"] == len(matched)
    assert p.loc["bright", "n"] == bright.sum() and p.loc["faint", "n"] == (~bright).sum()
    above = cal.above_threshold(matched.det_ml, matched.exposure_ks, thresholds, 0.95)
    assert p.loc["above95", "n"] == above.sum()
    assert abs(p.loc["bright", "sigma_arcsec"] - 3.0) < 3 * p.loc["bright", "sigma_err_arcsec"]
    assert abs(p.loc["faint", "sigma_arcsec"] - 8.0) < 3 * p.loc["faint", "sigma_err_arcsec"]
    s = cal.rayleigh_sigma(matched.separation_arcsec)
    assert p.loc["all", "sigma_arcsec"] == pytest.approx(s[0], rel=1e-12)


def test_positional_accuracy_by_det_ml(thresholds):
    """Bins of DET_ML recover a scale falling as DET_ML**-1/2 (statistical positions)."""
    rng = np.random.default_rng(9)
    n = 20000
    ml = 10 ** rng.uniform(0.5, 3.0, n)
    sigma_true = 25.0 / np.sqrt(ml)
    det = pd.DataFrame({"det_ml": ml, "exposure_ks": np.full(n, 300.0),
                        "input_id": np.arange(n), "separation_arcsec": rng.rayleigh(sigma_true)})
    tab = cal.positional_accuracy_by_det_ml(det, thresholds, 0.95, band="3-24", min_per_bin=1500)
    assert list(tab.columns) == ["band", "det_ml_lo", "det_ml_hi", "det_ml_median",
                                 "sigma_arcsec", "sigma_err_arcsec", "n"]
    above = cal.above_threshold(ml, det.exposure_ks, thresholds, 0.95)
    assert tab["n"].sum() == above.sum() and len(tab) == min(12, above.sum() // 1500)
    assert np.all(np.diff(tab["sigma_arcsec"]) < 0)            # brighter: smaller errors
    # each bin: the root-mean-square of the true scales in it, within 3 standard errors
    for row in tab.itertuples():
        inside = above & (ml >= row.det_ml_lo) & (ml <= row.det_ml_hi)
        expect = np.sqrt(np.mean(sigma_true[inside] ** 2))
        assert abs(row.sigma_arcsec - expect) < 3 * row.sigma_err_arcsec + 1e-3 * expect
    # nothing above the threshold: an empty table with the columns
    none = cal.positional_accuracy_by_det_ml(det.assign(det_ml=0.1), thresholds, band="3-24")
    assert len(none) == 0 and "sigma_arcsec" in none.columns


# --------------------------------------------------------------------------- fluxes
def test_flux_accuracy(detections):
    bins = cal.log_bins(1e-16, 1e-12, 4)
    acc = cal.flux_accuracy(detections, bins, by="input_flux")
    assert list(acc.columns) == ["bin_lo", "bin_hi", "x", "median_ratio", "p16", "p84", "n"]
    full = acc[acc.n > 1000]
    assert len(full) >= 6
    np.testing.assert_allclose(full["median_ratio"], 1.2, rtol=0.02)
    np.testing.assert_allclose(full["p16"], 1.2 * np.exp(-0.1), rtol=0.02)
    np.testing.assert_allclose(full["p84"], 1.2 * np.exp(0.1), rtol=0.02)
    assert np.all((full["x"] >= full["bin_lo"]) & (full["x"] < full["bin_hi"]))
    empty = acc[acc.bin_hi <= 10**-14.5 * 0.4]
    assert len(empty) and (empty["n"] == 0).all() and empty["median_ratio"].isna().all()
    assert acc["n"].sum() == (detections.input_id >= 0).sum()
    by_snr = cal.flux_accuracy(detections, [1, 3, 10, 100], by="snr")
    np.testing.assert_allclose(by_snr["median_ratio"], 1.2, rtol=0.02)
    with pytest.raises(ValueError):
        cal.flux_accuracy(detections, bins, by="rate")


# --------------------------------------------------------------------------- spurious
def test_expected_spurious_cumulative_known_curve():
    x = np.arange(11, dtype=float)
    curve = pd.DataFrame({"exp_lo_ks": 20.0, "exp_hi_ks": np.inf, "det_ml": x,
                          "reliability": 0.5 + 0.05 * x, "n_detected": 100, "n_matched": 50})
    ml = np.array([1.0, 2.5, 9.0, 20.0, 5.0])
    expo = np.array([50.0, 50.0, 50.0, 50.0, 5.0])   # the last one is outside every interval
    r = cal.reliability_at(ml, expo, curve, kind="cumulative")
    np.testing.assert_allclose(r, [0.55, 0.625, 0.95, 1.0, np.nan])
    assert cal.expected_spurious(ml, expo, curve, kind="cumulative") == pytest.approx(0.875)


def test_expected_spurious_differential_counts_unmatched(detections, curve, thresholds):
    # in-sample, the differential estimate equals the number of spurious detections
    # of a catalogue cut on DET_ML; the cumulative one underestimates it
    above = cal.above_threshold(detections.det_ml, detections.exposure_ks, thresholds, 0.95)
    cat = detections[above]
    n_spurious = int((cat.input_id < 0).sum())
    est = cal.expected_spurious(cat.det_ml, cat.exposure_ks, curve)
    assert est == pytest.approx(n_spurious, rel=1e-9)
    assert cal.expected_spurious(cat.det_ml, cat.exposure_ks, curve, "cumulative") < est
    d = cal.differential_reliability(curve)
    assert d["reliability"].between(0, 1).all()


# --------------------------------------------------------------------------- summary
def test_summary():
    det = pd.DataFrame({
        "replica": [0, 0, 0, 1, 1, 3],
        "det_ml": [5.0, 12.0, 30.0, 12.0, 25.0, 40.0],
        "exposure_ks": [100.0, 100.0, 100.0, 300.0, 300.0, 5.0],
        "input_id": [-1, 3, 4, -1, 7, 9],
    })
    thr = _thresholds_table([10.0, 20.0], levels=(0.95,))
    thr = pd.concat([thr, _thresholds_table([20.0, 30.0], levels=(0.99,))])
    s = cal.summary(det, thr, n_replicas=4, band="8-24")
    assert list(s.columns) == ["band", "n_replicas", "n_detected", "n_matched", "n_above95",
                               "n_matched_above95", "n_above99", "n_matched_above99"]
    row = s.iloc[0]
    assert row.n_replicas == 4 and row.n_detected == 1.5 and row.n_matched == 1.0
    # above 95%: 12, 30 (100 ks, thr 10) and 25 (300 ks, thr 20) -> 3; matched 3
    assert row.n_above95 == 0.75 and row.n_matched_above95 == 0.75
    # above 99%: 30 (thr 20) -> 1 (the 25 at 300 ks is below 30)
    assert row.n_above99 == 0.25
    assert cal.summary(det, thr).iloc[0]["n_replicas"] == 3


# --------------------------------------------------------------------------- output
def _products(det, inputs):
    curve = cal.reliability_curve(det, GRID[::10], EDGES, band="3-24")
    thr = cal.threshold_for_reliability(curve)
    comp = cal.completeness(inputs, thr, cal.log_bins(1e-16, 1e-12, 5))
    cov = cal.sky_coverage(comp, cal.geometric_areas(_exposure_map(), 1e-5, EDGES))
    return {"reliability": curve, "thresholds": thr, "completeness": comp, "coverage": cov,
            "sensitivity": cal.sensitivity(cov, 0.05),
            "positions": cal.positional_accuracy(det, thr),
            "flux": cal.flux_accuracy(det, cal.log_bins(1e-16, 1e-12, 4)),
            "summary": cal.summary(det, thr)}


def test_outputs_byte_stable_and_order_independent(detections, tmp_path):
    inputs, _ = _inputs_erf(20_000)
    a = _products(detections, inputs)
    b = _products(detections.sample(frac=1.0, random_state=7),
                  inputs.sample(frac=1.0, random_state=8))
    for name in a:
        pa, pb = tmp_path / f"a_{name}.csv", tmp_path / f"b_{name}.csv"
        write_csv(a[name], pa)
        write_csv(b[name], pb)
        assert pa.read_bytes() == pb.read_bytes(), name
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        f"{s}_{n}.csv" for s in "ab" for n in a)          # no temporary files left
    text = (tmp_path / "a_thresholds.csv").read_text()
    assert text.startswith("band,exp_lo_ks,exp_hi_ks,reliability,det_ml_threshold")
    assert "\r" not in text and ",inf," in text


def test_write_csv_format(tmp_path):
    p = tmp_path / "sub" / "t.csv"
    write_csv(pd.DataFrame({"a": [0.123456789, np.nan], "n": [1, 2]}), p)
    assert p.read_text() == "a,n\n0.123457,1\n,2\n"


# --------------------------------------------------------------------------- figures
def test_figures_render(detections, curve, thresholds, tmp_path):
    inputs, _ = _inputs_erf(20_000)
    comp = cal.completeness(inputs, thresholds, cal.log_bins(10**-15.5, 1e-12, 5))
    areas = cal.geometric_areas(_exposure_map(), 1e-5, EDGES)
    cov = pd.concat([cal.sky_coverage(comp, areas).assign(band=b) for b in ("3-24", "8-24")])
    sens = cal.sensitivity(cov, 0.05)
    seps = cal.separation_subsets(detections, thresholds)
    pos = cal.positional_accuracy(detections, thresholds)
    figs = {
        "reliability": figures.reliability_curves(curve, thresholds),
        "completeness": figures.completeness_curves(comp),
        "coverage": figures.sky_coverage_curves(cov, sens, total_area=0.05),
        "separations": figures.separation_histograms(seps, pos),
        "flux": figures.flux_accuracy_curves(
            cal.flux_accuracy(detections, cal.log_bins(1e-16, 1e-12, 4)),
            cal.flux_accuracy(detections, np.logspace(0, 2, 9), by="snr")),
    }
    for name, fig in figs.items():
        path = tmp_path / f"{name}.png"
        plotting.save(fig, path)
        assert path.stat().st_size > 10_000, name


def test_sigma_from_det_ml_interpolates_in_log_det_ml():
    table = pd.DataFrame({"band": ["3-24"] * 3 + ["8-24"],
                          "det_ml_median": [10.0, 100.0, 1000.0, 20.0],
                          "sigma_arcsec": [9.0, 5.0, 3.0, 7.0]})
    got = cal.sigma_from_det_ml(["3-24", "3-24", "3-24", "3-24", "8-24"],
                               [np.sqrt(10.0 * 100.0), 5.0, 5000.0, 100.0, 1e4], table)
    np.testing.assert_allclose(got, [7.0, 9.0, 3.0, 5.0, 7.0])
    with pytest.raises(InputError, match=r"band\(s\) \['3-8'\]"):
        cal.sigma_from_det_ml(["3-8"], [10.0], table)
    # a band the table lacks: NaN on request (the catalogue column), not an error
    np.testing.assert_array_equal(
        cal.sigma_from_det_ml(["3-8", "8-24"], [10.0, 20.0], table, missing="nan"), [np.nan, 7.0])
    with pytest.raises(InputError, match="positive DET_ML"):
        cal.sigma_from_det_ml(["3-24"], [-99.0], table)
    cat = Table({"best_band": ["3-24", "8-24"], "det_ml_3_24": [12.0, 3.0],
                 "det_ml_8_24": [-99.0, 40.0]})
    np.testing.assert_array_equal(catalog.best_band_det_ml(cat), [12.0, 40.0])
