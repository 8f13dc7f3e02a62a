"""Rule lognlogs_replicas: number counts recovered from the replicas versus the input.

The counts coverage is made from the first half of the replicas and the counts are
recovered from the second half, so the check is not circular.
"""

import numpy as np
import pandas as pd
from astropy.wcs.utils import proj_plane_pixel_area

from xsurvey import calibrate, lognlogs, plotting, simulate
from xsurvey.instrument import load_instrument
from xsurvey.io import read_image
from xsurvey.lognlogs import figures
from xsurvey.population import population_from_config
from xsurvey.provenance import start_job
from xsurvey.tables import write_csv

log = start_job(snakemake)
inst = load_instrument(snakemake.input.instrument)
cfg, level = snakemake.params.lognlogs, snakemake.params.level
n_rep = snakemake.params.n_replicas
half_rep = n_rep // 2
thresholds = pd.read_csv(snakemake.input.thresholds)
sensitivity = pd.read_csv(snakemake.input.sensitivity)
exposure, wcs, _ = read_image(snakemake.input.exposure, "exposure mosaic")
area = float((exposure > 0).sum()) * proj_plane_pixel_area(wcs)
population = population_from_config(snakemake.params.population, inst,
                                    grid=snakemake.input.grid)
detections = pd.concat([pd.read_parquet(f, columns=["band", "replica", "det_ml", "exposure_ks",
                                                    "flux", "snr"])
                        for f in snakemake.input.detections], ignore_index=True)
inputs = pd.concat([pd.read_parquet(f) for f in snakemake.input.inputs], ignore_index=True)

counts, models, flux_max = {}, {}, {}
for band, path in zip(snakemake.params.bands, snakemake.output.tables, strict=True):
    half = lognlogs.half_area_flux(sensitivity, band, level)
    if not np.isfinite(half):
        log.warning("band %s: no half-area flux at reliability %g; validation skipped", band,
                    level)
        write_csv(pd.DataFrame(columns=["flux", "n_gt_s", "n_std", "ratio", "pull"]), path)
        continue
    det = detections[detections["band"].to_numpy() == band]
    inp = simulate.band_inputs(inputs, band)
    thr = thresholds[thresholds.band == band]
    bins = calibrate.log_bins(inp["flux"].min(), inp["flux"].max(),
                              snakemake.params.bins_per_decade)
    cov = calibrate.counts_coverage(det[det.replica < half_rep], inp[inp.replica < half_rep],
                                    thr, bins, area, cfg["snr_min"])
    cov_flux, cov_area = lognlogs.coverage_curve(cov, band, level)
    flux_max[band] = cfg["flux_max"].get(band, cfg["flux_max"]["default"])
    models[band] = population.band_counts(band, drawn=True)
    # fitted range: from where the counts coverage is non-zero (and a fraction of the
    # half-area flux, method.md §10) up to the maximum flux
    lowest = max(cfg["half_area_fraction"] * half, float(cov_flux[np.argmax(cov_area > 0)]))
    grid = np.geomspace(lowest, flux_max[band], 10, endpoint=False)
    rep = lognlogs.replica_number_counts(
        det[det.replica >= half_rep], thr, cov_flux, cov_area, half, flux_max[band], level,
        cfg["snr_min"], cfg["half_area_fraction"], flux_grid=grid,
        replicas=range(half_rep, n_rep))
    counts[band] = lognlogs.compare_to_model(rep, models[band], flux_max[band])
    ratio = counts[band]["ratio"].to_numpy()
    log.info("band %s: recovered / input N(>S) %.3f-%.3f, median %.3f; |pull| max %.2f", band,
             np.nanmin(ratio), np.nanmax(ratio), np.nanmedian(ratio),
             counts[band]["pull"].abs().max())
    write_csv(counts[band], path)
plotting.save(figures.replica_counts_curves(counts, models, flux_max,
                                           title=f"stack {snakemake.wildcards.stack}"),
             snakemake.output.figure)
