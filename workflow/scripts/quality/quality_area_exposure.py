"""Rule quality_area_exposure: cumulative area versus exposure per band."""

import numpy as np
from astropy.table import Table, vstack
from astropy.wcs.utils import proj_plane_pixel_area

from xsurvey import plotting
from xsurvey.io import nested_inputs, read_image, write_table
from xsurvey.provenance import start_job
from xsurvey.quality import cumulative_area, figures

log = start_job(snakemake)
tables = []
files = nested_inputs(snakemake.input, "exposure")
for band in snakemake.params.bands:
    expo, wcs, _ = read_image(files[band], "exposure mosaic")
    t, area = cumulative_area(expo, proj_plane_pixel_area(wcs))
    tables.append(Table({"band": np.full(t.size, band), "exposure_ks": t / 1e3,
                         "area_deg2": area}))
    log.info("band %s: total area %.4f deg2, max exposure %.0f ks", band, area[0], t[-1] / 1e3)
table = vstack(tables)
table["exposure_ks"].unit = "ks"
table["area_deg2"].unit = "deg2"
write_table(table, snakemake.output.table)
plotting.save(figures.area_vs_exposure(table, snakemake.params.bands,
                                      f"stack {snakemake.wildcards.stack}"),
             snakemake.output.figure)
