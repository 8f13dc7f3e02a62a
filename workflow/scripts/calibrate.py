"""Rule calibrate: calibration tables and figures of a stack from its replicas."""

import pandas as pd
from astropy.wcs.utils import proj_plane_pixel_area

from xsurvey import calibrate, figures
from xsurvey.io import read_image, setup_logging

log = setup_logging(snakemake.log[0])
cfg = snakemake.params.calibration
bands, n_chunks = snakemake.params.bands, snakemake.params.n_chunks
stack = snakemake.wildcards.stack
results = {}
for b, band in enumerate(bands):
    chunk_files = slice(b * n_chunks, (b + 1) * n_chunks)  # inputs are band-major
    det = pd.concat([pd.read_parquet(f) for f in snakemake.input.detections[chunk_files]],
                    ignore_index=True)
    inp = pd.concat([pd.read_parquet(f) for f in snakemake.input.inputs[chunk_files]],
                    ignore_index=True)
    exposure, wcs, _ = read_image(snakemake.input.exposure[b], "exposure mosaic")
    results[band] = calibrate.calibrate_band(
        det, inp, exposure, proj_plane_pixel_area(wcs), band, snakemake.params.n_replicas,
        cfg["exposure_edges_ks"], cfg["n_intervals"], snakemake.params.floor_ks,
        levels=cfg["reliability_levels"], bright_flux=cfg["bright_flux"],
        bins_per_decade=cfg["flux_bins_per_decade"], snr_min=snakemake.params.snr_min)
    for row in results[band]["thresholds"].itertuples():
        log.info("band %s, %g-%g ks: DET_ML threshold %.2f for reliability %.2f (%d detections)",
                 band, row.exp_lo_ks, row.exp_hi_ks, row.det_ml_threshold, row.reliability,
                 row.n_detected)

tables = {name: pd.concat([r[name] for r in results.values()], ignore_index=True)
          for name in next(iter(results.values()))}
for name, path in zip(snakemake.params.tables, snakemake.output.tables, strict=True):
    calibrate.write_csv(tables[name], path)

title = f"stack {stack}"
figures.save(figures.sky_coverage_curves(tables["skycoverage"], tables["sensitivity"],
                                         title=title), snakemake.output.skycoverage)
for b, band in enumerate(bands):
    r = results[band]
    paths = {name: snakemake.output[f"figure_{name}"][b] for name in snakemake.params.figures}
    figures.save(figures.reliability_curves(r["reliability"], r["thresholds"]),
                 paths["reliability"])
    figures.save(figures.completeness_curves(r["completeness"]), paths["completeness"])
    figures.save(figures.separation_histograms(r["separations"], r["positions"]),
                 paths["positions"])
    figures.save(figures.flux_accuracy_curves(r["flux_vs_flux"], r["flux_vs_snr"]),
                 paths["fluxes"])
