"""Rule variability: per-epoch photometry, variability test and light curves."""

import sys

import numpy as np
import pandas as pd
from astropy.table import Table, vstack

from xsurvey.catalog import write_empty_products
from xsurvey.characterise import variability
from xsurvey.detect import Aperture
from xsurvey.instrument import load_instrument
from xsurvey.io import nested_inputs, read_band_mosaics
from xsurvey.provenance import start_job
from xsurvey.tables import write_csv

log = start_job(snakemake)
inst = load_instrument(snakemake.input.instrument)
cfg = snakemake.params.variability
bands, epochs, kinds = snakemake.params.bands, snakemake.params.epochs, snakemake.params.kinds
cat = Table.read(snakemake.input.catalog)
if len(cat) == 0:
    log.warning("the catalogue %s is empty: no variability", snakemake.input.catalog)
    write_empty_products(snakemake.output, cat, "empty catalogue")
    sys.exit(0)
ids = np.asarray(cat["id"])
null_files, map_files = (nested_inputs(snakemake.input, k) for k in ("null", "maps"))
tables, curves, p_thresholds = [], [], []
for band in bands:
    null = pd.read_csv(null_files[band])["p_value"].to_numpy(float)
    p_thr = variability.calibrated_p_threshold(null, cfg["p_threshold"])
    if not np.isfinite(p_thr):
        log.warning("band %s: no null p-values; the nominal p < %g flags variability", band,
                    cfg["p_threshold"])
        p_thr = cfg["p_threshold"]
    p_thresholds.append({"band": band, "false_positive_rate": cfg["p_threshold"],
                         "n_null": null.size,
                         "null_fraction_below_nominal": float(np.mean(null < cfg["p_threshold"]))
                         if null.size else np.nan, "p_threshold": p_thr})
    by_epoch, wcs = read_band_mosaics({e: {k: map_files[band][e][k] for k in kinds}
                                       for e in epochs})
    aperture = Aperture.from_instrument(inst, band)
    counts, bkg, expo = variability.epoch_photometry([by_epoch[e] for e in epochs], wcs,
                                                     cat["ra"], cat["dec"], aperture, inst.psf,
                                                     inst.deblend_radius_arcsec)
    tab = variability.variability_table(counts, bkg, expo, aperture.eef, ids=ids, band=band,
                                        p_threshold=p_thr, sys_frac=cfg["sys_frac"])
    tables.append(tab)
    curves.append(variability.light_curve_table(counts, bkg, expo, aperture.eef, ids, epochs,
                                                band))
    log.info("band %s: %d of %d sources variable (p < %.4g, calibrated for %g false positives)",
             band, int(np.sum(tab["variable"])), len(ids), p_thr, cfg["p_threshold"])
table = vstack(tables, metadata_conflicts="silent")
table.meta.pop("PTHRESH", None)  # one per band: p_thresholds.csv
table.add_column(np.tile(np.asarray(cat["name"]).astype(str), len(bands)), name="name", index=1)
lightcurves = vstack(curves)
write_csv(table.to_pandas(), snakemake.output.table)
write_csv(lightcurves.to_pandas(), snakemake.output.lightcurves)
write_csv(pd.DataFrame(p_thresholds), snakemake.output.thresholds)
