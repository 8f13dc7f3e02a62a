"""Rule variability_null: null p-values of the variability test from per-epoch replicas."""

import pandas as pd

from xsurvey import simulate, variability
from xsurvey.calibrate import write_csv
from xsurvey.instrument import load_instrument
from xsurvey.io import read_mosaics, setup_logging
from xsurvey.mosaic import MAP_KINDS
from xsurvey.photometry import Aperture
from xsurvey.population import population_from_config

log = setup_logging(snakemake.log[0])
inst = load_instrument(snakemake.input.instrument)
band, stack, p = snakemake.wildcards.band, snakemake.wildcards.stack, snakemake.params
cfg = p.variability
population = population_from_config(p.population, inst, grid=snakemake.input.grid)
setup = simulate.setup_from_files(
    {band: dict(zip(MAP_KINDS, snakemake.input.maps, strict=True))},
    {band: snakemake.input.real}, inst, population, stack, p.seed, p.detection, p.bright_flux,
    p.truth, p.truth_share)
kinds = ("exposure", "background", "background_nofcxb")
files = snakemake.input.epoch_maps
epoch_maps = [read_mosaics(dict(zip(kinds, files[k:k + 3], strict=True)))[0]
              for k in range(0, len(files), 3)]
thresholds = pd.read_csv(snakemake.input.thresholds)
thresholds = thresholds[thresholds["band"].astype(str) == band]
null = variability.null_p_values(
    setup, epoch_maps, thresholds, Aperture.from_instrument(inst, band), inst.psf,
    range(p.replicas), p.level, inst.deblend_radius_arcsec,
    cfg["sys_frac"])
log.info("stack %s band %s: %d constant sources in %d per-epoch replicas; %.1f%% with p < %g, "
         "calibrated threshold %.4g", stack, band, null.size, p.replicas,
         100 * (null < cfg["p_threshold"]).mean() if null.size else float("nan"),
         cfg["p_threshold"], variability.calibrated_p_threshold(null, cfg["p_threshold"]))
write_csv(pd.DataFrame({"p_value": null}), snakemake.output[0])
