"""Rule lognlogs: number counts per band from the 95% catalogue (method.md §10)."""

import numpy as np
import pandas as pd
from astropy.table import Table

from xsurvey import lognlogs, plotting
from xsurvey.instrument import load_instrument
from xsurvey.lognlogs import figures
from xsurvey.population import population_from_config
from xsurvey.provenance import start_job
from xsurvey.tables import write_csv

log = start_job(snakemake)
inst = load_instrument(snakemake.input.instrument)
cfg, level = snakemake.params.lognlogs, snakemake.params.level
cat = Table.read(snakemake.input.catalog)
coverage = pd.read_csv(snakemake.input.coverage)
sensitivity = pd.read_csv(snakemake.input.sensitivity)
population = population_from_config(snakemake.params.population, inst,
                                    grid=snakemake.input.grid)
counts, models, flux_max = {}, {}, {}
for band, path in zip(snakemake.params.bands, snakemake.output.tables, strict=True):
    flux_max[band] = cfg["flux_max"].get(band, cfg["flux_max"]["default"])
    half = lognlogs.half_area_flux(sensitivity, band, level)
    if not np.isfinite(half):
        log.warning("band %s: no half-area flux at reliability %g (too few replicas or "
                    "detections); number counts not computed", band, level)
        write_csv(pd.DataFrame(columns=["flux", "n_gt_s", "n_err_lo", "n_err_hi"]), path)
        continue
    cov_flux, cov_area = lognlogs.coverage_curve(coverage, band, level)
    sample = lognlogs.catalog_sample(cat, band, half, flux_max[band], cfg["snr_min"],
                                     cfg["half_area_fraction"])
    counts[band] = lognlogs.number_counts(sample, cov_flux, cov_area,
                                          cfg["half_area_fraction"] * half, flux_max[band])
    models[band] = population.band_counts(band)
    log.info("band %s: %d sources between %.3g and %.3g erg/cm2/s", band, len(counts[band]),
             cfg["half_area_fraction"] * half, flux_max[band])
    write_csv(counts[band][["flux", "n_gt_s", "n_err_lo", "n_err_hi"]], path)
plotting.save(figures.number_counts_curves(counts, models, flux_max,
                                          title=f"stack {snakemake.wildcards.stack}"),
             snakemake.output.figure)
