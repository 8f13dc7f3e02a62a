"""Rule counterparts: soft X-ray and optical/IR counterparts of the 95% catalogue."""

import sys

import numpy as np
import pandas as pd
from astropy.table import Table, vstack

from xsurvey import counterparts, plotting
from xsurvey.catalog import write_catalog, write_empty_products
from xsurvey.counterparts import figures
from xsurvey.instrument import band_suffix, load_instrument
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
write_csv(vstack([Table(r.magnitudes, meta={}) for r in results]).to_pandas()
          if results else pd.DataFrame(), out.magnitudes)
write_csv(pd.concat([Table(r.curve).to_pandas() for r in results]) if results else pd.DataFrame(),
          out.curves)
for row in res["summary"]:
    log.info("%s", dict(zip(row.colnames, row.as_void().tolist(), strict=True)))
classes = np.asarray(res["best"]["ctp_class"]).astype(str)
log.info("identifications: %s", {c: int((classes == c).sum()) for c in np.unique(classes)})
first = results[0]
plotting.save(figures.counterpart_magnitude_distributions(first.magnitudes), out.figure_qm)
plotting.save(figures.lr_reliability_completeness(first.curve, first.lr_threshold),
             out.figure_rc)
flux = np.asarray(cat[f"flux_{band_suffix(cfg['hard_band'])}"], float)
plotting.save(figures.xray_optical_plane(flux, np.asarray(res["best"]["ctp_mag"], float),
                                        cfg["xo_constant"], classes=classes), out.figure_xo)
replicas = pd.read_csv(snakemake.input.fluxes)
replicas = replicas[replicas["band"].astype(str) == cfg["hard_band"]].copy()
if res["soft_primary"] is None:
    plotting.save(plotting.no_data("no soft X-ray catalogue configured"), out.figure_hs)
else:
    prim = res["soft_primary"]
    replicas["x"] *= res["flux_conversion"]
    plotting.save(figures.hard_soft_flux_comparison(
        prim["soft_flux_pred"], prim["soft_flux"], replicas,
        x_label=f"{cfg['hard_band']} keV flux converted to the soft band",
        y_label="Soft X-ray flux", title=f"stack {snakemake.wildcards.stack}"), out.figure_hs)
