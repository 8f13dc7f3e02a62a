"""Rule variability_figures: light curves of the sources most likely to vary."""

import numpy as np
from astropy.table import Table

from xsurvey import plotting
from xsurvey.characterise import figures
from xsurvey.provenance import start_job
from xsurvey.tables import read_csv_table

log = start_job(snakemake)
p, out = snakemake.params, snakemake.output
title = f"stack {snakemake.wildcards.stack}"
if len(Table.read(snakemake.input.catalog)) == 0:
    log.warning("the catalogue %s is empty: no light curves", snakemake.input.catalog)
    plotting.save(plotting.no_data("empty catalogue", title), out.figure)
else:
    table = read_csv_table(snakemake.input.table)
    first = table[table["band"].astype(str) == p.band]
    show = np.asarray(first["id"])[np.argsort(first["p_value"])][: p.n_light_curves]
    plotting.save(figures.light_curves(read_csv_table(snakemake.input.lightcurves), show,
                                       variability=table, band=p.band, epochs=p.epochs,
                                       title=title), out.figure)
