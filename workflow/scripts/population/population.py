"""Rule population: the source population's spectral table, number counts and intensities."""

from xsurvey.instrument import load_instrument
from xsurvey.population import population_from_config
from xsurvey.provenance import start_job
from xsurvey.tables import write_csv

log = start_job(snakemake)
pop = population_from_config(snakemake.params.population, load_instrument(
    snakemake.input.instrument))
pop.grid.save(snakemake.output.grid)
counts, intensity = pop.counts_table(), pop.intensity_table()
write_csv(counts, snakemake.output.counts)
write_csv(intensity, snakemake.output.intensity)
log.info("%r: %.0f sources per deg^2 drawn", pop, pop.expected_number(1.0))
for row in intensity.itertuples():
    log.info("band %s keV: intensity %.3g erg/cm2/s/deg2 (drawn sources %.3g)", row.band,
             row.intensity, row.intensity_drawn)
