"""Background maps (mosaic.background): the fCXB component and the estimate without a
background map."""

import numpy as np
import pytest

from xsurvey.mosaic import background


def test_fcxb_component_from_fraction():
    bkg = np.full((5, 5), 2.0)
    expo = np.full((5, 5), 10.0)
    expo[0, 0] = 5.0
    f = background.fcxb_component(bkg, expo, 0.1)
    assert f[1, 1] == pytest.approx(0.2) and f[0, 0] == pytest.approx(0.1)
    assert np.array_equal(background.fcxb_component(bkg, expo, 0.1, fcxb_map=np.ones((5, 5))),
                          np.ones((5, 5)))


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
    total, fcxb = background.estimate_background(data, expo, f)
    assert total.sum() == pytest.approx(true.sum(), rel=0.01)
    on_axis = (150, 150)
    assert fcxb[on_axis] / total[on_axis] == pytest.approx(f, rel=1e-6)
    assert np.all(total[expo == 0] == 0)
