"""Tests of xsurvey.demo: truth sky, simulated observations, files, ancillary catalogues."""

import copy
import dataclasses
from pathlib import Path

import numpy as np
import pytest
from astropy.table import Table
from scipy import stats

from xsurvey import demo
from xsurvey.config import default_config
from xsurvey.demo.ancillary import _soft_fluxes
from xsurvey.instrument import Band, elementary_bands, load_instrument, spectral
from xsurvey.io import read_events, read_image
from xsurvey.population import region_area_deg2, sky_to_tangent

ROOT = Path(__file__).resolve().parents[2]
ON_AXIS = {"obs_id": "609010001002", "epoch": "e1", "module": "FPMA", "ra_pnt": 150.1,
           "dec_pnt": 2.25, "roll_deg": 0.0, "exposure_ks": 50.0}


@pytest.fixture(scope="module")
def inst():
    return load_instrument(ROOT / "resources/instruments/nustar.yaml")


@pytest.fixture(scope="module")
def cfg():
    demo_cfg = default_config(ROOT)["demo"]
    demo_cfg = copy.deepcopy(demo_cfg)
    demo_cfg["image_npix"] = 361  # odd: the pointing is a pixel centre; 14.8' > 12' FoV
    demo_cfg.pop("background_fit_flux")  # exact diffuse-only maps; see test_fitted_background
    return demo_cfg


@pytest.fixture(scope="module")
def truth(inst, cfg, population):
    return demo.make_demo_sky(inst, cfg, population)


@pytest.fixture(scope="module")
def obs(inst, truth, cfg):
    return demo.simulate_observation(inst, truth, ON_AXIS, cfg)


def make_truth(ra, dec, flux, gamma=1.8, nh=0.0, z=0.0, variable=False, amp=0.0, first_id=1,
               inst=None):
    """A truth table; ``flux`` is the observed reference-band (3-24 keV) flux."""
    inst = inst or load_instrument(ROOT / "resources/instruments/nustar.yaml")
    n = np.size(ra)
    t = Table()
    t["id"] = np.arange(first_id, first_id + n, dtype=np.int64)
    t["ra"] = np.atleast_1d(np.asarray(ra, float))
    t["dec"] = np.atleast_1d(np.asarray(dec, float))
    t["flux_ref"] = np.broadcast_to(np.asarray(flux, float), (n,)).copy()
    t["photon_index"] = np.broadcast_to(np.asarray(gamma, float), (n,)).copy()
    t["nh"] = np.broadcast_to(np.asarray(nh, float), (n,)).copy()
    t["redshift"] = np.broadcast_to(np.asarray(z, float), (n,)).copy()
    unit, _ = inst.fold([inst.reference_band], t["photon_index"], t["nh"], t["redshift"])
    t["norm"] = t["flux_ref"] / unit[:, 0]
    t["variable"] = np.broadcast_to(np.asarray(variable, bool), (n,)).copy()
    t["var_amp_dex"] = np.broadcast_to(np.asarray(amp, float), (n,)).copy()
    return t


def poisson_ok(n, mu, k=4.0):
    return abs(n - mu) <= k * np.sqrt(mu) + 1


# --------------------------------------------------------------------------- bands
def test_elementary_bands_nustar(inst):
    elements, members = elementary_bands(inst)
    assert [b.name for b in elements] == ["3-8", "8-16", "16-24"]
    assert members == {"3-24": (0, 1, 2), "3-8": (0,), "8-24": (1, 2), "8-16": (1,),
                       "16-24": (2,)}


def test_elementary_bands_not_bands(inst):
    def band(name, lo, hi, share, vign):
        return Band(name, lo, hi, "X", vign, share, 0.1)

    bands = {"3-24": band("3-24", 3, 24, 1.0, 5.0), "3-10": band("3-10", 3, 10, 0.4, 5.5),
             "8-24": band("8-24", 8, 24, 0.7, 4.0)}
    alt = dataclasses.replace(inst, bands=bands)
    elements, members = elementary_bands(alt)
    assert [(b.e_lo_kev, b.e_hi_kev) for b in elements] == [(3, 8), (8, 10), (10, 24)]
    np.testing.assert_allclose([b.background_share for b in elements], [0.3, 0.1, 0.6])
    np.testing.assert_allclose([b.fcxb_fraction for b in elements], 0.1)
    assert [b.vignetting_half_arcmin for b in elements] == [5.5, 5.5, 4.0]
    assert members["3-24"] == (0, 1, 2) and members["3-10"] == (0, 1)
    # a simulation on such bands: composite background = sum of the elementary parts
    cfg = {"seed": 1, "image_npix": 301}
    t = make_truth(150.1, 2.25, 1e-12, inst=alt)
    res = demo.simulate_observation(alt, t, {**ON_AXIS, "exposure_ks": 5.0}, cfg)
    internal = {b: res.background[b]["INTERNAL"].sum() for b in bands}
    assert internal["3-10"] / internal["3-24"] == pytest.approx(0.4, rel=1e-12)
    assert internal["8-24"] / internal["3-24"] == pytest.approx(0.7, rel=1e-12)
    src = res.sources[0]
    assert src["mu_3-10"] + src["mu_8-24"] > src["mu_3-24"] > src["mu_3-10"]  # 8-10 overlap
    pi = np.asarray(res.events["PI"])
    lo, hi = alt.pi_range("3-24")
    assert pi.min() >= lo and pi.max() < hi and poisson_ok(
        len(pi), res.background_total("3-24").sum()
        + src["mu_3-24"] * alt.eef(alt.psf.kernel_radius_arcsec))


# --------------------------------------------------------------------------- truth sky
def test_make_demo_sky_columns_and_determinism(inst, cfg, truth, population):
    again = demo.make_demo_sky(inst, cfg, population)
    for c in truth.colnames:
        np.testing.assert_array_equal(truth[c], again[c])
    expected = {"id", "ra", "dec", "flux_int", "norm", "flux_ref", "photon_index", "nh",
                "redshift", "variable", "var_amp_dex"} | {f"flux_{b}" for b in inst.bands}
    assert expected <= set(truth.colnames)
    assert len(np.unique(truth["id"])) == len(truth)
    mu = truth.meta["EXPECTED"]
    assert mu == pytest.approx(population.expected_number(region_area_deg2(40.0)), rel=1e-9)
    assert poisson_ok(len(truth), mu)
    assert (truth["flux_int"].min() >= population.flux_min
            and truth["flux_int"].max() <= population.flux_max)
    # the intrinsic flux is the unabsorbed power law's in the counts band
    lo, hi = population.counts_band_kev
    g = np.asarray(truth["photon_index"])
    np.testing.assert_allclose(truth["flux_int"], truth["norm"] * 1.602176634e-9
                               * (hi ** (2 - g) - lo ** (2 - g)) / (2 - g), rtol=1e-9)
    xi, eta = sky_to_tangent(truth["ra"], truth["dec"], cfg["sky_center_deg"])
    assert np.all(np.abs(xi) <= 20 / 60) and np.all(np.abs(eta) <= 20 / 60)
    other = demo.make_demo_sky(inst, {**cfg, "seed": 43}, population)
    assert len(other) != len(truth) or not np.array_equal(other["ra"], truth["ra"])


def test_band_fluxes_additive(truth):
    np.testing.assert_allclose(truth["flux_3-24"], truth["flux_ref"], rtol=1e-12)
    np.testing.assert_allclose(truth["flux_3-8"] + truth["flux_8-24"], truth["flux_3-24"],
                               rtol=1e-12)
    np.testing.assert_allclose(truth["flux_8-16"] + truth["flux_16-24"], truth["flux_8-24"],
                               rtol=1e-12)
    # absorbed sources are harder
    hr = truth["flux_8-24"] / truth["flux_3-8"]
    obscured = truth["nh"] > 1e23
    assert np.median(hr[obscured]) > np.median(hr[truth["nh"] < 1e22])


def test_spectral_parameter_distributions(truth, cfg, population):
    n = len(truth)
    frac = np.mean(truth["variable"])
    p = cfg["variable_fraction"]
    assert frac == pytest.approx(p, abs=4 * np.sqrt(p * (1 - p) / n))
    assert np.all(truth["var_amp_dex"][truth["variable"]] == cfg["variability_sigma_dex"])
    assert np.all(truth["var_amp_dex"][~truth["variable"]] == 0.0)
    counts, _ = np.histogram(np.log10(truth["nh"]), population.spectra.log_nh_edges)
    fr = np.asarray(population.spectra.log_nh_fractions)
    assert np.all(np.abs(counts - n * fr) <= 4 * np.sqrt(n * fr * (1 - fr)))
    assert np.mean(truth["photon_index"]) == pytest.approx(1.8, abs=4 * 0.2 / np.sqrt(n))
    assert np.median(truth["redshift"]) == pytest.approx(1.0, rel=0.1)


# --------------------------------------------------------------------------- variability
def test_epoch_factor(truth, cfg):
    seed = cfg["seed"]
    ids = np.asarray(truth["id"])
    f1 = demo.epoch_factor(seed, ids, "e1", truth)
    assert np.all(f1[~truth["variable"]] == 1.0)
    assert np.all(f1[truth["variable"]] != 1.0)
    # independent of which other sources (or epochs) are asked for
    sub = ids[::7]
    np.testing.assert_array_equal(demo.epoch_factor(seed, sub, "e1", truth), f1[::7])
    demo.epoch_factor(seed, ids, "e9", truth)
    np.testing.assert_array_equal(demo.epoch_factor(seed, ids, "e1", truth), f1)
    f2 = demo.epoch_factor(seed, ids, "e2", truth)
    assert not np.array_equal(f1, f2)
    # amplitude: log10 factors ~ N(-a^2 ln(10) / 2, a), a lognormal of mean 1
    var_ids = ids[truth["variable"]]
    logs = np.concatenate([np.log10(demo.epoch_factor(seed, var_ids, f"ep{k}", truth))
                           for k in range(20)])
    a = cfg["variability_sigma_dex"]
    assert np.std(logs) == pytest.approx(a, rel=0.06)
    assert np.mean(logs) == pytest.approx(-0.5 * np.log(10) * a**2, abs=4 * a / np.sqrt(logs.size))
    factors = 10.0**logs
    assert np.mean(factors) == pytest.approx(1.0, abs=4 * np.std(factors) / np.sqrt(logs.size))
    with pytest.raises(KeyError, match="not in the truth"):
        demo.epoch_factor(seed, [10**9], "e1", truth)


# --------------------------------------------------------------------------- observation
def test_exposure_maps(inst, obs):
    t = ON_AXIS["exposure_ks"] * 1000
    c = obs.npix // 2
    half = 0.5 * inst.field_of_view_arcmin * 60 / inst.pixel_arcsec
    idx = np.arange(obs.npix) - c
    dx, dy = np.meshgrid(idx, idx)
    outside = (np.abs(dx) > half) | (np.abs(dy) > half)
    inside = (np.abs(dx) < half - 1) & (np.abs(dy) < half - 1)
    for band, b in inst.bands.items():
        exp = obs.exposure[band]
        assert exp[c, c] == t and exp.max() == t
        assert np.all(exp[outside] == 0) and np.all(exp[inside] > 0)
        # vignetting: half the on-axis exposure at theta50 along x
        n50 = b.vignetting_half_arcmin * 60 / inst.pixel_arcsec
        x = np.arange(c, c + int(n50) + 2)
        assert np.interp(n50, x - c, exp[c, x]) == pytest.approx(t / 2, rel=1e-3)
    n_in = np.count_nonzero(obs.exposure["3-24"])
    assert n_in == pytest.approx((2 * half) ** 2, rel=0.01)


def test_field_of_view_rotates(inst, truth, cfg):
    rot = demo.simulate_observation(inst, truth, {**ON_AXIS, "roll_deg": 45.0}, cfg)
    c = rot.npix // 2
    half = 0.5 * inst.field_of_view_arcmin * 60 / inst.pixel_arcsec
    d = int(0.65 * half)
    assert rot.exposure["3-8"][c + d, c + d] > 0  # inside the rotated square only
    assert rot.exposure["3-8"][c + int(0.95 * half), c] > 0
    e = int(0.9 * half)
    assert rot.exposure["3-8"][c + e, c + e] == 0  # corner of the unrotated square


def test_background_maps(inst, obs):
    t = ON_AXIS["exposure_ks"] * 1000
    bkg = inst.background
    pix_area = (inst.pixel_arcsec / 60) ** 2
    inside = obs.exposure["3-24"] > 0
    elements, members = elementary_bands(inst)
    c = obs.npix // 2
    idx = np.arange(obs.npix) - c
    theta = np.hypot(*np.meshgrid(idx, idx)) * inst.pixel_arcsec / 60
    for band, ids in members.items():
        comps = obs.background[band]
        assert set(comps) == {"INTERNAL", "APERTURE", "FCXB"}
        total = obs.background_total(band)
        np.testing.assert_array_equal(total, comps["INTERNAL"] + comps["APERTURE"] + comps["FCXB"])
        assert np.all(total[~inside] == 0)
        flat = fcxb = 0.0
        for i in ids:
            b = elements[i]
            base = bkg.rate_cts_s_arcmin2 * b.background_share * pix_area * t
            flat += (1 - b.fcxb_fraction) * base * inside.sum()
            fcxb += b.fcxb_fraction * base * inst.vignetting(b.name, theta)[inside].sum()
        assert comps["INTERNAL"].sum() + comps["APERTURE"].sum() == pytest.approx(flat, rel=1e-9)
        assert comps["FCXB"].sum() == pytest.approx(fcxb, rel=1e-4)
        # composite band = sum of elementary parts, component by component
        for comp in comps:
            parts = [obs.background[elements[i].name][comp] for i in ids]
            np.testing.assert_allclose(comps[comp], sum(parts), rtol=1e-15)
    # reference band: rate * area * T (FoV area) up to the vignetted fCXB share
    ref = obs.background_total("3-24").sum()
    area_t = bkg.rate_cts_s_arcmin2 * pix_area * inside.sum() * t
    assert 0.9 * area_t < ref <= area_t
    # on-axis pixel: rate * pixel area * T (aperture gradient ~1 at the centre)
    assert obs.background_total("3-24")[c, c] == pytest.approx(
        bkg.rate_cts_s_arcmin2 * pix_area * t, rel=0.02)
    # stray-light gradient: mean share and max/min ratio
    ap = obs.background["3-8"]["APERTURE"][inside]
    base = bkg.rate_cts_s_arcmin2 * inst.band("3-8").background_share * pix_area * t
    assert ap.mean() == pytest.approx(bkg.aperture_fraction * base, rel=1e-9)
    ratio = ap.max() / ap.min()
    assert ratio == pytest.approx(obs.meta["APRATIO"], rel=1e-9)
    assert 1.0 <= ratio <= bkg.aperture_gradient_max


def test_source_counts_match_cf(inst, cfg):
    """Unabsorbed Gamma=1.8 on-axis source: expected counts = flux / CF * T."""
    t = make_truth(150.1, 2.25, 1e-13, gamma=inst.photon_index)
    res = demo.simulate_observation(inst, t, ON_AXIS, cfg)
    for band in inst.bands:
        expect = 1e-13 * inst.band_flux_ratio(band) / inst.cf(band) * 50e3
        assert res.sources[f"mu_{band}"][0] == pytest.approx(expect, rel=2e-3)


def test_event_counts_consistent(inst, cfg):
    # sources within 0.9' of the axis: the truncated PSF (5') stays inside the 12' FoV
    rng = np.random.default_rng(0)
    n = 8
    r = 0.9 / 60 * np.sqrt(rng.random(n))
    phi = 2 * np.pi * rng.random(n)
    t = make_truth(150.1 + r * np.cos(phi), 2.25 + r * np.sin(phi),
                   flux=np.geomspace(5e-14, 2e-13, n), gamma=np.linspace(1.4, 2.2, n),
                   nh=np.geomspace(1e20, 3e23, n), z=np.linspace(0, 2, n),
                   variable=np.arange(n) % 2 == 0, amp=0.3)
    res = demo.simulate_observation(inst, t, ON_AXIS, cfg)
    assert len(res.sources) == n and np.all(res.sources["n_events"] > 0)
    eef_k = inst.eef(inst.psf.kernel_radius_arcsec)
    f = demo.epoch_factor(cfg["seed"], t["id"], "e1", t)
    np.testing.assert_array_equal(res.sources["epoch_factor"], f)
    pi = np.asarray(res.events["PI"])
    lo, hi = inst.pi_range("3-24")
    assert pi.min() >= lo and pi.max() < hi
    for band in inst.bands:
        lo, hi = inst.pi_range(band)
        in_band = (pi >= lo) & (pi < hi)
        mu_src = float(np.sum(res.sources[f"mu_{band}"])) * eef_k
        mu = res.background_total(band).sum() + mu_src
        assert poisson_ok(in_band.sum(), mu), band
        assert poisson_ok(np.sum(in_band & (res.event_source_id >= 0)), mu_src), band


def test_reprocessed_absorber_events_hold_the_iron_line(inst, cfg):
    """A bright Compton-thick source with the reprocessed absorber: its events in the
    channels of 6.36-6.44 keV are the continuum there plus the K-alpha line's counts
    (:func:`xsurvey.instrument.spectral.fluorescence_lines`), Poisson within 4 sigma, and the
    line is detected above the continuum."""
    inst_r = dataclasses.replace(inst, absorber="reprocessed")
    t = make_truth(150.1, 2.25, 3e-11, nh=1e24, inst=inst_r)
    res = demo.simulate_observation(inst_r, t, ON_AXIS, cfg)
    pi = np.asarray(res.events["PI"])[res.event_source_id >= 0]
    lo, hi = inst.pi_bounds(6.36, 6.44)
    n_line = int(np.sum((pi >= lo) & (pi < hi)))
    scale = float(t["norm"][0]) * 50e3 * inst.eef(inst.psf.kernel_radius_arcsec)
    e = np.linspace(6.36, 6.44, 81)
    continuum = scale * np.trapezoid(spectral.photon_spectrum(
        e, 1.8, 1e24, 0.0, inst.nh_galactic_cm2, "reprocessed") * inst.effective_area(e), e)
    e_line, photons = spectral.fluorescence_lines(1.8, 1e24, 0.0, inst.nh_galactic_cm2,
                                                  "reprocessed")
    line = scale * float(photons[0] * inst.effective_area(e_line[0]))
    assert line > 5 * np.sqrt(continuum)
    assert poisson_ok(n_line, continuum + line)


def test_bright_source_psf_and_position(inst, cfg):
    ra, dec = 150.1 + 20 / 3600, 2.25 - 13 / 3600
    t = make_truth(ra, dec, 1e-11)
    res = demo.simulate_observation(inst, t, ON_AXIS, cfg)
    sel = res.event_source_id == 1
    ev = res.events[sel]
    x0, y0 = res.wcs.wcs_world2pix(ra, dec, 1)
    assert res.sources["x"][0] == pytest.approx(x0) and res.sources["y"][0] == pytest.approx(y0)
    r = np.hypot(ev["X"] - x0, ev["Y"] - y0) * inst.pixel_arcsec
    n = r.size
    eef_k = inst.eef(inst.psf.kernel_radius_arcsec)
    assert poisson_ok(n, res.sources["mu_3-24"][0] * eef_k)
    p20 = inst.eef(20.0) / eef_k
    assert inst.eef(20.0) == pytest.approx(0.32, abs=0.005)
    assert np.mean(r < 20) == pytest.approx(p20, abs=4 * np.sqrt(p20 * (1 - p20) / n))
    assert stats.kstest(r, lambda x: inst.eef(x) / eef_k).pvalue > 1e-3
    core = r < 30
    ra_c, dec_c = res.wcs.wcs_pix2world(np.mean(ev["X"][core]), np.mean(ev["Y"][core]), 1)
    sep = np.hypot((ra_c - ra) * np.cos(np.radians(dec)), dec_c - dec) * 3600
    assert sep < 1.0
    # source energies follow the spectrum: the 3-8 / 8-24 split matches expectation
    pi = np.asarray(ev["PI"])
    lo, hi = inst.pi_range("3-8")
    frac_soft = np.mean((pi >= lo) & (pi < hi))
    p = res.sources["mu_3-8"][0] / res.sources["mu_3-24"][0]
    assert frac_soft == pytest.approx(p, abs=4 * np.sqrt(p * (1 - p) / n))
    # mean energy within 3-8 keV follows N(E) A(E)
    e = inst.pi_offset_kev + inst.kev_per_pi * (pi[(pi >= lo) & (pi < hi)] + 0.5)
    grid = np.linspace(3, 8, 2001)
    w = spectral.photon_spectrum(grid, 1.8, 0.0, 0.0, inst.nh_galactic_cm2) * inst.effective_area(
        grid)
    e_mean = np.trapezoid(w * grid, grid) / np.trapezoid(w, grid)
    assert np.mean(e) == pytest.approx(e_mean, abs=4 * 1.5 / np.sqrt(e.size) + 0.01)


def test_events_sorted_and_in_gti(obs):
    time = np.asarray(obs.events["TIME"])
    assert np.all(np.diff(time) >= 0)
    assert time.min() >= obs.tstart and time.max() <= obs.tstop
    assert obs.tstop - obs.tstart == ON_AXIS["exposure_ks"] * 1000
    x, y = np.asarray(obs.events["X"]), np.asarray(obs.events["Y"])
    assert x.min() >= 0.5 and x.max() <= obs.npix + 0.5
    assert y.min() >= 0.5 and y.max() <= obs.npix + 0.5
    # no event in a pixel with zero exposure
    ix, iy = np.rint(x - 1).astype(int), np.rint(y - 1).astype(int)
    assert np.all(obs.exposure["3-24"][iy, ix] > 0)


def test_truth_fits_roundtrip(inst, truth, cfg, obs, tmp_path):
    """The workflow passes the truth through a FITS file: results must not change."""
    path = tmp_path / "truth.fits"
    truth.write(path)
    back = Table.read(path)
    res = demo.simulate_observation(inst, back, ON_AXIS, cfg)
    for c in obs.events.colnames:
        np.testing.assert_array_equal(res.events[c], obs.events[c])
    assert "events" in res and res["events"] is res.events


def test_simulation_deterministic_and_obs_dependent(inst, truth, cfg, obs):
    again = demo.simulate_observation(inst, truth, ON_AXIS, cfg)
    for c in obs.events.colnames:
        np.testing.assert_array_equal(obs.events[c], again.events[c])
    fpmb = demo.simulate_observation(inst, truth, {**ON_AXIS, "module": "FPMB"}, cfg)
    other = demo.simulate_observation(inst, truth, {**ON_AXIS, "obs_id": "609010002002"}, cfg)
    for res in (fpmb, other):
        assert len(res.events) != len(obs.events) or not np.array_equal(
            res.events["X"], obs.events["X"])


# --------------------------------------------------------------------------- files
def _paths(root, bands):
    return (root / "ev.fits", {b: root / f"exp_{b}.fits" for b in bands},
            {b: root / f"bkg_{b}.fits" for b in bands})


def test_write_is_byte_identical(inst, truth, cfg, obs, tmp_path):
    ev_a, exp_a, bkg_a = _paths(tmp_path / "a", inst.bands)
    ev_b, exp_b, bkg_b = _paths(tmp_path / "b", inst.bands)
    demo.write_observation(obs, ev_a, exp_a, bkg_a)
    again = demo.simulate_observation(inst, truth, ON_AXIS, cfg)
    demo.write_observation(again, ev_b, exp_b, bkg_b)
    files_a = sorted((tmp_path / "a").iterdir())
    assert len(files_a) == 1 + 2 * len(inst.bands)
    for fa in files_a:
        assert fa.read_bytes() == (tmp_path / "b" / fa.name).read_bytes(), fa.name
    assert not list((tmp_path / "a").glob(".*"))  # no temporary files left


def test_read_back(inst, obs, tmp_path):
    ev_path, exp_paths, bkg_paths = _paths(tmp_path, inst.bands)
    demo.write_observation(obs, ev_path, exp_paths, bkg_paths)
    events, wcs, header = read_events(ev_path)
    for c in ("X", "Y", "PI", "TIME"):
        np.testing.assert_array_equal(events[c], obs.events[c])
    np.testing.assert_allclose(wcs.wcs.crval, [ON_AXIS["ra_pnt"], ON_AXIS["dec_pnt"]])
    np.testing.assert_allclose(wcs.wcs.crpix, obs.wcs.wcs.crpix)
    assert header["TELESCOP"] == inst.name and header["INSTRUME"] == "FPMA"
    assert header["OBS_ID"] == ON_AXIS["obs_id"] and header["EXPOSURE"] == 50000.0
    assert header["TSTOP"] - header["TSTART"] == 50000.0 and "DATE-OBS" in header
    gti = Table.read(ev_path, hdu="GTI")
    assert list(gti["START"]) == [obs.tstart] and list(gti["STOP"]) == [obs.tstop]
    for band in inst.bands:
        exp, w, h = read_image(exp_paths[band], "exposure map")
        assert h["BUNIT"] == "s"
        np.testing.assert_allclose(exp, obs.exposure[band], rtol=1e-6)
        np.testing.assert_allclose(w.wcs.crval, obs.wcs.wcs.crval)
        total, _, h = read_image(bkg_paths[band], "background map")
        assert h["BUNIT"] == "count"
        np.testing.assert_allclose(total, obs.background_total(band), rtol=1e-6)
        for comp in demo.BACKGROUND_COMPONENTS:
            img, _, _ = read_image(bkg_paths[band], hdu=comp)
            np.testing.assert_allclose(img, obs.background[band][comp], rtol=1e-6)
    # events binned in a band land where the world coordinates say
    x, y = np.asarray(events["X"]), np.asarray(events["Y"])
    ra, dec = wcs.wcs_pix2world(x, y, 1)
    xi, yi = obs.wcs.wcs_world2pix(ra, dec, 1)
    np.testing.assert_allclose(xi, x, atol=1e-6)
    with pytest.raises(ValueError, match="unknown band"):
        demo.write_observation(obs, ev_path, {"2-7": tmp_path / "x.fits"}, {})


# --------------------------------------------------------------------------- ancillary
@pytest.fixture(scope="module")
def ancillary(inst, truth, cfg):
    return demo.make_ancillary_catalogs(inst, truth, cfg)


def test_ancillary_softx(inst, truth, cfg, ancillary):
    softx, softx_truth, _, _ = ancillary
    sc = cfg["softx"]
    area = region_area_deg2(cfg["sky_size_arcmin"])
    assert softx.colnames == ["id", "ra", "dec", "pos_err", "flux_soft"]
    np.testing.assert_array_equal(softx["id"], np.arange(1, len(softx) + 1))
    assert np.all(np.diff(softx["ra"]) >= 0)
    np.testing.assert_array_equal(softx_truth["id"], softx["id"])
    assert np.all(softx["flux_soft"] > sc["flux_limit"])
    lo, hi = sc["pos_err_arcsec"]
    assert softx["pos_err"].min() >= lo and softx["pos_err"].max() <= hi
    # hard truth entries: exactly those above the soft limit
    soft_true = _soft_fluxes(inst, truth, *sc["band_kev"])
    hard = softx_truth["truth_id"] >= 0
    assert set(softx_truth["truth_id"][hard]) == set(truth["id"][soft_true > sc["flux_limit"]])
    assert poisson_ok(np.sum(~hard), sc["extra_density_deg2"] * area)
    # positional scatter: pos_err is 1 sigma per coordinate
    dra = (softx["ra"] - softx_truth["ra_true"]) * np.cos(np.radians(softx["dec"])) * 3600
    ddec = (softx["dec"] - softx_truth["dec_true"]) * 3600
    z = np.concatenate([dra / softx["pos_err"], ddec / softx["pos_err"]])
    assert np.std(z) == pytest.approx(1.0, abs=4 / np.sqrt(2 * z.size) + 0.01)
    p = cfg["optical"]["counterpart_fraction"]
    frac = np.mean(softx_truth["has_counterpart"])
    assert frac == pytest.approx(p, abs=4 * np.sqrt(p * (1 - p) / len(softx)))


def test_ancillary_optical(cfg, truth, ancillary):
    softx, softx_truth, optical, optical_truth = ancillary
    oc = cfg["optical"]
    area = region_area_deg2(cfg["sky_size_arcmin"])
    assert optical.colnames == ["id", "ra", "dec", "pos_err", "mag_i", "z_spec"]
    np.testing.assert_array_equal(optical["id"], np.arange(1, len(optical) + 1))
    np.testing.assert_array_equal(optical_truth["id"], optical["id"])
    assert np.all(optical["mag_i"] < oc["mag_limit"])
    field = ~optical_truth["counterpart"]
    assert poisson_ok(field.sum(), float(oc["field_density_deg2"]) * area)  # YAML: "1.2e5" is a str
    # dN/dm ~ 10^(0.33 m): maximum-likelihood slope of the field magnitudes
    slope = 1 / (np.log(10) * np.mean(oc["mag_limit"] - optical["mag_i"][field]))
    assert slope == pytest.approx(0.33, rel=0.03)
    # counterparts: one per soft source that has one brighter than the limit
    cp = optical_truth[optical_truth["counterpart"]]
    want = softx_truth["id"][softx_truth["has_counterpart"]
                             & (softx_truth["mag_counterpart"] < oc["mag_limit"])]
    linked = cp["softx_id"][cp["softx_id"] >= 0]
    assert sorted(linked) == sorted(want) and len(np.unique(linked)) == len(linked)
    assert set(cp["truth_id"][cp["truth_id"] >= 0]) <= set(truth["id"])
    assert np.all(optical_truth["truth_id"][field] == -1)
    assert np.all(optical_truth["softx_id"][field] == -1)
    assert np.all((cp["truth_id"] >= 0) | (cp["softx_id"] >= 0))
    # counterpart positions close to the X-ray truth position (0.2" per coordinate)
    sx = softx_truth[np.searchsorted(softx_truth["id"], linked)]
    o = optical[optical_truth["counterpart"] & (optical_truth["softx_id"] >= 0)]
    d = np.hypot((o["ra"] - sx["ra_true"]) * np.cos(np.radians(o["dec"])),
                 o["dec"] - sx["dec_true"]) * 3600
    assert np.sqrt(np.mean(d**2) / 2) == pytest.approx(oc["pos_err_arcsec"], rel=0.15)
    # everything inside the sky region (plus positional scatter)
    for t in (softx, optical):
        xi, eta = sky_to_tangent(t["ra"], t["dec"], cfg["sky_center_deg"])
        lim = cfg["sky_size_arcmin"] / 120 + 10 / 3600
        assert np.all(np.abs(xi) <= lim) and np.all(np.abs(eta) <= lim)


def test_ancillary_spectroscopic_redshifts(cfg, truth, ancillary):
    _, _, optical, optical_truth = ancillary
    oc = cfg["optical"]
    z = np.asarray(optical["z_spec"], float)
    mag = np.asarray(optical["mag_i"], float)
    assert np.all(np.isnan(z[mag >= oc["redshift_mag_limit"]]))
    bright = mag < oc["redshift_mag_limit"]
    p = oc["redshift_completeness"]
    assert np.mean(np.isfinite(z[bright])) == pytest.approx(
        p, abs=4 * np.sqrt(p * (1 - p) / bright.sum()))
    own = np.isfinite(z) & (np.asarray(optical_truth["truth_id"]) >= 0)
    assert own.sum() > 50
    rows = np.searchsorted(truth["id"], optical_truth["truth_id"][own])
    np.testing.assert_array_equal(z[own], np.asarray(truth["redshift"], float)[rows])
    other = np.isfinite(z) & ~own
    assert np.median(z[other]) == pytest.approx(np.median(truth["redshift"]), rel=0.1)


def test_ancillary_deterministic(inst, truth, cfg, ancillary):
    again = demo.make_ancillary_catalogs(inst, truth, cfg)
    for a, b in zip(ancillary, again, strict=True):
        for c in a.colnames:
            np.testing.assert_array_equal(a[c], b[c])


def test_config_errors(inst, cfg, population):
    bad = {k: v for k, v in cfg.items() if k != "variable_fraction"}
    with pytest.raises(ValueError, match="variable_fraction"):
        demo.make_demo_sky(inst, bad, population)
    with pytest.raises(ValueError, match="seed"):
        demo.make_demo_sky(inst, {**cfg, "seed": "x"}, population)
    with pytest.raises(ValueError, match="exposure_ks"):
        demo.simulate_observation(inst, make_truth(150.1, 2.25, 1e-13),
                                  {k: v for k, v in ON_AXIS.items() if k != "exposure_ks"}, cfg)


def test_fitted_background_holds_faint_source_light(inst, cfg):
    """With background_fit_flux the FCXB map gains the mean light of fainter sources."""
    fluxes = np.array([1e-15, 5e-15, 1e-14, 5e-14, 1e-12])
    t = make_truth(np.full(5, 150.3), np.full(5, 2.4), fluxes)
    elements, members = elementary_bands(inst)
    area = demo.region_area_arcmin2(cfg)
    rates = demo.unresolved_rate_arcmin2(inst, t, elements, 2e-14, area)
    # Gamma = 1.8 like the instrument's CF spectrum: counts/s = flux / CF(3-24)
    assert rates.sum() * area == pytest.approx(fluxes[:3].sum() / inst.cf("3-24"), rel=1e-3)
    fitted_cfg = {**cfg, "background_fit_flux": 2e-14}
    plain = demo.simulate_observation(inst, t, ON_AXIS, cfg)
    fitted = demo.simulate_observation(inst, t, ON_AXIS, fitted_cfg)
    pix_area = (inst.pixel_arcsec / 60) ** 2
    extra = fitted.background["3-8"]["FCXB"] - plain.background["3-8"]["FCXB"]
    on_axis = extra[plain.npix // 2, plain.npix // 2]
    assert on_axis == pytest.approx(rates[0] * pix_area * ON_AXIS["exposure_ks"] * 1e3, rel=1e-9)
    # the events are the same: only the map handed to the pipeline changes
    assert len(fitted.events) == len(plain.events)
