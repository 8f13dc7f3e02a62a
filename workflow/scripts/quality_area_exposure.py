"""Rule quality_area_exposure: cumulative area versus exposure per band."""

import numpy as np
from astropy.table import Table, vstack
from astropy.wcs.utils import proj_plane_pixel_area

from xsurvey import figures, mosaic
from xsurvey.io import read_image, setup_logging, write_table

log = setup_logging(snakemake.log[0])
tables = []
for band, path in zip(snakemake.params.bands, snakemake.input, strict=True):
    expo, wcs, _ = read_image(path, "exposure mosaic")
    t, area = mosaic.cumulative_area(expo, proj_plane_pixel_area(wcs))
    tables.append(Table({"band": np.full(t.size, band), "exposure_ks": t / 1e3,
                         "area_deg2": area}))
    log.info("band %s: total area %.4f deg2, max exposure %.0f ks", band, area[0], t[-1] / 1e3)
table = vstack(tables)
table["exposure_ks"].unit = "ks"
table["area_deg2"].unit = "deg2"
write_table(table, snakemake.output.table)
figures.save(figures.area_vs_exposure(table, snakemake.params.bands,
                                      f"stack {snakemake.wildcards.stack}"),
             snakemake.output.figure)
