"""Rule obscuration_sample: which replica sources enter the catalogue (detection fractions vs
N_H and luminosity), and the detected and spurious replica sources whose spectra are
simulated, with those spectra (method.md §16)."""

import numpy as np
import pandas as pd

from xsurvey import obscuration
from xsurvey.calibrate.reliability import above_threshold
from xsurvey.instrument import load_instrument
from xsurvey.provenance import start_job
from xsurvey.simulate.replicas import replica_seed
from xsurvey.tables import band_rows, write_csv

log = start_job(snakemake)
p = snakemake.params
inst = load_instrument(snakemake.input.instrument)
thresholds = pd.read_csv(snakemake.input.thresholds)
inputs = pd.concat([pd.read_parquet(f) for f in snakemake.input.inputs], ignore_index=True)
selected = obscuration.catalogue_selection(inputs, thresholds, p.level, p.bands)
log_thresholds = np.log10(p.nh_thresholds)
log_nh = obscuration.log_column(inputs["nh"])
log_lum = np.log10(obscuration.rest_frame_luminosity(
    inputs["flux_int"], inputs["photon_index"], inputs["redshift"], p.counts_band_kev))
classes = np.r_[-np.inf, log_thresholds, np.inf]
write_csv(pd.concat([
    obscuration.detection_fractions(log_nh, selected, classes, "nh_class"),
    *(obscuration.detection_fractions(values, selected, obscuration.DETECTION_BINS[name], name)
      for name, values in (("log_nh", log_nh), ("log_lum_2_10", log_lum)))],
    ignore_index=True),
    snakemake.output.detection)
log.info("%d replica inputs, %d in the replicas' %.0f%% catalogues; per N_H class: %s",
         len(inputs), selected.sum(), 100 * p.level,
         np.bincount(obscuration.nh_class(log_nh[selected], log_thresholds), minlength=3))

# spurious catalogue detections of the replicas in the band of the spectra
detections = pd.concat([pd.read_parquet(f, filters=[("band", "==", p.band)])
                        for f in snakemake.input.detections], ignore_index=True)
passing = above_threshold(detections["det_ml"].to_numpy(float),
                          detections["exposure_ks"].to_numpy(float),
                          band_rows(thresholds, p.band), p.level)
spurious = detections[passing & (detections["input_id"].to_numpy() < 0)].reset_index(drop=True)

extraction = pd.read_csv(snakemake.input.table)
files = snakemake.input.files
setup = obscuration.spectral_setup(inst, files, p.band, p.bands)
cfg = dict(p.obscuration)
if "exposure_s" in extraction and (extraction["exposure_s"] > 0).any():
    background = obscuration.background_model(
        files, extraction.loc[extraction["exposure_s"] > 0, "file"])
else:   # the simulated spectra take the background of the catalogue's spectra
    log.warning("no catalogue spectrum in %s: no simulated spectra", files)
    background = obscuration.BackgroundModel(np.zeros(setup.rmf.channel.size), np.nan)
    cfg.update(sample_per_class=0, spurious_sample=0)
rng = np.random.default_rng(replica_seed(p.seed, snakemake.wildcards.stack, 0, "obscuration"))
sample = obscuration.draw_sample(inputs, selected, spurious, cfg["sample_per_class"],
                                 cfg["spurious_sample"], log_thresholds,
                                 p.band, setup.vignetting_bands, p.counts_band_kev, rng)
counts, back, sample["bkg_expected"] = obscuration.simulate_spectra(
    sample, setup, p.counts_band_kev, background, rng)
sample.to_parquet(snakemake.output.sample, index=False)
np.savez_compressed(snakemake.output.spectra, counts=counts, background=back,
                    background_rate_per_s=background.rate_per_s, alpha=background.alpha)
log.info("%d simulated spectra (%s per component; %d spurious detections to draw from)",
         len(sample), np.bincount(sample["component"], minlength=4), len(spurious))
