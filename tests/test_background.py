"""Background-accuracy check on synthetic observations with a known background."""

import numpy as np
import pytest

from xsurvey import background as bg


def test_spread_circles_inside_exposed_field():
    expo = np.zeros((400, 400))
    expo[60:340, 60:340] = 5e4
    x, y = bg.spread_circles(expo, 64, radius_pix=18.3, min_exposure_frac=0.5)
    assert len(x) == 64
    assert np.all(expo[np.round(y).astype(int), np.round(x).astype(int)] > 0)
    # spread out: no two centres closer than a circle radius
    d = np.hypot(x[:, None] - x[None], y[:, None] - y[None]) + np.eye(len(x)) * 1e9
    assert d.min() > 18.3


def test_circle_sums_exact_area():
    img = np.ones((100, 100))
    s = bg.circle_sums(img, [50.0], [50.0], 10.0)
    assert s[0] == pytest.approx(np.pi * 100, rel=1e-6)


def test_residuals_of_a_perfect_model():
    """Data drawn from the model itself: mean ~ 0, std ~ 1/sqrt(B) (Poisson)."""
    rng = np.random.default_rng(3)
    b = np.full(200_000, 40.0)
    d = rng.poisson(b)
    stats = bg.residual_statistics(bg.background_residuals(d, b))
    assert abs(stats["mean"]) < 5 * (1 / np.sqrt(40.0)) / np.sqrt(b.size)
    assert stats["std"] == pytest.approx(1 / np.sqrt(40.0), rel=0.01)


def test_bgcheck_observation_flags_a_biased_background():
    rng = np.random.default_rng(4)
    expo = np.full((300, 300), 5e4)
    true_bkg = np.full(expo.shape, 0.05)
    data = rng.poisson(true_bkg)
    res = bg.bgcheck_observation(data, 0.8 * true_bkg, expo, 64, 18.3, 0.5)
    stats = bg.residual_statistics(bg.background_residuals(res["data"], res["bkg"]))
    assert stats["mean"] == pytest.approx(0.25, abs=0.05)  # 1/0.8 - 1


def test_fcxb_component_from_fraction():
    bkg = np.full((5, 5), 2.0)
    expo = np.full((5, 5), 10.0)
    expo[0, 0] = 5.0
    f = bg.fcxb_component(bkg, expo, 0.1)
    assert f[1, 1] == pytest.approx(0.2) and f[0, 0] == pytest.approx(0.1)
    assert np.array_equal(bg.fcxb_component(bkg, expo, 0.1, fcxb_map=np.ones((5, 5))),
                          np.ones((5, 5)))


def test_clipped_statistics_ignore_source_circles():
    """A few circles on bright sources move the mean but not the clipped mean."""
    rng = np.random.default_rng(5)
    b = np.full(2000, 100.0)
    d = rng.poisson(b).astype(float)
    d[:60] += 300.0  # 3% of circles on bright sources
    stats = bg.residual_statistics(bg.background_residuals(d, b))
    assert stats["mean"] > 0.08
    assert abs(stats["clipped_mean"]) < 0.01
    assert stats["clipped_std"] == pytest.approx(0.1, rel=0.1)


def test_estimate_background_recovers_the_level_despite_sources():
    """No background map: the estimated level matches the truth within 1% with sources."""
    rng = np.random.default_rng(6)
    yy, xx = np.mgrid[:300, :300]
    theta = np.hypot(xx - 150, yy - 150) / 24.4  # arcmin at 2.46" pixels
    expo = np.where((abs(xx - 150) < 146) & (abs(yy - 150) < 146),
                    5e4 / (1 + (theta / 5) ** 2), 0.0)
    f = 0.1
    true = np.where(expo > 0, 0.08 * ((1 - f) + f * expo / expo.max()), 0.0)
    data = rng.poisson(true).astype(float)
    for x, y in rng.integers(30, 270, (15, 2)):  # bright sources
        data[y - 4:y + 5, x - 4:x + 5] += rng.poisson(3.0, (9, 9))
    total, fcxb = bg.estimate_background(data, expo, f)
    assert total.sum() == pytest.approx(true.sum(), rel=0.01)
    on_axis = (150, 150)
    assert fcxb[on_axis] / total[on_axis] == pytest.approx(f, rel=1e-6)
    assert np.all(total[expo == 0] == 0)
