"""Rule catalog: 95% and 99% reliability band-merged catalogues of a stack."""

import pandas as pd
from astropy.table import Table

from xsurvey import catalog
from xsurvey.instrument import load_instrument
from xsurvey.io import nested_inputs, read_band_mosaics
from xsurvey.provenance import start_job
from xsurvey.tables import write_csv

log = start_job(snakemake)
inst = load_instrument(snakemake.input.instrument)
bands, stack = snakemake.params.bands, snakemake.wildcards.stack
det_files, map_files = (nested_inputs(snakemake.input, k) for k in ("detections", "maps"))
detections = {b: Table.read(det_files[b]) for b in bands}
maps, wcs = read_band_mosaics({b: {k: map_files[b][k] for k in snakemake.params.kinds}
                                for b in bands})
thresholds = pd.read_csv(snakemake.input.thresholds)
merged = pd.read_csv(snakemake.input.merged)
positions = pd.read_csv(snakemake.input.positions)
for k, (tag, level) in enumerate(snakemake.params.levels.items()):
    cat = catalog.make_catalog(detections, maps, wcs, thresholds, merged, inst, level,
                               snakemake.params.prefix, meta={"STACK": stack},
                               positions=positions)
    n_spur = catalog.expected_spurious_in_catalog(cat, None)
    cat.meta["NSPUR"] = (round(n_spur, 3), "expected number of spurious sources")
    log.info("stack %s, %d%% reliability: %d sources, %.1f expected spurious", stack, tag,
             len(cat), n_spur)
    catalog.write_catalog(cat, snakemake.output.fits[k], snakemake.output.csv[k])
    combos = catalog.band_combination_table(cat)
    write_csv(combos, snakemake.output.combinations[k])
