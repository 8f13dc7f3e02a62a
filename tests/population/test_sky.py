"""Tests of xsurvey.population.counts: number-count models, positions, source lists."""

import numpy as np
import pytest
from astropy.table import Table
from scipy import stats

from xsurvey.mosaic import tan_wcs
from xsurvey.population import (
    BrokenPowerLawCounts,
    TabulatedCounts,
    counts_model_from_config,
    draw_positions,
    draw_positions_in_mask,
    draw_sources,
    mask_area_deg2,
    region_area_deg2,
    sky_to_tangent,
    tangent_to_sky,
)

DEMO_LNLS = {
    "norm_deg2": 79.0, "flux_ref": 1.0e-13, "flux_break": 1.5e-14, "slope_bright": 1.5,
    "slope_faint": 0.6, "flux_min": 3.0e-15, "flux_max": 1.0e-11,
}


@pytest.fixture
def bpl():
    return counts_model_from_config(dict(DEMO_LNLS))


def _tan_wcs(center, npix, pix_arcsec):
    return tan_wcs(center, (npix, npix), pix_arcsec)


def test_broken_power_law_values_and_continuity(bpl):
    assert isinstance(bpl, BrokenPowerLawCounts)
    assert bpl.n_gt_s(1e-13) == pytest.approx(79.0)
    assert bpl.n_gt_s(1e-12) == pytest.approx(79.0 * 10**-1.5)
    s_b = 1.5e-14
    below, above = bpl.n_gt_s(s_b * (1 - 1e-12)), bpl.n_gt_s(s_b * (1 + 1e-12))
    assert below == pytest.approx(above, rel=1e-9)
    # faint slope below the break
    assert bpl.n_gt_s(s_b / 10) == pytest.approx(bpl.n_gt_s(s_b) * 10**0.6, rel=1e-12)
    assert np.all(np.diff(bpl.n_gt_s(np.geomspace(1e-16, 1e-10, 200))) < 0)


def test_expected_number(bpl):
    area = 0.25
    expect = area * (bpl.n_gt_s(3e-15) - bpl.n_gt_s(1e-11))
    assert bpl.expected_number(area) == pytest.approx(expect)
    assert bpl.expected_number(area, 1e-14, 1e-13) == pytest.approx(
        area * (bpl.n_gt_s(1e-14) - bpl.n_gt_s(1e-13)))


def test_draw_fluxes_follow_model(bpl):
    rng = np.random.default_rng(1)
    flux = bpl.draw_fluxes(rng, 20000)
    assert flux.min() >= 3e-15 and flux.max() <= 1e-11
    assert stats.kstest(flux, bpl.cdf).pvalue > 1e-3
    # counts in bins versus expectation, Poisson tolerance
    edges = np.array([3e-15, 1e-14, 1.5e-14, 5e-14, 1e-11])
    n, _ = np.histogram(flux, edges)
    frac = -np.diff(bpl.n_gt_s(edges)) / (bpl.n_gt_s(3e-15) - bpl.n_gt_s(1e-11))
    assert np.all(np.abs(n - 20000 * frac) < 4 * np.sqrt(20000 * frac) + 1)


def test_draw_fluxes_sub_range(bpl):
    flux = bpl.draw_fluxes(np.random.default_rng(2), 5000, 1e-14, 1e-13)
    assert flux.min() >= 1e-14 and flux.max() <= 1e-13
    assert stats.kstest(flux, lambda s: bpl.cdf(s, 1e-14, 1e-13)).pvalue > 1e-3


def test_tabulated_matches_broken_power_law(bpl, tmp_path):
    flux = np.unique(np.concatenate([np.geomspace(1e-16, 1e-10, 25), [1.5e-14]]))
    path = tmp_path / "counts.csv"
    Table({"flux": flux, "n_gt_s": bpl.n_gt_s(flux)}).write(path, format="ascii.csv")
    tab = counts_model_from_config({"table": str(path), "flux_min": 3e-15, "flux_max": 1e-11})
    assert isinstance(tab, TabulatedCounts)
    s = np.geomspace(3e-15, 1e-11, 300)
    np.testing.assert_allclose(tab.n_gt_s(s), bpl.n_gt_s(s), rtol=1e-9)
    assert tab.expected_number(0.3) == pytest.approx(bpl.expected_number(0.3), rel=1e-9)
    drawn = tab.draw_fluxes(np.random.default_rng(3), 10000)
    assert stats.kstest(drawn, bpl.cdf).pvalue > 1e-3
    # relative path resolved against base_dir; range defaults to the table ends
    tab2 = counts_model_from_config({"table": "counts.csv"}, base_dir=tmp_path)
    assert tab2.flux_min == pytest.approx(1e-16) and tab2.flux_max == pytest.approx(1e-10)


def test_tabulated_extrapolates_power_law():
    tab = TabulatedCounts([1e-14, 1e-13], [100.0, 100.0 * 10**-1.5])
    assert tab.n_gt_s(1e-12) == pytest.approx(100.0 * 10**-3.0)
    assert tab.n_gt_s(1e-15) == pytest.approx(100.0 * 10**1.5)


def test_config_errors(tmp_path):
    with pytest.raises(ValueError, match="slope_faint"):
        counts_model_from_config({k: v for k, v in DEMO_LNLS.items() if k != "slope_faint"})
    with pytest.raises(ValueError, match="flux_min < flux_max"):
        counts_model_from_config({**DEMO_LNLS, "flux_min": 1e-10})
    path = tmp_path / "bad.csv"
    Table({"flux": [1e-14, 1e-13], "n": [10.0, 1.0]}).write(path, format="ascii.csv")
    with pytest.raises(ValueError, match="n_gt_s"):
        counts_model_from_config({"table": str(path)})
    with pytest.raises(ValueError, match="decrease"):
        TabulatedCounts([1e-14, 1e-13], [1.0, 2.0])


def test_tangent_roundtrip():
    center = (150.1, 2.25)
    xi, eta = np.array([0.0, 0.2, -0.3]), np.array([0.0, -0.1, 0.25])
    ra, dec = tangent_to_sky(xi, eta, center)
    assert ra[0] == pytest.approx(150.1) and dec[0] == pytest.approx(2.25)
    assert ra[1] > 150.1  # xi points east
    xi2, eta2 = sky_to_tangent(ra, dec, center)
    np.testing.assert_allclose(xi2, xi, atol=1e-12)
    np.testing.assert_allclose(eta2, eta, atol=1e-12)


def test_region_area():
    assert region_area_deg2(40.0) == pytest.approx((40 / 60) ** 2, rel=1e-4)
    assert region_area_deg2([30.0, 20.0]) == pytest.approx(0.5 * 1 / 3, rel=1e-4)
    # large region: exact spherical formula (a cube face is 4 pi / 6 sr)
    face = 2 * np.degrees(1.0) * 60  # tangent-plane half side of 1 rad
    assert region_area_deg2(face) == pytest.approx(4 * np.pi / 6 * (180 / np.pi) ** 2, rel=1e-9)


def test_draw_positions_inside_and_uniform():
    center = (150.1, 2.25)
    rng = np.random.default_rng(4)
    ra, dec = draw_positions(rng, 40000, center, 40.0)
    xi, eta = sky_to_tangent(ra, dec, center)
    assert np.all(np.abs(xi) <= 20 / 60) and np.all(np.abs(eta) <= 20 / 60)
    # quadrant / strip occupancy uniform
    counts, _, _ = np.histogram2d(xi, eta, bins=4)
    assert stats.chisquare(counts.ravel()).pvalue > 1e-3
    assert abs(np.mean(xi)) < 4 * (40 / 60) / np.sqrt(12 * 40000)


def test_draw_positions_uniform_on_sphere_large_region():
    # a cube face: density per unit tangent area must fall as (1 + r^2)^-1.5
    face = 2 * np.degrees(1.0) * 60  # tangent-plane half side of 1 rad
    ra, dec = draw_positions(np.random.default_rng(5), 40000, (0.0, 0.0), face)
    # fraction within 30 deg of the centre = cap area / face area
    sep = np.degrees(np.arccos(np.cos(np.radians(dec)) * np.cos(np.radians(ra))))
    cap = 2 * np.pi * (1 - np.cos(np.radians(30.0))) / (4 * np.pi / 6)
    frac = np.mean(sep < 30.0)
    assert frac == pytest.approx(cap, abs=4 * np.sqrt(cap * (1 - cap) / 40000))


def test_draw_positions_in_mask():
    center = (150.1, 2.25)
    wcs = _tan_wcs(center, 100, 6.0)
    mask = np.zeros((100, 100), bool)
    mask[10:60, 20:90] = True  # 50 rows x 70 columns
    mask[70:80, 0:10] = True
    rng = np.random.default_rng(6)
    ra, dec = draw_positions_in_mask(rng, 30000, wcs, mask)
    x, y = wcs.wcs_world2pix(ra, dec, 0)
    ix, iy = np.rint(x).astype(int), np.rint(y).astype(int)
    assert np.all(mask[iy, ix])
    small = np.mean((iy >= 70) & (ix < 10))
    p = 100 / (50 * 70 + 100)
    assert small == pytest.approx(p, abs=4 * np.sqrt(p * (1 - p) / 30000))
    # area of a full-grid mask equals the tangent-square area
    full = np.ones((100, 100), bool)
    assert mask_area_deg2(wcs, full) == pytest.approx(region_area_deg2(10.0), rel=1e-6)
    with pytest.raises(ValueError, match="no allowed"):
        draw_positions_in_mask(rng, 3, wcs, np.zeros((5, 5), bool))


def test_draw_sources_number_and_columns(bpl):
    rng = np.random.default_rng(7)
    ns = []
    for _ in range(20):
        tab = draw_sources(rng, bpl, center_deg=(150.1, 2.25), size_arcmin=30.0, first_id=10)
        ns.append(len(tab))
    mu = bpl.expected_number(region_area_deg2(30.0))
    assert tab.meta["EXPECTED"] == pytest.approx(mu)
    assert tab.colnames == ["id", "ra", "dec", "flux"]
    assert tab["id"][0] == 10 and np.all(np.diff(tab["id"]) == 1)
    assert np.mean(ns) == pytest.approx(mu, abs=4 * np.sqrt(mu / 20))
    # masked variant
    wcs = _tan_wcs((150.1, 2.25), 200, 2.4588)
    mask = np.ones((200, 200), bool)
    tab = draw_sources(rng, bpl, wcs=wcs, mask=mask, flux_min=1e-14)
    mu = bpl.expected_number(mask_area_deg2(wcs, mask), 1e-14)
    assert abs(len(tab) - mu) < 4 * np.sqrt(mu)
    assert tab["flux"].min() >= 1e-14
    with pytest.raises(ValueError, match="either"):
        draw_sources(rng, bpl, center_deg=(0, 0), size_arcmin=1, mask=mask)


def test_draw_sources_deterministic(bpl):
    a = draw_sources(np.random.default_rng(8), bpl, center_deg=(150.1, 2.25), size_arcmin=20.0)
    b = draw_sources(np.random.default_rng(8), bpl, center_deg=(150.1, 2.25), size_arcmin=20.0)
    for c in a.colnames:
        np.testing.assert_array_equal(a[c], b[c])
