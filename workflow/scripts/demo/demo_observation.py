"""Rule demo_observation: simulate one observation and module of the demo survey."""

from astropy.table import Table

from xsurvey import demo
from xsurvey.instrument import load_instrument
from xsurvey.io import write_table
from xsurvey.provenance import start_job

log = start_job(snakemake)
inst = load_instrument(snakemake.input.instrument)
row = snakemake.params.row
truth = Table.read(snakemake.input.truth)
result = demo.simulate_observation(inst, truth, row, snakemake.params.demo)
bands = snakemake.params.bands
demo.write_observation(
    result,
    snakemake.output.events,
    dict(zip(bands, snakemake.output.exposure, strict=True)),
    dict(zip(bands, snakemake.output.background, strict=True)),
)
write_table(result.sources, snakemake.output.sources)
log.info("obs %s %s (epoch %s): %d events", row["obs_id"], row["module"], row["epoch"],
         len(result["events"]) if "events" in result else -1)
