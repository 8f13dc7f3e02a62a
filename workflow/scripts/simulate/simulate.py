"""Rule simulate: one chunk of joint replicas (all bands from one sky) of a stack."""

from xsurvey import simulate
from xsurvey.instrument import load_instrument
from xsurvey.io import atomic_path, nested_inputs
from xsurvey.population import population_from_config
from xsurvey.provenance import start_job

log = start_job(snakemake)
inst = load_instrument(snakemake.input.instrument)
stack, p = snakemake.wildcards.stack, snakemake.params
population = population_from_config(p.population, inst, grid=snakemake.input.grid)
named_maps, named_real = (nested_inputs(snakemake.input, k) for k in ("maps", "real"))
maps = {b: {k: named_maps[b][k] for k in p.kinds} for b in p.bands}
real = {b: named_real[b] for b in p.bands}
setup = simulate.setup_from_files(maps, real, inst, population, stack, p.seed, p.detection,
                                  p.bright_flux, p.truth, p.truth_share)
log.info("stack %s: replicas %d-%d, bands %s, %.1f input sources expected per replica",
         stack, p.replicas[0], p.replicas[-1], ", ".join(p.bands), setup.expected_sources)
detections, inputs = simulate.run_replicas(setup, p.replicas)
for table, path in ((detections, snakemake.output.detections), (inputs, snakemake.output.inputs)):
    with atomic_path(path) as tmp:
        table.to_parquet(tmp, index=False)
