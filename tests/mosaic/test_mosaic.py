"""Mosaicking: event binning, conservation under reprojection, stacking, area curve."""

import numpy as np
import pytest
from astropy.wcs.utils import proj_plane_pixel_area

from xsurvey import mosaic
from xsurvey.quality import cumulative_area


def _obs_wcs(ra, dec, n, pixel_arcsec):
    w, _ = mosaic.make_grid((ra, dec), (n * pixel_arcsec / 60, n * pixel_arcsec / 60),
                            pixel_arcsec)
    return w


def test_event_lands_in_right_pixel(grid, nustar):
    gwcs, shape = grid
    ev_wcs = _obs_wcs(150.13, 2.21, 400, nustar.pixel_arcsec)
    targets = [(17, 33), (150, 100), (199, 239)]  # (row, col) of grid pixels
    ra, dec = gwcs.wcs_pix2world([c for _, c in targets], [r for r, _ in targets], 0)
    # event X, Y are FITS 1-based sky pixels of the observation; put them 0.3 px off centre
    x, y = ev_wcs.wcs_world2pix(ra, dec, 1)
    counts = mosaic.bin_events(x + 0.3, y - 0.3, ev_wcs, gwcs, shape)
    assert counts.sum() == 3
    for r, c in targets:
        assert counts[r, c] == 1


def test_events_off_grid_are_dropped(grid, nustar):
    gwcs, shape = grid
    ev_wcs = _obs_wcs(151.0, 2.25, 100, nustar.pixel_arcsec)  # a degree away
    assert mosaic.bin_events([50.0], [50.0], ev_wcs, gwcs, shape).sum() == 0


def _fov_maps(n, pixel_arcsec, roll_deg=30.0):
    yy, xx = np.mgrid[:n, :n]
    c = (n - 1) / 2
    u = (xx - c) * np.cos(np.radians(roll_deg)) + (yy - c) * np.sin(np.radians(roll_deg))
    v = -(xx - c) * np.sin(np.radians(roll_deg)) + (yy - c) * np.cos(np.radians(roll_deg))
    half = 6 * 60 / pixel_arcsec
    fov = (np.abs(u) < half) & (np.abs(v) < half)
    theta = np.hypot(xx - c, yy - c) * pixel_arcsec / 60
    exposure = np.where(fov, 7e4 / (1 + (theta / 5.0) ** 2), 0.0)
    bkg = np.where(fov, 0.02 * (1 + 0.5 * u / half), 0.0)
    return exposure, bkg


def test_reprojection_conserves_counts_and_exposure_area(nustar):
    pix = nustar.pixel_arcsec
    gwcs, shape = mosaic.make_grid((150.1, 2.25), (30, 30), pix)
    n = 360
    exposure, bkg = _fov_maps(n, pix)
    owcs = _obs_wcs(150.137, 2.2138, n, pix)  # tangent point 2.6' away, sub-pixel offset
    m = mosaic.pixel_mapping(owcs, (n, n), gwcs, shape)
    bkg_g = mosaic.reproject_map(bkg, m, shape, conserve_counts=True)
    exp_g = mosaic.reproject_map(exposure, m, shape, conserve_counts=False)
    assert bkg_g.sum() == pytest.approx(bkg.sum(), rel=1e-3)
    ea_in = exposure.sum() * proj_plane_pixel_area(owcs)
    ea_out = exp_g.sum() * proj_plane_pixel_area(gwcs)
    assert ea_out == pytest.approx(ea_in, rel=1e-3)
    # value preserving: the on-axis exposure is unchanged
    assert exp_g.max() == pytest.approx(exposure.max(), rel=2e-3)


def test_observation_maps_split_fcxb(nustar):
    pix = nustar.pixel_arcsec
    gwcs, shape = mosaic.make_grid((150.1, 2.25), (30, 30), pix)
    n = 360
    exposure, bkg = _fov_maps(n, pix)
    fcxb = 0.1 * bkg
    owcs = _obs_wcs(150.1, 2.25, n, pix)
    maps = mosaic.observation_maps([], [], owcs, exposure, owcs, bkg, fcxb, owcs, gwcs, shape,
                                   fcxb_fraction=0.5)
    assert maps["counts"].sum() == 0
    assert maps["background_nofcxb"].sum() == pytest.approx(0.9 * bkg.sum(), rel=1e-3)
    # without an FCXB extension the configured fraction (on axis) is used
    maps = mosaic.observation_maps([], [], owcs, exposure, owcs, bkg, None, owcs, gwcs, shape,
                                   fcxb_fraction=0.1)
    on_axis = np.unravel_index(np.argmax(maps["exposure"]), shape)
    frac = 1 - maps["background_nofcxb"][on_axis] / maps["background"][on_axis]
    assert frac == pytest.approx(0.1, rel=1e-3)


def test_stack_is_sum_of_epochs():
    rng = np.random.default_rng(1)
    epochs = [rng.poisson(3.0, (20, 30)) for _ in range(3)]
    assert np.array_equal(mosaic.sum_maps(epochs), sum(epochs))
    with pytest.raises(ValueError):
        mosaic.sum_maps([])


def test_cumulative_area_analytic():
    expo = np.zeros((10, 10))
    expo[:5] = 100e3  # 50 pixels at 100 ks
    expo[5:7] = 300e3  # 20 pixels at 300 ks
    t, area = cumulative_area(expo, 1e-4, exposure_grid=[1.0, 100e3, 200e3, 300e3, 4e5])
    assert np.allclose(area, [70e-4, 70e-4, 20e-4, 20e-4, 0.0])
