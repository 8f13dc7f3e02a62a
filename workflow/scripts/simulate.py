"""Rule simulate: one chunk of replicas of a stack and band."""

from astropy.table import Table

from xsurvey import simulate
from xsurvey.config import detection_parameters
from xsurvey.instrument import load_instrument
from xsurvey.io import atomic_path, read_mosaics, setup_logging
from xsurvey.mosaic import MAP_KINDS
from xsurvey.sky import counts_model_from_config

log = setup_logging(snakemake.log[0])
inst = load_instrument(snakemake.input.instrument)
band, stack = snakemake.wildcards.band, snakemake.wildcards.stack
maps, wcs = read_mosaics(dict(zip(MAP_KINDS, snakemake.input.maps, strict=True)))
setup = simulate.make_setup(
    maps["counts"], maps["exposure"], maps["background"], maps["background_nofcxb"], wcs, inst,
    band, counts_model_from_config(snakemake.params.lognlogs), snakemake.params.seed, stack,
    detection_parameters(snakemake.params.detection), Table.read(snakemake.input.real),
    snakemake.params.bright_flux)
replicas = snakemake.params.replicas
log.info("stack %s band %s: replicas %d-%d, %.1f input sources expected per replica",
         stack, band, replicas[0], replicas[-1], setup.expected_sources)
detections, inputs = simulate.run_replicas(setup, replicas)
for table, path in ((detections, snakemake.output.detections), (inputs, snakemake.output.inputs)):
    with atomic_path(path) as tmp:
        table.to_parquet(tmp, index=False)
