"""Simulated spectra of replica sources through the survey's own responses, and their staged
fits (method.md §16).

A simulated source has the spectrum, intrinsic flux, redshift and sky position (hence
exposure and vignetting) of a replica input that the survey detects. Its spectrum is folded
through the same ARF recipe and RMF as the catalogue's spectra
(:func:`xsurvey.spectra.source_arf`), with the background of the catalogue's own spectra,
drawn with Poisson noise, and fitted by the same staged procedure
(:func:`xsurvey.spectra.staged_fit`). A spurious source is a background fluctuation: its
excess counts have the background's spectral shape.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from xsurvey.instrument import band_suffix
from xsurvey.obscuration.selection import log_column, nh_class, rest_frame_luminosity
from xsurvey.population.model import powerlaw_energy_flux
from xsurvey.spectra import (
    AbsorbedPowerLaw,
    Response,
    SpectralFit,
    SpectrumError,
    elementary_bands,
    group,
    read_arf,
    read_pha,
    read_rmf,
    region_scaling,
    source_arf,
    staged_fit,
)

#: Index of the spurious component in a sample's ``component`` column.
SPURIOUS = 3


@dataclass(frozen=True)
class BackgroundModel:
    """The catalogue spectra's background: expected counts s^-1 per channel in a source
    aperture, and the background-to-source region scaling ``alpha`` of a simulated
    background spectrum (the median of the catalogue's)."""

    rate_per_s: np.ndarray
    alpha: float


def background_model(files, stems) -> BackgroundModel:
    """The mean background of the catalogue's spectra ``<stem>.pha`` in ``files``.

    ``rate = sum_k alpha_k B_k / sum_k T_k``: background-region counts ``B_k`` scaled to the
    source aperture, per second of the spectra's exposures ``T_k``.
    """
    files = Path(files)
    total, exposure, alphas = 0.0, 0.0, []
    for stem in stems:
        pha = read_pha(files / f"{stem}.pha")
        bkg = read_pha(files / pha.backfile)
        alpha = region_scaling(pha, bkg)
        total = total + alpha * np.asarray(bkg.counts, float)
        exposure += pha.exposure_s
        alphas.append(alpha)
    if not exposure > 0:
        raise SpectrumError(f"{files}: no catalogue spectrum with exposure, so no background "
                            f"for the simulated spectra")
    return BackgroundModel(np.asarray(total, float) / exposure, float(np.median(alphas)))


@dataclass(frozen=True)
class SpectralSetup:
    """What the catalogue's spectra were made with: the instrument, the RMF, one module's
    on-axis area on the RMF's energies (``onaxis.arf`` of the spectra), and the bands whose
    exposure maps give the vignetting (:func:`xsurvey.spectra.elementary_bands`)."""

    instrument: object
    rmf: object
    area_cm2: np.ndarray
    vignetting_bands: tuple

    def response(self, row) -> Response:
        """The response of a simulated spectrum at a sample row's position (its
        ``exposure_ks_<band>`` and ``exposure_s``): the catalogue spectra's ARF recipe
        (:func:`xsurvey.spectra.source_arf`) and RMF."""
        exposures = {b: 1e3 * float(getattr(row, f"exposure_ks_{band_suffix(b)}"))
                     for b in self.vignetting_bands}
        arf = source_arf(self.instrument, self.rmf.energ_lo, self.rmf.energ_hi,
                         self.instrument.eef_aperture, exposures, float(row.exposure_s),
                         self.area_cm2)
        return Response(self.rmf.energ_lo, self.rmf.energ_hi, arf, self.rmf.matrix,
                        float(row.exposure_s))


def spectral_setup(instrument, files, band: str, bands) -> SpectralSetup:
    """The :class:`SpectralSetup` of the catalogue spectra in ``files`` (``response.rmf``,
    ``onaxis.arf``) of ``band``, made from the instrument's ``bands``."""
    rmf = read_rmf(Path(files) / "response.rmf")
    _, _, area = read_arf(Path(files) / "onaxis.arf")
    b = instrument.band(band)
    return SpectralSetup(instrument, rmf, area,
                         tuple(elementary_bands(instrument, bands, b.e_lo_kev, b.e_hi_kev)))


def expected_source_counts(row, setup: SpectralSetup, counts_band_kev,
                           background: BackgroundModel) -> np.ndarray:
    """Expected counts per channel of a sample row's source: its absorbed power law (the
    instrument's absorber, no scattered light, as in the replicas) of intrinsic flux
    ``flux_int`` in ``counts_band_kev``; for a spurious row, ``excess_counts`` in the
    background's shape."""
    if int(row.component) == SPURIOUS:
        shape = background.rate_per_s / background.rate_per_s.sum()
        return float(row.excess_counts) * shape
    inst = setup.instrument
    model = AbsorbedPowerLaw(setup.response(row), float(row.redshift), inst.nh_galactic_cm2,
                             inst.absorber)
    norm = float(row.flux_int) / float(powerlaw_energy_flux(row.photon_index,
                                                            *counts_band_kev))
    return model.counts(np.log10(norm), float(row.photon_index), float(row.log_nh))


def simulate_spectra(sample: pd.DataFrame, setup: SpectralSetup, counts_band_kev,
                     background: BackgroundModel, rng):
    """Poisson source-region and background-region spectra of every sample row.

    Returns
    -------
    counts, background_counts : numpy.ndarray
        ``(n, n_channels)`` integers.
    background_expected : numpy.ndarray
        Background counts expected in each source region (``rate x exposure``).
    """
    n, nch = len(sample), background.rate_per_s.size
    counts = np.zeros((n, nch), np.int64)
    back = np.zeros((n, nch), np.int64)
    expected_bkg = np.zeros(n)
    for i, row in enumerate(sample.itertuples()):
        b = background.rate_per_s * float(row.exposure_s)
        s = expected_source_counts(row, setup, counts_band_kev, background)
        counts[i] = rng.poisson(s + b)
        back[i] = rng.poisson(b / background.alpha)
        expected_bkg[i] = b.sum()
    return counts, back, expected_bkg


#: Columns of :func:`fit_mock`.
FIT_COLUMNS = ("net_counts", "stage", "log_norm_fit", "gamma_fit", "log_nh_fit", "statistic",
               "gamma_fit_z", "log_nh_fit_z")


def fit_mock(row, counts, background_counts, setup: SpectralSetup,
             background: BackgroundModel, cfg: dict) -> dict:
    """The staged fits (best fit only) of one simulated spectrum, as the catalogue's: W-stat,
    ``group_channels`` channels summed, not fitted below ``min_net_counts`` net counts
    (counts minus the expected background); once with the absorber at z = 0 (the
    observed-frame column, ``log_nh_obs`` of the catalogue's fits, which the inversion
    uses) and once at the source's redshift (``_z``: a catalogue source with a correct
    counterpart redshift).

    Returns
    -------
    dict
        :data:`FIT_COLUMNS` (a spurious source has no redshift: NaN ``_z`` values).
    """
    net = float(np.sum(counts)) - float(row.bkg_expected)
    out = dict.fromkeys(FIT_COLUMNS, np.nan) | {"net_counts": net, "stage": "not_fitted"}
    if not net >= cfg["min_net_counts"]:
        return out
    g = cfg["group_channels"]
    response = setup.response(row).grouped(g)
    for z, suffix in ((0.0, ""), (float(row.redshift), "_z")):
        if not np.isfinite(z):
            continue
        model = AbsorbedPowerLaw(response, z, setup.instrument.nh_galactic_cm2,
                                 setup.instrument.absorber, cfg["scattered_fraction"],
                                 cfg["line_ew_kev"])
        fitter = SpectralFit(model.counts, group(counts, g), group(background_counts, g),
                             background.alpha)
        stage, fit = staged_fit(fitter, net, cfg, intervals=False)
        out |= {f"gamma_fit{suffix}": fit.values["gamma"],
                f"log_nh_fit{suffix}": fit.values["log_nh"]}
        if not suffix:
            out |= {"stage": stage, "log_norm_fit": fit.values["log_norm"],
                    "statistic": fit.statistic}
    return out


def draw_sample(inputs: pd.DataFrame, selected, spurious: pd.DataFrame, per_class: int,
                n_spurious: int, log_thresholds, spectra_band: str,
                vignetting_bands, counts_band_kev, rng) -> pd.DataFrame:
    """The simulated sources whose spectra are fitted: up to ``per_class`` replica inputs of
    each N_H class among those the survey detects, and ``n_spurious`` of the replicas'
    spurious detections in ``spectra_band``.

    Parameters
    ----------
    inputs : pandas.DataFrame
        Replica inputs (``photon_index, nh, redshift, flux_int`` and per band
        ``exposure_ks_<b>``).
    selected : array_like of bool
        The inputs in the replicas' catalogues (:func:`catalogue_selection`).
    spurious : pandas.DataFrame
        Spurious catalogue detections of the replicas in ``spectra_band``: ``net`` (counts)
        and ``exposure_ks``.
    rng : numpy.random.Generator
        Draw order: the inputs of each class, then the spurious detections.

    Returns
    -------
    pandas.DataFrame
        ``component`` (class index, :data:`SPURIOUS` for spurious), ``replica, input_id,
        photon_index, log_nh, redshift, flux_int, log_lum_2_10, excess_counts, exposure_s``,
        ``exposure_ks_<b>`` of the vignetting bands.
    """
    log_nh = log_column(inputs["nh"])
    cls = nh_class(log_nh, log_thresholds)
    selected = np.asarray(selected, bool)
    picks = []
    for k in range(len(log_thresholds) + 1):
        pool = np.flatnonzero(selected & (cls == k))
        picks.append(np.sort(rng.choice(pool, min(per_class, pool.size), replace=False)))
    take = np.concatenate(picks).astype(np.int64)
    src = inputs.iloc[take]
    sfx = band_suffix(spectra_band)
    rows = pd.DataFrame({
        "component": cls[take], "replica": src["replica"].to_numpy(),
        "input_id": src["input_id"].to_numpy(),
        "photon_index": src["photon_index"].to_numpy(float), "log_nh": log_nh[take],
        "redshift": src["redshift"].to_numpy(float), "flux_int": src["flux_int"].to_numpy(float),
        "log_lum_2_10": np.log10(rest_frame_luminosity(
            src["flux_int"], src["photon_index"], src["redshift"], counts_band_kev)),
        "excess_counts": np.nan, "exposure_s": 1e3 * src[f"exposure_ks_{sfx}"].to_numpy(float),
        **{f"exposure_ks_{band_suffix(b)}":
           src[f"exposure_ks_{band_suffix(b)}"].to_numpy(float) for b in vignetting_bands}})
    pick = np.sort(rng.choice(len(spurious), min(n_spurious, len(spurious)), replace=False))
    spur = spurious.iloc[pick]
    expo = spur["exposure_ks"].to_numpy(float)
    fake = pd.DataFrame({
        "component": SPURIOUS, "replica": spur["replica"].to_numpy(), "input_id": -1,
        "excess_counts": spur["net"].to_numpy(float), "exposure_s": 1e3 * expo,
        **{f"exposure_ks_{band_suffix(b)}": expo for b in vignetting_bands}})
    sample = pd.concat([rows, fake], ignore_index=True)
    return sample
