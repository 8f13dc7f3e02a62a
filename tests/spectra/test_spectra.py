"""Spectra (xsurvey.spectra): C- and W-statistics against analytic answers, the response
against the instrument's resolution, OGIP files, extraction geometry, and the recovery of
known spectral parameters by the fits."""

import numpy as np
import pytest
from astropy.io import fits
from scipy.optimize import minimize_scalar

from xsurvey import spectra
from xsurvey.spectra import figures

TELESCOPE, INSTRUMENT = "NuSTAR", "FPMA+FPMB"


@pytest.fixture(scope="module")
def grid(nustar):
    return spectra.channel_grid(nustar, 3.0, 24.0)


@pytest.fixture(scope="module")
def rmf(nustar, grid):
    lo, hi = spectra.model_energies(nustar, grid)
    return lo, hi, spectra.gaussian_rmf(lo, hi, grid, nustar.resolution.fwhm)


# --------------------------------------------------------------------------- statistics
def test_cstat_minimum_of_a_constant_model_is_the_analytic_one():
    """A constant model fitted to counts n: best value mean(n), C_min = 2 sum n ln(n/mean)."""
    counts = np.random.default_rng(3).poisson(7.0, 200)
    fitter = spectra.SpectralFit(lambda log_norm: np.full(counts.size, 10.0 ** log_norm),
                                 counts, bounds={"log_norm": (-3.0, 3.0)})
    fit = fitter.fit({"log_norm": 0.0}, ("log_norm",))
    mean = counts.mean()
    nz = counts > 0
    assert 10.0 ** fit.values["log_norm"] == pytest.approx(mean, rel=1e-9)
    assert fit.statistic == pytest.approx(2.0 * np.sum(counts[nz] * np.log(counts[nz] / mean)),
                                          rel=1e-9)
    assert spectra.cstat(counts, counts) == 0.0


def test_the_profiled_background_maximises_the_likelihood():
    rng = np.random.default_rng(5)
    for _ in range(50):
        s, b, m, alpha = rng.poisson(5), rng.poisson(20), rng.uniform(0.1, 8), rng.uniform(0.05, 2)
        best = spectra.profile_background(s, b, m, alpha)

        def neg_log_l(x, s=s, b=b, m=m, alpha=alpha):
            return -(s * np.log(m + x) - (m + x) + b * np.log(x / alpha) - x / alpha)

        numeric = minimize_scalar(neg_log_l, bounds=(1e-9, 100), method="bounded",
                                  options={"xatol": 1e-10}).x
        assert best == pytest.approx(numeric, rel=1e-5, abs=1e-7)


def test_wstat_is_zero_for_a_perfect_model_and_the_cstat_with_a_known_background():
    """With the model equal to the net counts and no background the W-statistic is 0; with a
    huge, exactly known background exposure (alpha -> 0) it is the C-statistic of the model
    plus the known background."""
    s = np.array([3.0, 10.0, 0.0, 7.0])
    assert spectra.wstat(s, np.zeros(4), s, 1.0) == pytest.approx(0.0, abs=1e-12)
    bkg_rate, alpha = np.array([1.0, 2.0, 0.5, 3.0]), 1e-6
    model = np.array([2.5, 7.0, 0.2, 4.0])
    w = spectra.wstat(s, bkg_rate / alpha, model, alpha)
    assert w == pytest.approx(spectra.cstat(s, model + bkg_rate), rel=1e-4)


# --------------------------------------------------------------------------- response
def test_the_rmf_has_the_instruments_resolution(nustar, grid, rmf):
    lo, hi, matrix = rmf
    for energy, fwhm in ((6.0, 0.4), (20.0, nustar.resolution.fwhm(20.0))):
        row = matrix[np.searchsorted(hi, energy)]
        mid = 0.5 * (grid.e_min + grid.e_max)
        mean = np.sum(row * mid) / row.sum()
        sigma = np.sqrt(np.sum(row * (mid - mean) ** 2) / row.sum())
        # channel width 0.04 keV adds 0.04^2/12 to the variance
        assert np.sqrt(sigma**2 - 0.04**2 / 12) * spectra.response.FWHM_PER_SIGMA == \
            pytest.approx(fwhm, rel=0.02)
        assert row.sum() == pytest.approx(1.0, abs=1e-6)
    assert lo[0] < grid.e_min[0] and hi[-1] > grid.e_max[-1]


def test_the_arf_follows_the_band_exposures(nustar):
    lo = np.array([4.0, 10.0, 20.0])
    arf = spectra.source_arf(nustar, lo, lo + 0.04, 0.32,
                             {"3-8": 1e5, "8-16": 8e4, "16-24": 5e4}, 1e5)
    area = nustar.effective_area(lo + 0.02) * 0.32
    assert np.allclose(arf / area, [1.0, 0.8, 0.5])
    with pytest.raises(ValueError, match="exposure"):
        spectra.source_arf(nustar, lo, lo + 0.04, 0.32, {"3-8": 1e5}, 0.0)


def test_elementary_bands_tile_the_range(nustar):
    bands = ["3-24", "3-8", "8-24", "8-16", "16-24"]
    assert spectra.elementary_bands(nustar, bands, 3.0, 24.0) == ["3-8", "8-16", "16-24"]
    assert spectra.elementary_bands(nustar, ["3-24"], 3.0, 24.0) == ["3-24"]


# --------------------------------------------------------------------------- OGIP files
def test_ogip_files_round_trip_with_the_required_keywords(tmp_path, grid, rmf):
    lo, hi, matrix = rmf
    counts = np.arange(grid.size) % 4
    spec = spectra.Spectrum(grid.channels, counts, 1.5e5, backfile="b.pha",
                            respfile="r.rmf", ancrfile="a.arf")
    spectra.write_pha(tmp_path / "s.pha", spec, TELESCOPE, INSTRUMENT)
    spectra.write_pha(tmp_path / "b.pha", spectra.Spectrum(grid.channels, counts, 1.5e5,
                                                           backscal=12.5),
                      TELESCOPE, INSTRUMENT, background=True)
    area = np.linspace(100.0, 10.0, lo.size)
    spectra.write_arf(tmp_path / "a.arf", lo, hi, area, TELESCOPE, INSTRUMENT)
    spectra.write_rmf(tmp_path / "r.rmf", lo, hi, matrix, grid, TELESCOPE, INSTRUMENT)
    required = {"SPECTRUM": ["HDUCLASS", "HDUCLAS1", "HDUVERS", "TELESCOP", "INSTRUME",
                             "FILTER", "EXPOSURE", "AREASCAL", "BACKSCAL", "CORRSCAL",
                             "BACKFILE", "CORRFILE", "RESPFILE", "ANCRFILE", "DETCHANS",
                             "CHANTYPE", "POISSERR"],
                "SPECRESP": ["HDUCLASS", "HDUCLAS1", "HDUCLAS2", "HDUVERS", "TELESCOP",
                             "INSTRUME"],
                "MATRIX": ["HDUCLASS", "HDUCLAS1", "HDUCLAS2", "HDUVERS", "DETCHANS",
                           "CHANTYPE", "TLMIN4", "TELESCOP", "INSTRUME"],
                "EBOUNDS": ["HDUCLASS", "HDUCLAS1", "HDUCLAS2", "DETCHANS", "CHANTYPE"]}
    for name, ext in (("s.pha", "SPECTRUM"), ("a.arf", "SPECRESP"), ("r.rmf", "MATRIX"),
                      ("r.rmf", "EBOUNDS")):
        header = fits.getheader(tmp_path / name, ext)
        missing = [k for k in required[ext] if k not in header]
        assert not missing, (name, ext, missing)
        assert header["HDUCLASS"] == "OGIP"
    assert fits.getheader(tmp_path / "b.pha", "SPECTRUM")["HDUCLAS2"] == "BKG"
    back = spectra.read_pha(tmp_path / "s.pha")
    assert np.array_equal(back.counts, counts) and back.exposure_s == 1.5e5
    assert (back.backfile, back.respfile, back.ancrfile) == ("b.pha", "r.rmf", "a.arf")
    assert spectra.read_pha(tmp_path / "b.pha").backscal == 12.5
    arf = spectra.read_arf(tmp_path / "a.arf")
    assert np.allclose(arf[2], area, rtol=1e-6)
    back_rmf = spectra.read_rmf(tmp_path / "r.rmf")
    rmatrix, channel = back_rmf.matrix, back_rmf.channel
    assert np.allclose(rmatrix, matrix, atol=1e-7) and np.array_equal(channel, grid.channels)
    assert np.allclose(back_rmf.e_min, grid.e_min) and np.allclose(back_rmf.e_max, grid.e_max)
    spectra.check_response(back, arf, back_rmf)


def test_bad_spectral_files_name_the_file(tmp_path, grid, rmf):
    lo, hi, matrix = rmf
    with pytest.raises(spectra.SpectrumError, match="missing.rmf: file not found"):
        spectra.read_rmf(tmp_path / "missing.rmf")
    spectra.write_pha(tmp_path / "z.pha", spectra.Spectrum(grid.channels, np.zeros(grid.size),
                                                           0.0), TELESCOPE, INSTRUMENT)
    with pytest.raises(spectra.SpectrumError, match=r"z\.pha: EXPOSURE is 0.0 s"):
        spectra.read_pha(tmp_path / "z.pha")
    spectra.write_arf(tmp_path / "a.arf", lo[:-5], hi[:-5], np.ones(lo.size - 5), TELESCOPE,
                      INSTRUMENT)
    spectra.write_rmf(tmp_path / "r.rmf", lo, hi, matrix, grid, TELESCOPE, INSTRUMENT)
    good = spectra.Spectrum(grid.channels, np.ones(grid.size), 1e4, path="s.pha")
    with pytest.raises(spectra.SpectrumError, match=r"ARF a\.arf and RMF r\.rmf: energy grids"):
        spectra.check_response(good, spectra.read_arf(tmp_path / "a.arf"),
                               spectra.read_rmf(tmp_path / "r.rmf"), "a.arf", "r.rmf")
    (tmp_path / "junk.pha").write_text("not fits")
    with pytest.raises(spectra.SpectrumError, match="junk.pha"):
        spectra.read_pha(tmp_path / "junk.pha")


def test_the_observations_own_responses_are_averaged_by_exposure(tmp_path, nustar, grid):
    """Two observations' RMFs (resolutions 1x and 2x the instrument's) and ARFs on one wide
    energy grid: the stack's matrix and area are their exposure-weighted means, cut to the
    spectrum's channels and the energies within the margin; RMFs on another grid, ARFs on
    another grid or channels with other energies are refused naming the file."""
    wide = spectra.channel_grid(nustar, 1.6, 80.0)
    lo, hi = spectra.model_energies(nustar, wide)
    paths = []
    for k, scale in enumerate((1.0, 2.0)):
        m = spectra.gaussian_rmf(lo, hi, wide, lambda e, s=scale: s * nustar.resolution.fwhm(e))
        spectra.write_rmf(tmp_path / f"o{k}.rmf", lo, hi, m, wide, TELESCOPE, INSTRUMENT)
        spectra.write_arf(tmp_path / f"o{k}.arf", lo, hi, np.full(lo.size, 100.0 * (k + 1)),
                          TELESCOPE, INSTRUMENT)
        paths.append((tmp_path / f"o{k}.rmf", tmp_path / f"o{k}.arf"))
    rmfs, arfs = [p for p, _ in paths], [a for _, a in paths]
    rmf, area = spectra.observation_responses(rmfs, arfs, [3.0, 1.0], grid, 3.0)
    keep = (hi > grid.e_min[0] - 3.0) & (lo < grid.e_max[-1] + 3.0)
    assert np.allclose(rmf.energ_lo, lo[keep]) and np.array_equal(rmf.channel, grid.channels)
    cols = grid.channels - wide.first
    m0, m1 = (spectra.read_rmf(p).matrix[keep][:, cols] for p in rmfs)
    assert np.allclose(rmf.matrix, 0.75 * m0 + 0.25 * m1)
    assert np.allclose(area, 125.0)
    short = spectra.channel_grid(nustar, 1.6, 60.0)
    lo2, hi2 = spectra.model_energies(nustar, short)
    spectra.write_rmf(tmp_path / "other.rmf", lo2, hi2,
                      spectra.gaussian_rmf(lo2, hi2, short, nustar.resolution.fwhm), short,
                      TELESCOPE, INSTRUMENT)
    with pytest.raises(spectra.SpectrumError, match=r"other\.rmf: energy grid or channels"):
        spectra.observation_responses([rmfs[0], tmp_path / "other.rmf"], None, [1, 1], grid, 3)
    spectra.write_arf(tmp_path / "other.arf", lo2, hi2, np.ones(lo2.size), TELESCOPE,
                      INSTRUMENT)
    with pytest.raises(spectra.SpectrumError, match=r"ARF .*other\.arf: energy grid"):
        spectra.observation_responses(rmfs, [arfs[0], tmp_path / "other.arf"], [1, 1], grid, 3)
    shifted = spectra.ChannelGrid(wide.first, wide.e_min + 0.02, wide.e_max + 0.02)
    spectra.write_rmf(tmp_path / "shifted.rmf", lo, hi,
                      spectra.gaussian_rmf(lo, hi, shifted, nustar.resolution.fwhm), shifted,
                      TELESCOPE, INSTRUMENT)
    with pytest.raises(spectra.SpectrumError, match=r"shifted\.rmf: its channels do not give"):
        spectra.observation_responses([tmp_path / "shifted.rmf"], None, [1], grid, 3)
    with pytest.raises(spectra.SpectrumError, match=r"gone\.rmf: file not found"):
        spectra.observation_responses([tmp_path / "gone.rmf"], None, [1], grid, 3)


# --------------------------------------------------------------------------- extraction
def test_aperture_and_annulus_counts(grid):
    """Events on rings around two sources: the aperture takes its ring, the annulus its
    own ring minus what lies near the other source."""
    rng = np.random.default_rng(2)
    n = 4000
    theta = rng.uniform(0, 2 * np.pi, n)
    radius = np.repeat([3.0, 15.0, 30.0], [1000, 1500, 1500])
    x = np.r_[100 + radius * np.cos(theta), 200.0]
    y = np.r_[100 + radius * np.sin(theta), 200.0]
    pi = np.r_[rng.integers(grid.first, grid.first + grid.size, n), grid.first]
    src, bkg = spectra.aperture_spectra(x, y, pi, [100.0, 112.0], [100.0, 100.0], grid,
                                        radius_pix=5.0, annulus_pix=(10.0, 20.0),
                                        mask_pix=8.0)
    assert src[0].sum() == 1000
    ring = (radius == 15.0)
    near_other = np.hypot(x[:n] - 112.0, y[:n] - 100.0) < 8.0
    assert bkg[0].sum() == int(np.sum(ring & ~near_other))
    assert np.array_equal(np.bincount(pi[:n][radius == 3.0] - grid.first,
                                      minlength=grid.size), src[0])


# --------------------------------------------------------------------------- fits
@pytest.fixture(scope="module")
def model(nustar, grid, rmf):
    lo, hi, matrix = rmf
    area = nustar.effective_area(0.5 * (lo + hi)) * nustar.eef_aperture
    response = spectra.Response(lo, hi, area, matrix, 2.0e5).grouped(10)
    return spectra.AbsorbedPowerLaw(response, 0.0, nustar.nh_galactic_cm2, nustar.absorber)


def test_fits_recover_known_parameters_within_their_90_percent_intervals(model):
    """1000 simulated spectra of ~2000 counts (C-statistic): the 90% profile-likelihood
    intervals of the photon index and of N_H hold the truth 90% of the time (binomial
    tolerance: 3 sigma = 0.028)."""
    coverage = _interval_coverage(model, np.random.default_rng(20261205), 1000, (1.5, 2.3),
                                  (22.0, 23.5), 2000.0, 22.5)
    for k, fraction in coverage.items():
        assert abs(fraction - 0.90) < 0.028, (k, fraction)


def _interval_coverage(model, rng, n_spectra, gamma_range, log_nh_range, total_counts,
                       start_log_nh):
    """Fraction of ``n_spectra`` simulated spectra (Gamma and log N_H uniform in their ranges,
    ~``total_counts`` counts) whose 90% intervals of Gamma and log N_H hold the truth (fits
    from Gamma 1.9 and ``start_log_nh``)."""
    hits = {"gamma": 0, "log_nh": 0}
    for _ in range(n_spectra):
        truth = {"gamma": rng.uniform(*gamma_range), "log_nh": rng.uniform(*log_nh_range)}
        truth["log_norm"] = np.log10(total_counts / model.counts(0.0, **truth).sum())
        counts = rng.poisson(model.counts(**truth))
        fit = spectra.SpectralFit(model.counts, counts).fit(
            {"log_norm": -3.0, "gamma": 1.9, "log_nh": start_log_nh},
            ("log_norm", "gamma", "log_nh"), intervals=("gamma", "log_nh"))
        for k in hits:
            hits[k] += fit.lower[k] <= truth[k] <= fit.upper[k]
    return {k: h / n_spectra for k, h in hits.items()}


def test_fits_with_the_reprocessed_absorber_recover_compton_thick_columns(model):
    """The reprocessed absorber (recoil, K lines) as the fitted model: 100 simulated spectra
    of ~3000 counts with N_H from 3e23 to 3e24; the 90% intervals of Gamma and N_H hold the
    truth 90% of the time (3 sigma binomial tolerance: 0.09), and the model's K-alpha line
    is there (its counts at 6.4 keV exceed the continuum's interpolation)."""
    m = spectra.AbsorbedPowerLaw(model.response, 0.0, model.nh_galactic_cm2, "reprocessed")
    coverage = _interval_coverage(m, np.random.default_rng(31), 100, (1.6, 2.2), (23.5, 24.5),
                                  3000.0, 24.0)
    for k, fraction in coverage.items():
        assert abs(fraction - 0.90) < 0.09, (k, fraction)
    photons = m.photons(0.0, 1.8, 24.0)
    k = np.searchsorted(m.response.energ_hi, spectra.FE_KALPHA_KEV, side="right")
    assert photons[k] > 1.5 * 0.5 * (photons[k - 2] + photons[k + 2])


def test_the_6_4_kev_line_has_its_equivalent_width(model):
    """The line adds EW/(1 + z) x K E_obs^-Gamma photons (Galactic absorption aside) at
    E_obs = 6.4/(1 + z): its folded counts are that flux through the response."""
    z = 0.5
    m = spectra.AbsorbedPowerLaw(model.response, z, 0.0, model.absorber)
    line = m.counts(-3.0, 1.8, 20.0, 0.3) - m.counts(-3.0, 1.8, 20.0, 0.0)
    e_obs = spectra.FE_KALPHA_KEV / (1 + z)
    photons = 1e-3 * 0.3 / (1 + z) * e_obs ** -1.8
    r = model.response
    k = np.searchsorted(r.energ_hi, e_obs, side="right")
    assert line.sum() == pytest.approx(photons * r.arf_cm2[k] * r.exposure_s
                                       * r.matrix[k].sum(), rel=1e-9)
    assert abs(np.sum(line * np.arange(line.size)) / line.sum()
               - np.sum(r.matrix[k] * np.arange(line.size)) / r.matrix[k].sum()) < 1e-9


def test_the_staged_fit_measures_a_line_in_a_bright_spectrum(model):
    """~20000 counts with a 0.3 keV line: from free_line_counts the staged fit frees the
    line, whose 90% interval holds the truth; without a line it finds an EW near 0."""
    rng = np.random.default_rng(8)
    truth = {"log_norm": -2.3, "gamma": 1.8, "log_nh": 22.5}
    for ew in (0.3, 0.0):
        counts = rng.poisson(model.counts(**truth, line_ew_kev=ew))
        fitter = spectra.SpectralFit(model.counts, counts)
        stage, fit = spectra.staged_fit(fitter, counts.sum(), {
            "gamma_fixed": 1.9, "free_gamma_counts": 70, "free_line_counts": 300})
        assert stage == "gamma_free_line" and counts.sum() > 15000
        assert fit.lower["line_ew_kev"] <= ew <= fit.upper["line_ew_kev"]
        assert abs(fit.values["line_ew_kev"] - ew) < 0.1


def test_the_spectra_figure_draws_data_model_and_residuals(model, tmp_path):
    """Three sources on a 2 x 2 grid: three spectrum panels with their residuals, the fourth
    cell hidden; the drawn model is the source model plus the profiled background."""
    rng = np.random.default_rng(4)
    values = {"log_norm": -3.2, "gamma": 1.8, "log_nh": 22.5}
    mu = model.counts(**values)
    n = mu.size
    e_min = 3.0 + 0.4 * np.arange(n)
    panels = [{"spectrum": spectra.SourceSpectrum(rng.poisson(mu + 2.0), rng.poisson(20.0, n),
                                                  0.1, e_min, e_min + 0.4, 2.0e5, model),
               "values": values, "label": f"source {k}"} for k in range(3)]
    fig = figures.spectra_with_fits(panels, title="test")
    visible = [ax for ax in fig.get_axes() if ax.get_visible()]
    assert len(visible) == 6
    assert [ax.get_title() for ax in visible[::2]] == ["source 0", "source 1", "source 2"]
    fig.savefig(tmp_path / "spectra.png")
