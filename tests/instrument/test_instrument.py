"""Instrument model against the reference values of method.md §2."""

import numpy as np
import pytest
import yaml

from xsurvey.instrument import InstrumentError, load_instrument, spectral

from ..conftest import NUSTAR

# method.md §2: single module on axis, Gamma = 1.8, erg cm^-2 per count.
REFERENCE_CF = {"3-24": 4.86e-11, "3-8": 3.39e-11, "8-24": 7.08e-11, "8-16": 5.17e-11,
                "16-24": 16.2e-11}


@pytest.mark.parametrize("band", REFERENCE_CF)
def test_cf_within_5_percent_of_reference(nustar, band):
    assert nustar.cf(band) == pytest.approx(REFERENCE_CF[band], rel=0.05)


def test_cf_override(tmp_path):
    cfg = yaml.safe_load(NUSTAR.read_text())
    cfg["cf_override"] = {"3-8": 3.0e-11}
    p = tmp_path / "inst.yaml"
    p.write_text(yaml.safe_dump(cfg))
    inst = load_instrument(p)
    assert inst.cf("3-8") == 3.0e-11
    assert inst.cf("8-24") == pytest.approx(REFERENCE_CF["8-24"], rel=0.05)


def test_psf_constraints(nustar):
    assert nustar.eef(20.0) == pytest.approx(0.32, abs=0.01)
    assert nustar.psf.half_power_diameter() == pytest.approx(58.0, abs=4.0)
    assert nustar.psf.fwhm() == pytest.approx(18.0, abs=2.0)
    assert nustar.eef(90.0) == pytest.approx(0.87, abs=0.02)


def test_psf_kernel_normalisation_and_aperture(nustar):
    """Kernel sums to EEF(truncation) and reproduces EEF(20") in a pixel aperture."""
    k = nustar.psf_kernel()
    assert k.sum() == pytest.approx(nustar.eef(nustar.psf.kernel_radius_arcsec), rel=1e-9)
    half = k.shape[0] // 2
    yy, xx = np.mgrid[:k.shape[0], :k.shape[1]]
    r = np.hypot(xx - half, yy - half) * nustar.pixel_arcsec
    # a 20" aperture of whole pixels is only approximate: compare to 3%
    assert k[r <= 20.0].sum() == pytest.approx(nustar.eef(20.0), rel=0.03)


def test_aperture_fraction_is_offset_eef(nustar):
    """A(0) = EEF(r); A(d) equals a brute-force integral of the PSF over the offset disc."""
    assert nustar.psf.aperture_fraction(0.0, 20.0) == pytest.approx(nustar.eef(20.0))
    d = 40.0
    step = 0.25
    g = np.arange(-20 + step / 2, 20, step)
    xx, yy = np.meshgrid(g, g)
    inside = np.hypot(xx, yy) <= 20.0
    brute = (nustar.psf.surface_brightness(np.hypot(xx - d, yy)) * inside).sum() * step**2
    assert nustar.psf.aperture_fraction(d, 20.0) == pytest.approx(brute, rel=2e-3)


def test_tabulated_psf_matches_components(nustar, tmp_path):
    r = np.linspace(0, 400, 801)
    table = tmp_path / "eef.csv"
    table.write_text("radius_arcsec,eef\n" + "\n".join(
        f"{a},{b}" for a, b in zip(r, nustar.eef(r), strict=True)))
    cfg = yaml.safe_load(NUSTAR.read_text())
    cfg["psf"] = {"eef_table": str(table), "kernel_radius_arcsec": 300.0}
    p = tmp_path / "inst.yaml"
    p.write_text(yaml.safe_dump(cfg))
    tab = load_instrument(p)
    assert tab.eef(20.0) == pytest.approx(nustar.eef(20.0), rel=1e-4)
    assert tab.psf.half_power_diameter() == pytest.approx(58.0, abs=0.1)
    assert tab.psf.surface_brightness(30.0) == pytest.approx(
        nustar.psf.surface_brightness(30.0), rel=0.02)


def test_pi_ranges(nustar):
    # E = 1.6 + 0.04 PI: 3 keV -> PI 35, 24 keV -> PI 560
    assert nustar.pi_range("3-24") == (35, 560)
    assert nustar.pi_range("3-8") == (35, 160)
    lo, hi = nustar.pi_range("8-16")
    assert 1.6 + 0.04 * lo == pytest.approx(8.0) and 1.6 + 0.04 * hi == pytest.approx(16.0)


def test_band_flux_ratios_add_up(nustar):
    assert nustar.band_flux_ratio("3-8") + nustar.band_flux_ratio("8-24") == pytest.approx(1.0)
    assert nustar.band_flux_ratio("8-16") + nustar.band_flux_ratio("16-24") == pytest.approx(
        nustar.band_flux_ratio("8-24"))


def test_vignetting_half_at_theta50(nustar):
    for name, b in nustar.bands.items():
        assert nustar.vignetting(name, 0.0) == 1.0
        assert nustar.vignetting(name, b.vignetting_half_arcmin) == pytest.approx(0.5)


def test_powerlaw_fold_analytic():
    """Unabsorbed Gamma = 2 power law: energy flux ln(e_hi/e_lo) keV, and with a flat
    100 cm^2 area a count rate 100 (1/e_lo - 1/e_hi); broadcasting over parameters."""
    flux, rate = spectral.fold([(3.0, 24.0), (8.0, 16.0)], 2.0,
                               area=lambda e: np.full_like(e, 100.0))
    np.testing.assert_allclose(flux, np.log([8.0, 2.0]) * spectral.KEV_TO_ERG, rtol=1e-6)
    np.testing.assert_allclose(rate, 100 * np.array([1 / 3 - 1 / 24, 1 / 8 - 1 / 16]),
                               rtol=1e-5)
    gamma = np.array([1.5, 2.0])[:, None]
    nh = np.array([0.0, 1e22, 1e23])[None, :]
    grid, _ = spectral.fold([(3.0, 8.0)], gamma, nh, 0.5, absorber="sphere")
    assert grid.shape == (2, 3, 1)
    one, _ = spectral.fold([(3.0, 8.0)], 1.5, 1e23, 0.5, absorber="sphere")
    assert grid[0, 2, 0] == pytest.approx(one[0], rel=1e-12)
    assert np.all(np.diff(grid[..., 0], axis=1) < 0)       # absorption lowers the flux


def test_photoelectric_cross_section_reference():
    """MM83: sigma(1 keV) ~ 2.4e-22 cm^2 per H atom (sigma E^3 ~ 2.4e-22 keV^3 cm^2)."""
    assert spectral.photoelectric_cross_section(1.0) == pytest.approx(2.42e-22, rel=0.03)


def test_unknown_band_names_known_bands(nustar):
    with pytest.raises(InstrumentError, match=r"unknown band '2-7'.*3-24"):
        nustar.cf("2-7")


def test_missing_key_is_named(tmp_path):
    cfg = yaml.safe_load(NUSTAR.read_text())
    del cfg["pixel_arcsec"]
    p = tmp_path / "bad.yaml"
    p.write_text(yaml.safe_dump(cfg))
    with pytest.raises(InstrumentError, match="pixel_arcsec"):
        load_instrument(p)


def test_unknown_absorber_is_named(tmp_path):
    cfg = yaml.safe_load(NUSTAR.read_text())
    cfg["spectrum"]["absorber"] = "torus"
    p = tmp_path / "bad.yaml"
    p.write_text(yaml.safe_dump(cfg))
    with pytest.raises(InstrumentError, match=r"spectrum.absorber is 'torus'.*sphere"):
        load_instrument(p)


def test_unknown_key_is_named(tmp_path):
    cfg = yaml.safe_load(NUSTAR.read_text())
    cfg["aperture_radius_arcsek"] = cfg.pop("aperture_radius_arcsec")
    p = tmp_path / "typo.yaml"
    p.write_text(yaml.safe_dump(cfg))
    with pytest.raises(InstrumentError, match=r"typo.yaml: unknown key\(s\) "
                                              r"'aperture_radius_arcsek' \(expected: "):
        load_instrument(p)


def test_psf_weights_must_sum_to_one(tmp_path):
    cfg = yaml.safe_load(NUSTAR.read_text())
    cfg["psf"]["components"][0]["weight"] = 0.5
    p = tmp_path / "bad.yaml"
    p.write_text(yaml.safe_dump(cfg))
    with pytest.raises(InstrumentError, match="weights must sum to 1"):
        load_instrument(p)


def test_energy_resolution_is_read_and_checked(nustar, tmp_path):
    """NuSTAR: FWHM 0.4 keV at 6 keV, 0.9 keV at 60 keV (Harrison et al. 2013), linear in
    between, constant outside; a malformed table is named with its file."""
    assert nustar.resolution.fwhm([3.0, 6.0, 33.0, 60.0, 79.0]) == pytest.approx(
        [0.4, 0.4, 0.65, 0.9, 0.9])
    for bad in ({"energy_kev": [6.0, 60.0], "fwhm_kev": [0.4]},
                {"energy_kev": [60.0, 6.0], "fwhm_kev": [0.9, 0.4]},
                {"fwhm_kev": [0.4]}):
        cfg = yaml.safe_load(NUSTAR.read_text())
        cfg["energy_resolution"] = bad
        p = tmp_path / "res.yaml"
        p.write_text(yaml.safe_dump(cfg))
        with pytest.raises(InstrumentError, match=r"res\.yaml: energy_resolution"):
            load_instrument(p)
    cfg = yaml.safe_load(NUSTAR.read_text())
    del cfg["energy_resolution"]
    p = tmp_path / "none.yaml"
    p.write_text(yaml.safe_dump(cfg))
    assert load_instrument(p).resolution is None
