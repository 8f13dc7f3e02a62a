"""Rule catalog_figures: flux distributions of a stack's catalogue sources."""

from astropy.table import Table

from xsurvey import plotting
from xsurvey.catalog import figures
from xsurvey.provenance import start_job

log = start_job(snakemake)
level, stack = snakemake.params.level, snakemake.wildcards.stack
cat = Table.read(snakemake.input.catalog)
log.info("stack %s, %d%% reliability catalogue: %d sources", stack, level, len(cat))
plotting.save(figures.flux_distributions(cat, snakemake.params.bands,
                                         title=f"stack {stack}, {level}% reliability"),
              snakemake.output.figure)
