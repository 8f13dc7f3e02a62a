"""Forward model of the obscuration bias (xsurvey.obscuration): the survey's selection of
replica sources, luminosities, simulated spectra against the instrument's folding, and the
calibration of the intrinsic-fraction posterior against known truth."""

import numpy as np
import pandas as pd
import pytest
from scipy.stats import beta

from xsurvey import obscuration, spectra
from xsurvey.obscuration import figures
from xsurvey.population.model import powerlaw_energy_flux


# --------------------------------------------------------------------------- selection
def test_nh_classes_put_a_threshold_in_the_class_above():
    classes = obscuration.nh_class([20.0, 22.99, 23.0, 23.5, 24.0, 24.7], [23.0, 24.0])
    assert classes.tolist() == [0, 0, 1, 1, 2, 2]


def test_catalogue_selection_needs_a_true_detection_above_the_threshold():
    """An input is in the catalogue when, in some band, it is the true source of a detection
    whose DET_ML passes the threshold of the detection's exposure interval."""
    thresholds = pd.DataFrame({"band": ["3-8", "3-8", "8-24", "8-24"],
                               "exp_lo_ks": [0, 100] * 2, "exp_hi_ks": [100, 1000] * 2,
                               "reliability": 0.95,
                               "det_ml_threshold": [10.0, 20.0, 12.0, 12.0]})
    inputs = pd.DataFrame({
        "matched_3_8": [True, True, False, False, True],
        "det_ml_3_8": [15.0, 15.0, 50.0, np.nan, 9.0],
        "det_exposure_ks_3_8": [50.0, 500.0, 50.0, np.nan, 50.0],
        "matched_8_24": [False, False, False, True, True],
        "det_ml_8_24": [np.nan, np.nan, np.nan, 12.0, 11.9],
        "det_exposure_ks_8_24": [np.nan, np.nan, np.nan, 300.0, 300.0]})
    selected = obscuration.catalogue_selection(inputs, thresholds, 0.95, ["3-8", "8-24"])
    # passes 3-8 at 50 ks; 15 < 20 at 500 ks; spurious in 3-8; passes 8-24; just misses both
    assert selected.tolist() == [True, False, False, True, False]


def test_rest_frame_luminosity_is_the_spectral_fits_luminosity(nustar):
    """The vectorised luminosity of the replica sources equals the one of the fitted spectra
    (:func:`xsurvey.spectra.intrinsic_luminosity`), and 4 pi D_L^2 F for Gamma = 2."""
    gamma, z, flux = np.array([1.6, 1.9, 2.0]), np.array([0.3, 1.0, 2.5]), 1e-14
    lum = obscuration.rest_frame_luminosity(flux, gamma, z, (2.0, 10.0))
    for g, zz, value in zip(gamma, z, lum, strict=True):
        log_norm = np.log10(flux / powerlaw_energy_flux(g, 2.0, 10.0))
        assert value == pytest.approx(spectra.intrinsic_luminosity(log_norm, g, zz, (2.0, 10.0)),
                                      rel=2e-3)
    assert np.isnan(obscuration.rest_frame_luminosity(flux, 1.8, 0.0, (2.0, 10.0)))


def test_detection_fractions_count_per_bin_with_jeffreys_intervals():
    values = np.array([20.5, 20.6, 21.5, 21.5, 21.5, 23.0])
    selected = np.array([True, False, False, False, False, True])
    t = obscuration.detection_fractions(values, selected, [20.0, 21.0, 22.0, 23.0], "log_nh")
    assert t["n_input"].tolist() == [2, 3, 0] and t["n_detected"].tolist() == [1, 0, 0]
    assert t["fraction"].iloc[0] == 0.5 and np.isnan(t["fraction"].iloc[2])
    tail = 0.5 * (1 - obscuration.LEVEL_68)
    assert t["fraction_hi"].iloc[0] == pytest.approx(beta.ppf(1 - tail, 1.5, 1.5))
    assert t["fraction_lo"].iloc[1] == 0.0
    assert t["fraction_hi"].iloc[1] == pytest.approx(beta.ppf(1 - tail, 0.5, 3.5))


def test_population_fraction_of_the_default_population():
    edges, fractions = [20.0, 22.0, 23.0, 24.0, 24.7], [0.45, 0.30, 0.17, 0.08]
    assert obscuration.population_fraction(edges, fractions, 23.0) == pytest.approx(0.25)
    assert obscuration.population_fraction(edges, fractions, 24.0) == pytest.approx(0.08)
    assert obscuration.population_fraction(edges, fractions, 23.5) == pytest.approx(0.165)


# --------------------------------------------------------------------------- simulated spectra
@pytest.fixture(scope="module")
def rmf(nustar):
    grid = spectra.channel_grid(nustar, 3.0, 24.0)
    lo, hi = spectra.model_energies(nustar, grid)
    return spectra.RMF(lo, hi, spectra.gaussian_rmf(lo, hi, grid, nustar.resolution.fwhm),
                       grid.channels, grid.e_min, grid.e_max)


BANDS = ["3-8", "8-16", "16-24"]
COUNTS_BAND = (2.0, 10.0)


@pytest.fixture(scope="module")
def setup(nustar, rmf):
    area = nustar.effective_area(0.5 * (rmf.energ_lo + rmf.energ_hi))
    return obscuration.SpectralSetup(nustar, rmf, area, tuple(BANDS))


def _row(**values):
    base = {"component": 0, "photon_index": 1.8, "log_nh": 19.0, "redshift": 0.0,
            "flux_int": 1e-13, "excess_counts": np.nan, "exposure_s": 2e5,
            **{f"exposure_ks_{b.replace('-', '_')}": 200.0 for b in BANDS},
            "bkg_expected": 0.0}
    return next(pd.DataFrame([{**base, **values}]).itertuples())


def test_simulated_spectra_have_the_instruments_counts(nustar, rmf, setup):
    """An unabsorbed source on axis: the simulated spectrum's expected counts are the
    instrument's folded count rate x aperture fraction x exposure (the replicas' counts of
    the same source; the Gaussian resolution moves ~1% across the 3-24 keV edges); a
    spurious source's excess has the background's shape and its total."""
    background = obscuration.BackgroundModel(np.full(rmf.channel.size, 1e-5), 0.05)
    row = _row()
    counts = obscuration.expected_source_counts(row, setup, COUNTS_BAND, background)
    norm = row.flux_int / powerlaw_energy_flux(row.photon_index, *COUNTS_BAND)
    _, rate = nustar.fold([(3.0, 24.0)], row.photon_index, 0.0, 0.0)
    expected = norm * rate[0] * nustar.eef_aperture * row.exposure_s
    assert counts.sum() == pytest.approx(expected, rel=0.015)
    spurious = obscuration.expected_source_counts(
        _row(component=obscuration.SPURIOUS, excess_counts=40.0), setup, COUNTS_BAND,
        background)
    assert spurious.sum() == pytest.approx(40.0)
    assert np.allclose(spurious, spurious[0])


def test_the_staged_fit_of_a_simulated_spectrum_recovers_its_column(rmf, setup):
    """Bright obscured sources (thousands of counts): at z = 0 the observed-frame and the
    rest-frame fits agree and recover log N_H within 0.15 dex; at z = 1.5 the rest-frame fit
    recovers it within 0.2 dex and the observed-frame column is ~(1 + z)^2.6 lower (0.8-1.3
    dex); below min_net_counts a source is not fitted."""
    background = obscuration.BackgroundModel(np.full(rmf.channel.size, 2e-6), 0.05)
    sample = pd.DataFrame([_row(flux_int=2e-12, log_nh=23.5)._asdict(),
                           _row(flux_int=4e-12, log_nh=23.5, redshift=1.5)._asdict()]).drop(
        columns="Index")
    rng = np.random.default_rng(7)
    counts, back, sample["bkg_expected"] = obscuration.simulate_spectra(
        sample, setup, COUNTS_BAND, background, rng)
    row = next(sample.itertuples())
    cfg = {"min_net_counts": 10, "group_channels": 5, "scattered_fraction": 0.0,
           "gamma_fixed": 1.9, "free_gamma_counts": 70, "line_ew_kev": 0.0,
           "free_line_counts": 300}
    fit = obscuration.fit_mock(row, counts[0], back[0], setup, background, cfg)
    assert fit["net_counts"] > 1000 and fit["stage"] == "gamma_free_line"
    assert abs(fit["log_nh_fit"] - 23.5) < 0.15
    # at z = 0 the rest-frame fit is the same fit
    assert fit["log_nh_fit_z"] == pytest.approx(fit["log_nh_fit"])
    far = obscuration.fit_mock(next(sample.iloc[[1]].itertuples()), counts[1], back[1], setup,
                               background, cfg)
    assert abs(far["log_nh_fit_z"] - 23.5) < 0.2
    assert 0.8 < far["log_nh_fit_z"] - far["log_nh_fit"] < 1.3
    faint = obscuration.fit_mock(row, counts[0], back[0], setup, background,
                                 {**cfg, "min_net_counts": 1e6})
    assert faint["stage"] == "not_fitted" and np.isnan(faint["log_nh_fit"])


# --------------------------------------------------------------------------- inference
#: A survey's response (rows: unobscured, obscured, Compton thick, spurious; columns: not
#: fitted, measured unobscured, obscured, Compton thick) biased as the demo's: obscured
#: sources often fitted unobscured, unobscured ones sometimes Compton thick.
RESPONSE = np.array([[0.02, 0.68, 0.25, 0.05],
                     [0.02, 0.45, 0.38, 0.15],
                     [0.01, 0.07, 0.43, 0.49],
                     [0.00, 0.50, 0.35, 0.15]])
DETECTION = np.array([0.066, 0.046, 0.018])
TRUTH = np.array([0.75, 0.17, 0.08])


def _survey(rng, n_sources, spurious_fraction, truth=TRUTH, per_class=100,
            n_simulated=20000):
    """One catalogue drawn from the truth, and one forward model's finite simulations."""
    w = DETECTION * truth / np.sum(DETECTION * truth)
    q = (1 - spurious_fraction) * w @ RESPONSE[:3] + spurious_fraction * RESPONSE[3]
    observed = rng.multinomial(n_sources, q)
    simulated = np.full(3, n_simulated)
    detected = rng.binomial(simulated, DETECTION)
    response = np.array([rng.multinomial(per_class, row) for row in RESPONSE])
    return observed, detected, simulated, response


def _coverage(rng, n_trials, draw_truth):
    """Fraction of simulated 60-source surveys whose 68% intervals (intrinsic obscured,
    intrinsic Compton thick, naive obscured) hold the truth."""
    hits = np.zeros(3)
    for _ in range(n_trials):
        truth = draw_truth()
        observed, detected, simulated, response = _survey(rng, 60, 0.05, truth)
        post = obscuration.FractionPosterior(observed, detected, simulated, response, 0.05,
                                             rng, draws=40, grid_size=80)
        values = {"obscured": truth[1] + truth[2], "compton_thick": truth[2]}
        for i, q in enumerate(values):
            s = post.summary(q)
            hits[i] += s["intrinsic_lo"] <= values[q] <= s["intrinsic_hi"]
        naive = obscuration.naive_fraction(np.repeat(np.arange(4), observed), "obscured")
        hits[2] += naive["naive_lo"] <= values["obscured"] <= naive["naive_hi"]
    return hits / n_trials


def test_intrinsic_fraction_intervals_hold_the_truth_at_their_level():
    """Truths drawn from the prior (obscured fraction and Compton-thick share of it uniform):
    the 68% intervals of 200 simulated surveys of 60 sources hold the truth 68% of the time
    (binomial 3 sigma +-0.10); the simulations' own noise is part of the posterior."""
    rng = np.random.default_rng(20261206)

    def from_prior():
        f_obs, r = rng.random(2)
        return np.array([1 - f_obs, f_obs * (1 - r), f_obs * r])

    coverage = _coverage(rng, 200, from_prior)
    assert np.all(np.abs(coverage[:2] - obscuration.LEVEL_68) < 0.10), coverage


def test_intrinsic_fractions_are_not_overconfident_where_the_naive_one_is_biased():
    """The demo's truth (obscured 0.25, Compton thick 0.08) in 200 simulated surveys: the
    intrinsic 68% intervals hold it at least 68% of the time (less 3 sigma; with few
    sources they are wide), the naive obscured fraction, biased by the response, in under
    35%."""
    coverage = _coverage(np.random.default_rng(11), 200, lambda: TRUTH)
    assert np.all(coverage[:2] > obscuration.LEVEL_68 - 0.10), coverage
    assert coverage[2] < 0.35, coverage


def test_a_large_survey_pins_the_intrinsic_fraction():
    """2000 sources and a well-simulated response: the posterior median is within 0.03 of
    the true obscured fraction and the 68% interval narrower than 0.15 (the responses of
    unobscured and obscured sources are alike, so even many sources leave it this wide)."""
    rng = np.random.default_rng(5)
    observed, detected, simulated, response = _survey(rng, 2000, 0.05, per_class=3000)
    s = obscuration.FractionPosterior(observed, detected, simulated, response, 0.05, rng,
                                      draws=100).summary("obscured")
    assert abs(s["intrinsic"] - 0.25) < 0.03
    assert s["intrinsic_hi"] - s["intrinsic_lo"] < 0.15


def test_false_compton_thick_fits_come_mostly_from_lower_columns():
    """With the demo-like response, 15% of the sources fitted as Compton thick are Compton
    thick: the rest are unobscured or obscured sources, or spurious."""
    origin = obscuration.class_given_outcome(RESPONSE * 100, DETECTION * 1e4, np.full(3, 1e4),
                                             TRUTH, 0.05, "compton_thick")
    assert origin.sum() == pytest.approx(1.0)
    w = DETECTION * TRUTH / np.sum(DETECTION * TRUTH) * 0.95
    expected_ct = w[2] * RESPONSE[2, 3] / (w @ RESPONSE[:3, 3] + 0.05 * RESPONSE[3, 3])
    assert origin["compton_thick"] == pytest.approx(expected_ct)
    assert origin["unobscured"] > 0.5 > origin["compton_thick"]


def test_the_response_table_counts_each_subset():
    """Four simulated sources by hand: P(measured | true) per subset, NaN for a class
    without simulated sources."""
    t = obscuration.response_table([0, 0, 1, 3], [1, 2, 2, 1],
                                   {"all": np.ones(4, bool), "first": np.arange(4) < 1})
    a = t[t["subset"] == "all"].set_index(["true_class", "measured"])
    assert a.loc[("unobscured", "unobscured"), "probability"] == 0.5
    assert a.loc[("obscured", "obscured"), "n"] == 1 and a["n"].sum() == 4
    assert np.isnan(a.loc[("compton_thick", "obscured"), "probability"])
    first = t[t["subset"] == "first"].set_index(["true_class", "measured"])
    assert first["n"].sum() == 1 and first.loc[("unobscured", "unobscured"), "n"] == 1


def test_the_posterior_refuses_a_response_of_the_wrong_shape():
    with pytest.raises(ValueError, match="4 outcomes and 4 components"):
        obscuration.FractionPosterior([1, 2, 3, 4], [1, 1, 1], [2, 2, 2], np.ones((3, 4)), 0.0,
                                      np.random.default_rng(0))


# --------------------------------------------------------------------------- figures
def test_the_obscuration_figures_draw_their_tables(tmp_path):
    rng = np.random.default_rng(1)
    detection = pd.concat([
        obscuration.detection_fractions(rng.uniform(20, 24.7, 500), rng.random(500) < 0.1,
                                        np.arange(20, 25.01, 0.5), "log_nh"),
        obscuration.detection_fractions(rng.uniform(42, 46, 500), rng.random(500) < 0.1,
                                        np.arange(42, 46.01, 0.5), "log_lum_2_10")])
    fig = figures.detection_fraction(detection, "test")
    assert len(fig.axes) == 2 and fig.axes[0].get_yscale() == "log"
    simulated = pd.DataFrame({"component": ["unobscured", "obscured", "spurious"],
                              "stage": ["gamma_free", "gamma_fixed", "gamma_free"],
                              "log_nh": [21.0, 23.5, np.nan], "log_nh_fit": [20.0, 23.4, 23.0],
                              "log_nh_fit_z": [20.5, 23.6, np.nan],
                              "redshift": [1.0, 0.5, np.nan],
                              "net_counts": [100.0, 50.0, 30.0]})
    fig = figures.nh_recovery(simulated, [23.0, 24.0], "test")
    # spurious sources have no true column: two points per panel
    assert [sum(len(c.get_offsets()) for c in ax.collections) for ax in fig.axes[:3]] == [2] * 3
    fractions = pd.DataFrame({"quantity": ["obscured", "compton_thick"],
                              "nh_threshold": [1e23, 1e24], "naive": [0.33, 0.07],
                              "naive_lo": [0.27, 0.04], "naive_hi": [0.41, 0.12],
                              "intrinsic": [0.24, 0.09], "intrinsic_lo": [0.08, 0.02],
                              "intrinsic_hi": [0.45, 0.23], "intrinsic_lo90": [0.02, 0.0],
                              "intrinsic_hi90": [0.6, 0.34], "population": [0.25, 0.08]})
    fig = figures.obscuration_fractions(fractions, "test")
    labels = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert labels[0].startswith("obscured") and "10^{24}" in labels[1]
    fig.savefig(tmp_path / "fractions.png")
