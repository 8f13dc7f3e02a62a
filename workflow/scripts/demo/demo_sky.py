"""Rule demo_sky: the demo's true sources and its ancillary catalogues."""

from astropy.table import Table

from xsurvey import demo
from xsurvey.instrument import load_instrument
from xsurvey.io import write_table
from xsurvey.population import population_from_config
from xsurvey.provenance import start_job

log = start_job(snakemake)
inst = load_instrument(snakemake.input.instrument)
cfg = snakemake.params.demo
population = population_from_config(snakemake.params.population, inst,
                                    grid=snakemake.input.grid)
truth = demo.make_demo_sky(inst, cfg, population)
log.info("demo sky: %d sources, %d variable", len(truth), int(truth["variable"].sum()))
softx, softx_truth, optical, optical_truth = demo.make_ancillary_catalogs(inst, truth, cfg)
log.info("soft X-ray catalogue: %d sources; optical catalogue: %d objects",
         len(softx), len(optical))
out = snakemake.output
for table, path in ((truth, out.truth), (softx, out.softx), (softx_truth, out.softx_truth),
                    (optical, out.optical), (optical_truth, out.optical_truth)):
    write_table(Table(table), path)
