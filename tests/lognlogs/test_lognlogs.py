"""Tests of xsurvey.lognlogs on synthetic populations with analytic N(>S)."""

import numpy as np
import pandas as pd
import pytest
from scipy.special import erf

from xsurvey import lognlogs as lns
from xsurvey import plotting
from xsurvey.detect import photometry as ph
from xsurvey.lognlogs import figures
from xsurvey.population import BrokenPowerLawCounts

K, S0 = 79.0, 1e-13                         # N(>S) = K (S / S0)^-1.5 deg^-2 (Euclidean)


def euclid(s):
    return K * (np.asarray(s, float) / S0) ** -1.5


def euclid_inverse(n):
    return S0 * (np.asarray(n, float) / K) ** (-1 / 1.5)


def completeness(s, s50=2e-14, width_dex=0.2):
    return 0.5 * (1.0 + erf(np.log10(np.asarray(s, float) / s50) / width_dex))


FLUX_GRID = np.geomspace(1e-16, 1e-10, 1201)     # 200 points per decade


# --------------------------------------------------------------------------- coverage
def test_coverage_at_interpolates_log_log():
    x = np.array([1e-15, 1e-14, 1e-13, 1e-12])
    y = np.array([0.0, 0.01, 0.1, 0.2])
    got = lns.coverage_at([5e-16, 1e-14, np.sqrt(1e-14 * 1e-13), 1e-13, 1e-11], x, y)
    np.testing.assert_allclose(got[1:], [0.01, np.sqrt(0.01 * 0.1), 0.1, 0.2])
    assert np.isnan(got[0])                        # below the first positive point: unknown
    # NaN (unknown) coverage points are ignored
    got = lns.coverage_at([3e-14], [1e-14, 3e-14, 1e-13], [0.01, np.nan, 0.1])
    np.testing.assert_allclose(got, 0.01 * 10 ** (np.log10(3) * 1.0))


def test_coverage_and_sensitivity_selection():
    cov = pd.DataFrame({"band": ["3-24"] * 4 + ["3-8"] * 2,
                        "reliability": [0.95, 0.95, 0.99, 0.99, 0.95, 0.95],
                        "flux": [2e-14, 1e-14, 1e-14, 2e-14, 1e-14, 2e-14],
                        "area_deg2": [0.2, 0.1, 0.05, 0.15, 0.3, 0.4]})
    f, a = lns.coverage_curve(cov, "3-24", 0.95)
    np.testing.assert_allclose(f, [1e-14, 2e-14])
    np.testing.assert_allclose(a, [0.1, 0.2])
    sens = pd.DataFrame({"band": ["3-24", "3-24"], "reliability": [0.95, 0.99],
                         "flux_half_area": [1e-14, 2e-14], "flux_20pct_area": [5e-15, 8e-15]})
    assert lns.half_area_flux(sens, "3-24", 0.99) == 2e-14
    with pytest.raises(ValueError, match="no rows"):
        lns.coverage_curve(cov, "8-24")


# --------------------------------------------------------------------------- estimator
def test_small_numbers_use_gehrels():
    # three sources with a flat 0.5 deg^2 coverage: N = n / 0.5, Gehrels errors on n
    t = lns.number_counts([3e-14, 1e-14, 2e-14], [1e-16, 1e-10], [0.5, 0.5])
    np.testing.assert_allclose(t["flux"], [1e-14, 2e-14, 3e-14])
    np.testing.assert_allclose(t["n_gt_s"], [6.0, 4.0, 2.0])
    n = np.array([3.0, 2.0, 1.0])
    np.testing.assert_allclose(t["n_err_hi"], (ph.gehrels_upper(n) - n) / 0.5)
    np.testing.assert_allclose(t["n_err_lo"], (n - ph.gehrels_lower(n)) / 0.5)
    np.testing.assert_array_equal(t["n_sources"], [3, 2, 1])
    np.testing.assert_allclose(t["sigma_gauss"], np.sqrt(n) / 0.5)
    # equal fluxes share one value; flux limits are inclusive
    t = lns.number_counts([1e-14, 1e-14, 2e-14, 5e-14], [1e-16, 1e-10], [1.0, 1.0],
                          flux_min=1e-14, flux_max=2e-14)
    np.testing.assert_allclose(t["n_gt_s"], [3.0, 3.0, 1.0])


def test_euclidean_full_coverage_recovers_counts():
    """Stratified Euclidean sample, flat coverage: N(>S) within 1 sigma (and 1%)."""
    area, s_lo = 0.5, 1e-14
    n = int(round(area * euclid(s_lo)))
    u = (np.arange(n) + 0.5) / n
    flux = euclid_inverse(euclid(s_lo) * (1 - u))
    t = lns.number_counts(flux, [1e-16, 1e-10], [area, area])
    model = euclid(t["flux"])
    sigma = np.where(t["n_gt_s"] < model, t["n_err_hi"], t["n_err_lo"])
    assert np.all(np.abs(t["n_gt_s"] - model) < sigma)
    big = t["n_sources"] >= 100
    np.testing.assert_allclose(t["n_gt_s"][big], model[big], rtol=0.01)
    cmp = lns.compare_to_model(t, euclid)
    assert np.all(np.abs(cmp["pull"]) < 1)
    np.testing.assert_allclose(cmp["ratio"][big], 1.0, rtol=0.01)


def test_error_calibration_on_poisson_realisations():
    """Pulls of N(>S_lo) over many Poisson skies have mean 0 and unit spread."""
    rng = np.random.default_rng(7)
    area, s_lo = 0.05, 1e-14          # ~125 sources per sky
    mean = area * euclid(s_lo)
    pulls = []
    for _ in range(400):
        flux = euclid_inverse(euclid(s_lo) * rng.random(rng.poisson(mean)))
        t = lns.number_counts(flux, [1e-16, 1e-10], [area, area], flux_min=s_lo)
        # no source between s_lo and the faintest one: the first value is N(>s_lo)
        first = t.iloc[:1].assign(flux=s_lo)
        pulls.append(lns.compare_to_model(first, euclid)["pull"].iloc[0])
    pulls = np.asarray(pulls)
    assert abs(pulls.mean()) < 0.15
    assert 0.85 < pulls.std() < 1.15


def test_completeness_correction_recovers_input():
    """Sample thinned by an erf completeness; coverage = area * C(S): 1/Omega recovers N(>S)."""
    area, s_lo = 1.0, 3e-15
    # detected population: density C(S) dN/dS; stratified by its cumulative distribution
    s = np.geomspace(s_lo, 1e-11, 20001)
    dn = -np.diff(euclid(s))
    c = completeness(np.sqrt(s[1:] * s[:-1]))
    cum_det = np.concatenate([[0.0], np.cumsum(dn * c)]) * area     # detected below S
    n_det = int(round(cum_det[-1]))
    flux = np.interp((np.arange(n_det) + 0.5) / n_det * cum_det[-1], cum_det, s)
    coverage = area * completeness(FLUX_GRID)
    half = 2e-14
    t = lns.number_counts(flux, FLUX_GRID, coverage, flux_min=half / 3, flux_max=1e-11)
    assert t["flux"].min() >= half / 3
    model = euclid(t["flux"]) - euclid(1e-11)
    sigma = np.where(t["n_gt_s"] < model, t["n_err_hi"], t["n_err_lo"])
    assert np.all(np.abs(t["n_gt_s"] - model) < sigma)
    # where C >= 0.5 the weights are small and the estimate is tight; fainter, a few
    # sources of large weight (C ~ 1e-3 at half / 3) make it noisy, but still within 1 sigma
    well = (t["flux"] >= half) & (t["n_sources"] >= 100)
    assert well.sum() > 100
    np.testing.assert_allclose(t["n_gt_s"][well], model[well], rtol=0.02)
    # without the correction the faint end is far too low
    flat = lns.number_counts(flux, FLUX_GRID, np.full(FLUX_GRID.size, area), flux_min=half / 3)
    assert flat["n_gt_s"].iloc[0] < 0.8 * (euclid(half / 3) - euclid(1e-11))
    cmp = lns.compare_to_model(t, euclid, flux_max=1e-11)
    assert np.all(np.abs(cmp["pull"]) < 1)


def test_select_for_counts():
    flux = np.array([1e-15, 5e-15, 1e-14, 5e-14, 1e-13, 2e-13, 5e-14, 5e-14])
    snr = np.array([5, 5, 5, 5, 5, 5, 2.5, np.nan])
    above = np.array([1, 1, 1, 1, 1, 1, 1, 1], bool)
    above[3] = True
    sel = lns.select_for_counts(flux, snr, above, half_area_flux=1.5e-14)
    np.testing.assert_array_equal(sel, [0, 1, 1, 1, 1, 0, 0, 0])
    above[2] = False
    sel = lns.select_for_counts(flux, snr, above, 1.5e-14, flux_max=6e-14)
    np.testing.assert_array_equal(sel, [0, 1, 0, 1, 0, 0, 0, 0])
    cat = pd.DataFrame({"flux_8_16": flux, "snr_8_16": snr, "above_8_16": above})
    np.testing.assert_allclose(lns.catalog_sample(cat, "8-16", 1.5e-14, 6e-14), [5e-15, 5e-14])


# --------------------------------------------------------------------------- replicas
@pytest.fixture(scope="module")
def replicas():
    """Replica detections of a known broken power law with an erf completeness."""
    model = BrokenPowerLawCounts(79.0, 1e-13, 1.5e-14, 1.5, 0.6, 3e-15, 1e-11)
    ratio = 0.6                                   # band flux / reference-band flux
    s50, area, n_rep = 1.5e-14, 0.2, 300
    rng = np.random.default_rng(2)
    rows = []
    for r in range(n_rep):
        n = rng.poisson(model.expected_number(area))
        f = model.draw_fluxes(rng, n) * ratio
        kept = rng.random(n) < completeness(f, s50, 0.15)
        f = f[kept]
        n_spur = rng.poisson(20)                   # spurious: below the DET_ML threshold
        rows.append(pd.DataFrame({
            "replica": r,
            "det_ml": np.concatenate([np.full(f.size, 40.0), rng.uniform(2, 9.9, n_spur)]),
            "exposure_ks": 150.0,
            "flux": np.concatenate([f, rng.uniform(5e-15, 5e-14, n_spur)]),
            "snr": np.concatenate([np.full(f.size, 6.0), np.full(n_spur, 3.0)]),
            "input_id": np.concatenate([np.arange(f.size), np.full(n_spur, -1)]),
        }))
    det = pd.concat(rows, ignore_index=True)
    thresholds = pd.DataFrame({"band": "3-8", "exp_lo_ks": [20.0, 20.0],
                               "exp_hi_ks": [np.inf, np.inf], "reliability": [0.95, 0.99],
                               "det_ml_threshold": [10.0, 12.0]})
    coverage = area * completeness(FLUX_GRID, s50, 0.15)
    return det, thresholds, coverage, lambda flux: model.n_gt_s(np.asarray(flux) / ratio), \
        s50, n_rep


def test_replica_counts_recover_input(replicas):
    det, thresholds, coverage, model, s50, n_rep = replicas
    t = lns.replica_number_counts(det, thresholds, FLUX_GRID, coverage, half_area_flux=s50,
                                  flux_max=1e-13, level=0.95)
    assert t["flux"].iloc[0] == pytest.approx(s50 / 3) and t["flux"].iloc[-1] == 1e-13
    assert np.all(t["n_replicas"] == n_rep)
    assert np.all(np.diff(t["n_gt_s"]) <= 0)
    cmp = lns.compare_to_model(t, model, flux_max=1e-13)
    inner = t["flux"] < 1e-13                      # N(>S) - N(>1e-13) = 0 at the top
    assert np.all(np.abs(cmp["pull"][inner]) < 1.0)
    # the mean of 300 replicas is within 4 standard errors of the model
    resid = (cmp["n_gt_s"] - cmp["model_n_gt_s"]) / cmp["n_err_mean"]
    assert np.all(np.abs(resid[inner]) < 4)
    well = (t["flux"] >= s50) & (t["n_sources"] > 10)
    assert well.sum() >= 5
    np.testing.assert_allclose(cmp["ratio"][well], 1.0, atol=0.03)
    # 16-84% between replicas brackets the mean
    assert np.all((t["p16"] <= t["n_gt_s"]) & (t["n_gt_s"] <= t["p84"]))
    # scatter between replicas = Poisson variance of the weighted sum,
    # var N(>S) = integral over S' > S of (1 / Omega(S')^2) C(S') A dN = (1 / A) int dN / C
    area = coverage.max()
    for k in np.flatnonzero(well):
        s = np.geomspace(t["flux"].iloc[k], 1e-13, 2001)
        dn = -np.diff(model(s))
        c = np.interp(np.sqrt(s[1:] * s[:-1]), FLUX_GRID, coverage) / area
        expect = np.sqrt(np.sum(dn / c) / area)
        assert t["n_std"].iloc[k] == pytest.approx(expect, rel=0.12)


def test_replica_counts_spurious_and_missing_replicas(replicas):
    det, thresholds, coverage, model, s50, n_rep = replicas
    # the spurious detections (below threshold) are not counted
    t99 = lns.replica_number_counts(det, thresholds, FLUX_GRID, coverage, s50, level=0.99)
    low = det[det["det_ml"] < 12]
    t_all = lns.replica_number_counts(
        det.assign(det_ml=np.where(det["det_ml"] < 12, 50.0, det["det_ml"])), thresholds,
        FLUX_GRID, coverage, s50)
    assert len(low) > 0 and np.all(t_all["n_gt_s"] >= t99["n_gt_s"])
    assert np.any(t_all["n_gt_s"] > t99["n_gt_s"])
    # replicas without detections count as zeros
    t2 = lns.replica_number_counts(det, thresholds, FLUX_GRID, coverage, s50,
                                   replicas=np.arange(2 * n_rep))
    np.testing.assert_allclose(t2["n_gt_s"], 0.5 * t99["n_gt_s"])
    assert np.all(t2["n_replicas"] == 2 * n_rep)


def test_number_counts_figures(replicas, tmp_path):
    det, thresholds, coverage, model, s50, _ = replicas
    one = det[(det["replica"] == 1) & (det["det_ml"] >= 10)]
    single = lns.number_counts(one["flux"], FLUX_GRID, coverage, s50 / 3, 1e-13)
    rep = lns.replica_number_counts(det, thresholds, FLUX_GRID, coverage, s50)
    fig = figures.number_counts_curves({"3-8": single, "8-24": single.iloc[:0]},
                                       models={"3-8": model, "8-24": None}, flux_max=1e-13,
                                       reference={"3-8": ("reference", model)})
    plotting.save(fig, tmp_path / "counts.png")
    # a band without recovered counts (too few replicas) is drawn empty, not an error
    fig = figures.replica_counts_curves({"3-8": rep, "8-24": rep.assign(n_gt_s=0.0)},
                                        {"3-8": model, "8-24": model}, flux_max=1e-13)
    plotting.save(fig, tmp_path / "replicas.png")
    assert (tmp_path / "counts.png").stat().st_size > 0
    assert (tmp_path / "replicas.png").stat().st_size > 0
