"""Rule calibrate: calibration tables of a stack from its joint replicas."""

import pandas as pd
from astropy.wcs.utils import proj_plane_pixel_area

from xsurvey import calibrate, catalog, simulate
from xsurvey.io import nested_inputs, read_image
from xsurvey.provenance import start_job
from xsurvey.tables import write_csv

log = start_job(snakemake)
cfg, p = snakemake.params.calibration, snakemake.params
stack = snakemake.wildcards.stack
det = pd.concat([pd.read_parquet(f) for f in snakemake.input.detections], ignore_index=True)
inp = pd.concat([pd.read_parquet(f) for f in snakemake.input.inputs], ignore_index=True)
exposures = nested_inputs(snakemake.input, "exposure")
log.info("stack %s: %d replicas, %d detections in %d bands, %d inputs", stack, p.n_replicas,
         len(det), len(p.bands), len(inp))
by_band = {b: det[det["band"].to_numpy() == b].reset_index(drop=True) for b in p.bands}
cal = catalog.catalogue_calibration(det, p.bands, cfg["reliability_levels"],
                                    cfg["exposure_edges_ks"], cfg["n_intervals"], p.floor_ks,
                                    p.radius, cfg.get("merged_thresholds", True))
curves, thresholds, merged = cal["curves"], cal["thresholds"], cal["merged"]

results = {}
for band in p.bands:
    exposure, wcs, _ = read_image(exposures[band], "exposure mosaic")
    thr = thresholds[thresholds["band"] == band].reset_index(drop=True)
    results[band] = calibrate.calibrate_band(
        by_band[band], simulate.band_inputs(inp, band), exposure, proj_plane_pixel_area(wcs),
        band, p.n_replicas, thr, bright_flux=cfg["bright_flux"],
        bins_per_decade=cfg["flux_bins_per_decade"], snr_min=p.snr_min)
    for row in thr.itertuples():
        log.info("band %s, %g-%g ks: DET_ML threshold %.2f for reliability %.2f (per band "
                 "%.4f; %d detections)", band, row.exp_lo_ks, row.exp_hi_ks,
                 row.det_ml_threshold, row.reliability, row.band_reliability, row.n_detected)

tables = {name: pd.concat([r[name] for r in results.values()], ignore_index=True)
          for name in next(iter(results.values()))}
tables["separations"] = pd.concat([r["separations"].assign(band=band)
                                   for band, r in results.items()], ignore_index=True)
tables.update({k: cal[k] for k in ("thresholds", "reliability", "merged_reliability")})
tables["merged_summary"] = catalog.merged_summary(merged, p.n_replicas,
                                                  tables["merged_reliability"])
for row in tables["merged_summary"].itertuples():
    log.info("%g catalogue, %s %s: %.2f sources, %.2f spurious (%.2f expected) per replica, "
             "reliability %.4f", row.reliability, row.group, row.value, row.n_sources,
             row.n_spurious, row.expected_spurious, row.merged_reliability)
for name, path in zip(p.tables, snakemake.output.tables, strict=True):
    write_csv(tables[name], path)
tables["separations"].to_parquet(snakemake.output.separations, index=False)
merged.to_parquet(snakemake.output.merged_catalogues, index=False)

