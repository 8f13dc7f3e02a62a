"""The source population: published counts and CXB, deconvolution, paper mode, bad input.

Published values written here (the population must agree with them; docs/method.md):

* Moretti et al. (2003, ApJ 588, 696), 2-10 keV: N(>S) = 5300 (2e-15)^1.57 /
  (S^1.57 + (4.5e-15)^1.13 S^0.44) deg^-2; 88.8% of the 2-10 keV CXB resolved above
  2.1e-16 erg cm^-2 s^-1.
* Harrison et al. (2016, ApJ 831, 185), NuSTAR: 33-39% of the 8-24 keV CXB resolved by
  sources brighter than ~2e-14 erg cm^-2 s^-1 (8-24 keV); the 3-8 keV counts agree with
  the XMM-Newton / Chandra counts.
* CXB intensity: 2-10 keV (2.24 +- 0.16)e-11 erg cm^-2 s^-1 deg^-2, photon index 1.41
  (De Luca & Molendi 2004); above 10 keV the spectrum E I(E) = 7.877 E^-0.29
  exp(-E / 41.13) keV cm^-2 s^-1 sr^-1 (Gruber et al. 1999), normalised 8% higher as
  NuSTAR measures it (Krivonos et al. 2021: 2.8e-11 in 3-20 keV).
"""

import copy

import numpy as np
import pytest
from scipy.integrate import quad

from xsurvey.config import default_config
from xsurvey.instrument import spectral
from xsurvey.population import (
    deconvolve_counts,
    mix_counts,
    population_from_config,
    powerlaw_energy_flux,
)

from ..conftest import REPO

KEV = 1.602176634e-9
SR_DEG2 = (180 / np.pi) ** 2


def moretti(s):
    return 5300 * (2e-15) ** 1.57 / (s**1.57 + (4.5e-15) ** 1.13 * s**0.44)


def cxb(e_lo, e_hi):
    """CXB intensity in a band (erg cm^-2 s^-1 deg^-2).

    Below 10 keV the XMM-Newton measurement (De Luca & Molendi 2004: 2.24e-11 in 2-10 keV,
    photon index 1.41); above, the Gruber et al. shape at NuSTAR's normalisation (HEAO-1
    is 10-20% below the 2-10 keV measurements of XMM-Newton and Swift).
    """
    if e_hi <= 10.0:
        return 2.24e-11 * powerlaw_energy_flux(1.41, e_lo, e_hi) / powerlaw_energy_flux(
            1.41, 2.0, 10.0)
    val = quad(lambda e: 7.877 * e**-0.29 * np.exp(-e / 41.13), e_lo, e_hi)[0]
    return 1.08 * val * KEV / SR_DEG2


@pytest.fixture(scope="module")
def config():
    return default_config(REPO)["population"]


def test_observed_counts_band_reproduces_the_published_counts(population):
    """The absorbed fluxes of the intrinsic counts give back Moretti's 2-10 keV counts."""
    s = np.array([1e-15, 3e-15, 1e-14, 3e-14, 1e-13, 1e-12])
    np.testing.assert_allclose(population.band_counts("counts")(s), moretti(s), rtol=3e-3)
    # absorption hides sources: more intrinsic than observed at every flux
    assert np.all(population.intrinsic.n_gt_s(s) > moretti(s))


def test_nustar_counts_and_resolved_background(population):
    """8-24 keV: the sources above 2e-14 make 33-39% of the CXB (Harrison et al. 2016),
    within 30%; 3-8 keV: the XMM/Chandra counts (Moretti's, at the 3-8 / 2-10 keV flux
    ratio of their Gamma = 1.4 conversion spectrum) within 30%."""
    s = np.geomspace(2e-14, 1e-10, 4000)
    n = population.band_counts("8-24")(s)
    resolved = (s[0] * n[0] + np.trapezoid(n, s)) / cxb(8, 24)
    assert 0.7 * 0.33 < resolved < 1.3 * 0.39
    ratio = powerlaw_energy_flux(1.4, 3, 8) / powerlaw_energy_flux(1.4, 2, 10)
    for flux in (1e-14, 3e-14, 1e-13):
        assert population.band_counts("3-8")(flux) == pytest.approx(moretti(flux / ratio),
                                                                    rel=0.3)


def test_intensity_below_the_cosmic_x_ray_background(population):
    assert population.intensity("counts") < 2.24e-11
    # the 2-10 keV sources Moretti resolves (88.8%) are within the model's total
    assert population.intensity("counts") > 0.8 * 0.888 * 2.24e-11
    for band, (lo, hi) in {"3-8": (3, 8), "8-24": (8, 24), "3-24": (3, 24),
                           "8-16": (8, 16), "16-24": (16, 24)}.items():
        assert population.intensity(band) < cxb(lo, hi), band
    # the drawn sources are part of the whole population
    assert population.intensity("3-24", drawn=True) < population.intensity("3-24")


def test_mix_and_deconvolve_power_law():
    """A power law N = A S^-a mixed over ratios R is N mean(R^a): exact both ways."""
    log_s = np.arange(-18.0, -9.0, 0.002)
    rng = np.random.default_rng(1)
    log_r = np.log10(rng.uniform(0.01, 1.0, 5000))
    a = 1.5
    n_int = 3.0 * (10.0**log_s / 1e-14) ** -a
    mixed = mix_counts(log_s, n_int, log_r)
    factor = np.mean(10.0 ** (a * log_r))
    inner = slice(2000, 3500)
    np.testing.assert_allclose(mixed[inner], n_int[inner] * factor, rtol=1e-4)
    back = deconvolve_counts(log_s, n_int * factor, log_r)
    np.testing.assert_allclose(back[inner], n_int[inner], rtol=1e-4)


def test_paper_mode_is_one_spectrum(nustar):
    """Gamma = 1.8 without absorption and the spec's plain counts in 3-24 keV (the seed papers)."""
    cfg = {"mode": "paper", "counts": {"band_kev": [3.0, 24.0], "shape": "broken_power_law",
                                       "norm_deg2": 79.0, "flux_ref": 1e-13,
                                       "flux_break": 1.5e-14, "slope_bright": 1.5,
                                       "slope_faint": 0.6},
           "flux_min": 3e-15, "flux_max": 1e-11}
    pop = population_from_config(cfg, nustar)
    g, nh, z = pop.draw_spectra(np.random.default_rng(0), 100)
    assert np.all(g == nustar.photon_index) and np.all(nh == 0) and np.all(z == 0)
    s = np.array([2e-14, 1e-13, 1e-12])
    # observed 3-24 keV counts = the configured counts (Galactic absorption aside)
    np.testing.assert_allclose(pop.band_counts("3-24")(s), 79 * (s / 1e-13) ** -1.5, rtol=2e-3)
    ratio = nustar.band_flux_ratio("8-24")
    np.testing.assert_allclose(pop.band_counts("8-24")(s), 79 * (s / ratio / 1e-13) ** -1.5,
                               rtol=3e-3)


def test_spectral_grid_against_exact_folding(nustar, population):
    rng = np.random.default_rng(5)
    n = 1500
    g = rng.normal(1.8, 0.25, n).clip(1.0, 3.0)
    nh = 10 ** rng.uniform(19.5, 24.7, n)
    z = rng.uniform(0.0, 5.0, n)
    bands = population.grid.bands_kev
    flux, rate = population.grid(g, nh, z)
    exact_f, exact_r = spectral.fold(bands, g, nh, z, nustar.nh_galactic_cm2, nustar.absorber,
                                     nustar.effective_area)
    for approx_v, exact in ((flux, exact_f), (rate[:, :5], exact_r[:, :5])):
        err = np.abs(approx_v / exact - 1)
        assert np.percentile(err, 99) < 0.005 and err.max() < 0.03


def test_spectral_grid_file_round_trip(population, tmp_path):
    path = tmp_path / "grid.npz"
    population.grid.save(path)
    again = spectral.SpectralGrid.load(path, population.grid.bands_kev)
    args = (np.array([1.7, 2.1]), np.array([1e21, 3e23]), np.array([0.3, 2.0]))
    np.testing.assert_array_equal(again(*args)[0], population.grid(*args)[0])
    with pytest.raises(ValueError, match="rerun its rule"):
        spectral.SpectralGrid.load(path, [(3.0, 8.0)])
    (tmp_path / "bad.npz").write_text("not numpy")
    with pytest.raises(ValueError, match="bad.npz"):
        spectral.SpectralGrid.load(tmp_path / "bad.npz")


@pytest.mark.parametrize("change, message", [
    ({"mode": "clever"}, r"population.mode: unknown mode 'clever'"),
    ({"flux_min": 1e-30}, r"population.flux_min = 1e-30 is out of range"),
    ({"photon_index": {"mean": 4.0, "sigma": 0.2}}, r"population.photon_index.mean = 4"),
    ({"photon_index": {"mean": 1.8, "sigma": -0.1}}, r"population.photon_index.sigma"),
    ({"redshift": {"median": 0.0, "sigma_ln": 0.6}}, r"population.redshift.median = 0"),
    ({"log_nh": {"fractions": [0.5, 0.5], "edges": [20.0, 23.0, 25.5]}},
     r"population.log_nh.edges .* leave the tabulated range"),
    ({"log_nh": {"fractions": [0.5, 0.6], "edges": [20.0, 22.0, 24.0]}},
     r"population.log_nh.fractions must be >= 0 and sum to 1"),
    ({"counts": {"band_kev": [10.0, 2.0]}}, r"population.counts.band_kev"),
    ({"counts": {"band_kev": [2.0, 10.0], "shape": "spline"}},
     r"population.counts.shape: unknown shape 'spline'"),
    ({"counts": {"band_kev": [2.0, 10.0], "shape": "smooth_broken_power_law",
                 "norm_deg2": 5300.0}}, r"population.counts: missing key\(s\) flux_pivot"),
])
def test_bad_parameters_name_the_key(nustar, config, change, message):
    cfg = {**copy.deepcopy(config), **change}
    with pytest.raises(ValueError, match=message):
        population_from_config(cfg, nustar)


@pytest.mark.parametrize("rows, message", [
    ("flux,n_gt_s\n1e-15,1000\n1e-14,2000\n", r"counts.csv, line 3: n_gt_s must decrease"),
    ("flux,n_gt_s\n1e-14,100\n1e-15,10\n", r"counts.csv, line 3: flux must increase"),
    ("# measured counts\nflux,n_gt_s\n1e-15,1000\n3.0,100\n",
     r"counts.csv, line 4: flux must lie in \[1e-20, 1e-06\]"),
    ("flux,n_gt_s\n1e-15,1000\n1e-14,0\n", r"counts.csv, line 3: n_gt_s must be > 0"),
    ("flux,n\n1e-15,1000\n1e-14,10\n", r"counts.csv lacks column\(s\) n_gt_s"),
])
def test_bad_counts_table_names_the_file_and_line(nustar, config, tmp_path, rows, message):
    path = tmp_path / "counts.csv"
    path.write_text(rows)
    cfg = {**copy.deepcopy(config), "counts": {"band_kev": [2.0, 10.0], "table": str(path)}}
    with pytest.raises(ValueError, match=message):
        population_from_config(cfg, nustar)


def test_counts_table_population(nustar, config, tmp_path):
    """A tabulated counts file gives the same population as its analytic form."""
    s = np.geomspace(1e-17, 1e-9, 200)
    path = tmp_path / "moretti.csv"
    path.write_text("flux,n_gt_s\n" + "\n".join(f"{a:.8e},{b:.8e}" for a, b in
                                                  zip(s, moretti(s), strict=True)))
    cfg = {**copy.deepcopy(config), "counts": {"band_kev": [2.0, 10.0], "table": str(path)}}
    pop = population_from_config(cfg, nustar)
    flux = np.array([1e-15, 1e-14, 1e-13])
    np.testing.assert_allclose(pop.band_counts("8-24")(flux),
                               population_from_config(config, nustar).band_counts("8-24")(flux),
                               rtol=0.01)
