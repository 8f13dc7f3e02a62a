"""Rule catalog: 95% and 99% reliability band-merged catalogues of a stack."""

import pandas as pd
from astropy.table import Table

from xsurvey import catalog, figures
from xsurvey.calibrate import write_csv
from xsurvey.instrument import load_instrument
from xsurvey.io import read_band_mosaics, setup_logging

log = setup_logging(snakemake.log[0])
inst = load_instrument(snakemake.input.instrument)
bands, stack = snakemake.params.bands, snakemake.wildcards.stack
detections = {b: Table.read(f) for b, f in zip(bands, snakemake.input.detections, strict=True)}
maps, wcs = read_band_mosaics(snakemake.input.maps, bands, snakemake.params.kinds)
thresholds = pd.read_csv(snakemake.input.thresholds)
merged = pd.read_csv(snakemake.input.merged)
tables = {}
for k, (tag, level) in enumerate(snakemake.params.levels.items()):
    cat = catalog.make_catalog(detections, maps, wcs, thresholds, merged, inst, level,
                               snakemake.params.prefix, meta={"STACK": stack})
    n_spur = catalog.expected_spurious_in_catalog(cat, None)
    cat.meta["NSPUR"] = (round(n_spur, 3), "expected number of spurious sources")
    log.info("stack %s, %d%% reliability: %d sources, %.1f expected spurious", stack, tag,
             len(cat), n_spur)
    catalog.write_catalog(cat, snakemake.output.fits[k], snakemake.output.csv[k])
    combos = catalog.band_combination_table(cat)
    write_csv(combos, snakemake.output.combinations[k])
    tables[tag] = cat
figures.save(figures.flux_distributions(tables[min(tables)], bands, title=
                                        f"stack {stack}, {min(tables)}% reliability"),
             snakemake.output.figure)
