"""Background-accuracy check (quality.bgcheck) on synthetic observations with a known
background."""

import numpy as np
import pytest

from xsurvey.quality import bgcheck


def test_spread_circles_inside_exposed_field():
    expo = np.zeros((400, 400))
    expo[60:340, 60:340] = 5e4
    x, y = bgcheck.spread_circles(expo, 64, radius_pix=18.3, min_exposure_frac=0.5)
    assert len(x) == 64
    assert np.all(expo[np.round(y).astype(int), np.round(x).astype(int)] > 0)
    # spread out: no two centres closer than a circle radius
    d = np.hypot(x[:, None] - x[None], y[:, None] - y[None]) + np.eye(len(x)) * 1e9
    assert d.min() > 18.3


def test_circle_sums_exact_area():
    img = np.ones((100, 100))
    s = bgcheck.circle_sums(img, [50.0], [50.0], 10.0)
    assert s[0] == pytest.approx(np.pi * 100, rel=1e-6)


def test_residuals_of_a_perfect_model():
    """Data drawn from the model itself: mean ~ 0, std ~ 1/sqrt(B) (Poisson)."""
    rng = np.random.default_rng(3)
    b = np.full(200_000, 40.0)
    d = rng.poisson(b)
    stats = bgcheck.residual_statistics(bgcheck.background_residuals(d, b))
    assert abs(stats["mean"]) < 5 * (1 / np.sqrt(40.0)) / np.sqrt(b.size)
    assert stats["std"] == pytest.approx(1 / np.sqrt(40.0), rel=0.01)


def test_bgcheck_observation_flags_a_biased_background():
    rng = np.random.default_rng(4)
    expo = np.full((300, 300), 5e4)
    true_bkg = np.full(expo.shape, 0.05)
    data = rng.poisson(true_bkg)
    res = bgcheck.bgcheck_observation(data, 0.8 * true_bkg, expo, 64, 18.3, 0.5)
    stats = bgcheck.residual_statistics(bgcheck.background_residuals(res["data"], res["bkg"]))
    assert stats["mean"] == pytest.approx(0.25, abs=0.05)  # 1/0.8 - 1


def test_clipped_statistics_ignore_source_circles():
    """A few circles on bright sources move the mean but not the clipped mean."""
    rng = np.random.default_rng(5)
    b = np.full(2000, 100.0)
    d = rng.poisson(b).astype(float)
    d[:60] += 300.0  # 3% of circles on bright sources
    stats = bgcheck.residual_statistics(bgcheck.background_residuals(d, b))
    assert stats["mean"] > 0.08
    assert abs(stats["clipped_mean"]) < 0.01
    assert stats["clipped_std"] == pytest.approx(0.1, rel=0.1)
