"""Rule variability_null: null p-values of the variability test from per-epoch replicas."""

import pandas as pd

from xsurvey import simulate
from xsurvey.characterise import variability
from xsurvey.detect import Aperture
from xsurvey.instrument import load_instrument
from xsurvey.io import nested_inputs, read_mosaics
from xsurvey.mosaic import MAP_KINDS
from xsurvey.population import population_from_config
from xsurvey.provenance import start_job
from xsurvey.tables import band_rows, write_csv

log = start_job(snakemake)
inst = load_instrument(snakemake.input.instrument)
band, stack, p = snakemake.wildcards.band, snakemake.wildcards.stack, snakemake.params
cfg = p.variability
population = population_from_config(p.population, inst, grid=snakemake.input.grid)
stack_files, epoch_files = (nested_inputs(snakemake.input, k) for k in ("maps", "epoch_maps"))
setup = simulate.setup_from_files(
    {band: {k: stack_files[k] for k in MAP_KINDS}},
    {band: snakemake.input.real}, inst, population, stack, p.seed, p.detection, p.bright_flux,
    p.truth, p.truth_share)
epoch_maps = [read_mosaics({k: epoch_files[e][k] for k in p.epoch_kinds})[0] for e in p.epochs]
thresholds = band_rows(pd.read_csv(snakemake.input.thresholds), band)
null = variability.null_p_values(
    setup, epoch_maps, thresholds, Aperture.from_instrument(inst, band), inst.psf,
    range(p.replicas), p.level, inst.deblend_radius_arcsec,
    cfg["sys_frac"])
log.info("stack %s band %s: %d constant sources in %d per-epoch replicas; %.1f%% with p < %g, "
         "calibrated threshold %.4g", stack, band, null.size, p.replicas,
         100 * (null < cfg["p_threshold"]).mean() if null.size else float("nan"),
         cfg["p_threshold"], variability.calibrated_p_threshold(null, cfg["p_threshold"]))
write_csv(pd.DataFrame({"p_value": null}), snakemake.output[0])
