"""Rule counterparts: soft X-ray and optical/IR counterparts of the 95% catalogue."""

import sys

import numpy as np
import pandas as pd
from astropy.table import Table

from xsurvey import counterparts
from xsurvey.catalog import write_catalog, write_empty_products
from xsurvey.instrument import load_instrument
from xsurvey.provenance import start_job
from xsurvey.tables import write_csv

log = start_job(snakemake)
cfg = snakemake.params.counterparts
inst = load_instrument(snakemake.input.instrument)
cat = Table.read(snakemake.input.catalog)
if len(cat) == 0:
    log.warning("the catalogue %s is empty: no counterparts", snakemake.input.catalog)
    write_empty_products(snakemake.output, cat, "empty catalogue")
    sys.exit(0)
ancillary = [counterparts.load_ancillary(spec) for spec in cfg["catalogs"]]
res = counterparts.run_counterparts(cat, ancillary, pd.read_csv(snakemake.input.positions),
                                    inst, cfg)
out = snakemake.output
write_catalog(res["extended"], out.extended_fits, out.extended_csv)
soft = res["soft_candidates"]
write_csv(soft.to_pandas() if soft is not None else pd.DataFrame(), out.soft_candidates)
write_csv(res["candidates"].to_pandas(), out.candidates)
write_csv(res["best"].to_pandas(), out.best)
write_csv(res["summary"].to_pandas(), out.summary)
results = res["results"]
write_csv(pd.concat([Table(r.magnitudes, meta={}).to_pandas().assign(catalog=r.name)
                     for r in results]) if results else pd.DataFrame(), out.magnitudes)
write_csv(pd.concat([Table(r.curve).to_pandas().assign(catalog=r.name) for r in results])
          if results else pd.DataFrame(), out.curves)
for row in res["summary"]:
    log.info("%s", dict(zip(row.colnames, row.as_void().tolist(), strict=True)))
classes = np.asarray(res["best"]["ctp_class"]).astype(str)
log.info("identifications: %s", {c: int((classes == c).sum()) for c in np.unique(classes)})
