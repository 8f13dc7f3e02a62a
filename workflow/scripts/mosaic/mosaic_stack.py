"""Rule mosaic_stack: sum the epoch mosaics of a stack."""

import json

from xsurvey import checks, mosaic
from xsurvey.io import nested_inputs, read_image, write_image
from xsurvey.provenance import start_job

log = start_job(snakemake)
kinds = snakemake.params.kinds
epochs = snakemake.params.epochs
checks.check_duplicates([json.loads(open(f).read()) for f in snakemake.input.checks],
                        f"stack {snakemake.wildcards.stack}")
map_files = nested_inputs(snakemake.input, "maps")
for kind, path in zip(kinds, snakemake.output, strict=True):
    files = [map_files[epoch][kind] for epoch in epochs]
    images = [read_image(f, f"{kind} mosaic") for f in files]
    wcs, header = images[0][1], images[0][2]
    total = mosaic.sum_maps(img for img, _, _ in images)
    unit, dtype = mosaic.MAP_KINDS[kind]
    write_image(path, total.astype(dtype), wcs, unit,
                extra={"STACK": snakemake.wildcards.stack, "XSEPOCHS": ",".join(epochs),
                       "BAND": header["BAND"], "E_MIN": header["E_MIN"],
                       "E_MAX": header["E_MAX"], "TELESCOP": header["TELESCOP"],
                       "INSTRUME": header["INSTRUME"]})
    log.info("wrote %s from %d epochs (total %.6g %s)", path, len(files), total.sum(), unit)
