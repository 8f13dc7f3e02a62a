"""Rule epoch_catalog: per-epoch catalogues with the stack's thresholds."""

from pathlib import Path

import pandas as pd
from astropy.table import Table

from xsurvey import catalog
from xsurvey.instrument import load_instrument
from xsurvey.io import nested_inputs, read_band_mosaics
from xsurvey.provenance import start_job
from xsurvey.tables import write_csv

log = start_job(snakemake)
inst = load_instrument(snakemake.input.instrument)
bands, epochs, kinds = snakemake.params.bands, snakemake.params.epochs, snakemake.params.kinds
thresholds = pd.read_csv(snakemake.input.thresholds)
reliability = pd.read_csv(snakemake.input.reliability)
stack_cat = Table.read(snakemake.input.stack_catalog)
positions = pd.read_csv(snakemake.input.positions)
outdir = Path(snakemake.output.catalogs)
outdir.mkdir(parents=True, exist_ok=True)
only = []
det_files, map_files = (nested_inputs(snakemake.input, k) for k in ("detections", "maps"))
for epoch in epochs:
    detections = {b: Table.read(det_files[epoch][b]) for b in bands}
    maps, wcs = read_band_mosaics({b: {k: map_files[epoch][b][k] for k in kinds} for b in bands})
    cat = catalog.make_catalog(detections, maps, wcs, thresholds, reliability, inst,
                               snakemake.params.level, snakemake.params.prefix,
                               meta={"EPOCH": epoch, "STACK": snakemake.wildcards.stack},
                               positions=positions)
    catalog.write_catalog(cat, outdir / f"{epoch}.fits", outdir / f"{epoch}.csv")
    new = catalog.epoch_only_sources(cat, stack_cat, snakemake.params.radius, epoch)
    log.info("epoch %s: %d sources above the stack thresholds, %d not in the stack catalogue",
             epoch, len(cat), len(new))
    if len(new):
        only.append(new)
write_csv(pd.concat(only, ignore_index=True) if only
          else pd.DataFrame(columns=catalog.EPOCH_ONLY_COLUMNS), snakemake.output.epoch_only)
