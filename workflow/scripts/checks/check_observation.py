"""Rule check_observation: one observation's files checked against each other."""

import json

from xsurvey import checks
from xsurvey.instrument import load_instrument
from xsurvey.io import atomic_path
from xsurvey.provenance import start_job

log = start_job(snakemake)
summary, warnings = checks.check_observation(
    snakemake.params.row, load_instrument(snakemake.input.instrument), snakemake.params.bands)
for message in warnings:
    log.warning(message)
log.info("observation %s %s: %d events, %.0f s of good time, counts per band %s",
         summary["obs_id"], summary["module"], summary["n_events"], summary["gti_s"],
         summary["counts"])
with atomic_path(snakemake.output[0]) as tmp:
    tmp.write_text(json.dumps({**summary, "warnings": warnings}, indent=1, sort_keys=True))
