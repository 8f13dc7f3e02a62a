"""Rule epoch_catalog: per-epoch catalogues with the stack's thresholds."""

from pathlib import Path

import numpy as np
import pandas as pd
from astropy.coordinates import SkyCoord
from astropy.table import Table

from xsurvey import catalog
from xsurvey.instrument import load_instrument
from xsurvey.io import nested_inputs, read_band_mosaics, setup_logging
from xsurvey.tables import write_csv

log = setup_logging(snakemake.log[0])
inst = load_instrument(snakemake.input.instrument)
bands, epochs, kinds = snakemake.params.bands, snakemake.params.epochs, snakemake.params.kinds
thresholds = pd.read_csv(snakemake.input.thresholds)
reliability = pd.read_csv(snakemake.input.reliability)
stack_cat = Table.read(snakemake.input.stack_catalog)
stack_pos = SkyCoord(stack_cat["ra"], stack_cat["dec"], unit="deg")
outdir = Path(snakemake.output.catalogs)
outdir.mkdir(parents=True, exist_ok=True)
only = []
det_files, map_files = (nested_inputs(snakemake.input, k) for k in ("detections", "maps"))
for epoch in epochs:
    detections = {b: Table.read(det_files[epoch][b]) for b in bands}
    maps, wcs = read_band_mosaics({b: {k: map_files[epoch][b][k] for k in kinds} for b in bands})
    cat = catalog.make_catalog(detections, maps, wcs, thresholds, reliability, inst,
                               snakemake.params.level, snakemake.params.prefix,
                               meta={"EPOCH": epoch, "STACK": snakemake.wildcards.stack})
    catalog.write_catalog(cat, outdir / f"{epoch}.fits", outdir / f"{epoch}.csv")
    if len(cat) and len(stack_cat):
        _, sep, _ = SkyCoord(cat["ra"], cat["dec"], unit="deg").match_to_catalog_sky(stack_pos)
        new = sep.arcsec > snakemake.params.radius
    else:
        new = np.ones(len(cat), bool)
    log.info("epoch %s: %d sources above the stack thresholds, %d not in the stack catalogue",
             epoch, len(cat), int(new.sum()))
    if new.any():
        t = cat[new]
        only.append(pd.DataFrame({"epoch": epoch, "name": np.asarray(t["name"]).astype(str),
                                  "ra": np.asarray(t["ra"]), "dec": np.asarray(t["dec"]),
                                  "best_band": np.asarray(t["best_band"]).astype(str),
                                  "band_combination": np.asarray(t["band_combination"]
                                                                 ).astype(str)}))
columns = ["epoch", "name", "ra", "dec", "best_band", "band_combination"]
write_csv(pd.concat(only, ignore_index=True) if only else pd.DataFrame(columns=columns),
          snakemake.output.epoch_only)
