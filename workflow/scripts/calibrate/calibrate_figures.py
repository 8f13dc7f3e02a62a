"""Rule calibrate_figures: calibration figures of a stack from its calibration tables."""

import pandas as pd

from xsurvey import plotting
from xsurvey.calibrate import figures
from xsurvey.io import nested_inputs
from xsurvey.provenance import start_job
from xsurvey.tables import band_rows

log = start_job(snakemake)
title = f"stack {snakemake.wildcards.stack}"
tables = {name: pd.read_csv(path) for name, path in
          nested_inputs(snakemake.input, "tables").items()}
separations = pd.read_parquet(snakemake.input.separations)
out = snakemake.output
plotting.save(figures.sky_coverage_curves(tables["skycoverage"], tables["sensitivity"],
                                         title=title), out.skycoverage)
plotting.save(figures.merged_reliability_curves(
    pd.read_parquet(snakemake.input.merged_catalogues), title=title), out.merged)


for b, band in enumerate(snakemake.params.bands):
    paths = {name: out[f"figure_{name}"][b] for name in snakemake.params.figures}
    if not band_rows(tables["summary"], band)["n_detected"].sum() > 0:
        log.warning("band %s: the replicas have no detection above the exposure floor; its "
                    "figures are placeholders", band)
        for path in paths.values():
            plotting.save(plotting.no_data(f"{band} keV: no replica detections", title), path)
        continue
    plotting.save(figures.reliability_curves(band_rows(tables["reliability"], band),
                                             band_rows(tables["thresholds"], band)),
                  paths["reliability"])
    plotting.save(figures.completeness_curves(band_rows(tables["completeness"], band)),
                  paths["completeness"])
    plotting.save(figures.separation_histograms(band_rows(separations, band),
                                                band_rows(tables["positions"], band)),
                  paths["positions"])
    plotting.save(figures.flux_accuracy_curves(band_rows(tables["flux_vs_flux"], band),
                                               band_rows(tables["flux_vs_snr"], band)),
                  paths["fluxes"])
