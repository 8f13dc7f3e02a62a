"""Rule simulate: one chunk of replicas of a stack and band."""

from xsurvey import simulate
from xsurvey.instrument import load_instrument
from xsurvey.io import atomic_path, setup_logging
from xsurvey.mosaic import MAP_KINDS

log = setup_logging(snakemake.log[0])
band, stack = snakemake.wildcards.band, snakemake.wildcards.stack
setup = simulate.setup_from_files(
    dict(zip(MAP_KINDS, snakemake.input.maps, strict=True)), snakemake.input.real,
    load_instrument(snakemake.input.instrument), band, stack, snakemake.params.seed,
    snakemake.params.lognlogs, snakemake.params.detection, snakemake.params.bright_flux)
replicas = snakemake.params.replicas
log.info("stack %s band %s: replicas %d-%d, %.1f input sources expected per replica",
         stack, band, replicas[0], replicas[-1], setup.expected_sources)
detections, inputs = simulate.run_replicas(setup, replicas)
for table, path in ((detections, snakemake.output.detections), (inputs, snakemake.output.inputs)):
    with atomic_path(path) as tmp:
        table.to_parquet(tmp, index=False)
