"""Rule catalog_regions: DS9 region files of a stack's catalogues, one circle per source."""

from astropy.table import Table

from xsurvey.detect import regions
from xsurvey.io import nested_inputs
from xsurvey.provenance import start_job

log = start_job(snakemake)
catalogs = nested_inputs(snakemake.input, "catalogs")
for level, path in zip(snakemake.params.levels, snakemake.output, strict=True):
    cat = Table.read(catalogs[str(level)])
    regions.write_regions(regions.source_regions(cat["ra"], cat["dec"],
                                                 snakemake.params.radius, True, cat["name"]),
                          path)
    log.info("%d%% catalogue: %d sources", level, len(cat))
