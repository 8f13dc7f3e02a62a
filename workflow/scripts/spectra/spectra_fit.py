"""Rule spectra_fit: staged W-statistic fits of one chunk of the extracted spectra of a stack
(the sources ``chunk``, ``chunk + n_chunks``, ... of the extraction table)."""

from pathlib import Path

import numpy as np
import pandas as pd
from astropy.table import Table

from xsurvey import spectra
from xsurvey.instrument import band_suffix, load_instrument
from xsurvey.provenance import start_job
from xsurvey.tables import write_csv

log = start_job(snakemake)
inst = load_instrument(snakemake.input.instrument)
cfg = snakemake.params.spectra
files = Path(snakemake.input.files)
chunk, n_chunks = int(snakemake.wildcards.chunk), snakemake.params.n_chunks
extraction = pd.read_csv(snakemake.input.table).iloc[chunk::n_chunks]
cat = Table.read(snakemake.input.catalog)
redshift = dict(zip(np.asarray(cat["id"]).tolist(),
                    np.asarray(cat["redshift"], float) if "redshift" in cat.colnames
                    else np.full(len(cat), np.nan), strict=True))
band = inst.band(cfg["band"])
rmf = spectra.read_rmf(files / "response.rmf")
rows = []
for src in extraction.itertuples():
    z = redshift.get(src.id, np.nan)
    row = {"id": src.id, "name": src.name, "redshift": z, "net_counts": src.net_counts}
    if not src.net_counts >= cfg["min_net_counts"] or not src.exposure_s > 0:
        rows.append({**row, "stage": "not_fitted"})
        continue
    spectrum = spectra.load_source_spectrum(files, src.file, rmf, inst, z,
                                            cfg["group_channels"], cfg["scattered_fraction"],
                                            cfg["line_ew_kev"])
    fitter = spectrum.fitter()
    stage, fit = spectra.staged_fit(fitter, src.net_counts, cfg)
    v = fit.values
    # the observed-frame column (absorber at z = 0), which the obscuration forward model
    # inverts: measured alike for every source, whether or not it has a redshift
    log_nh_obs = v["log_nh"]
    if np.isfinite(z) and z > 0:
        log_nh_obs = spectra.staged_fit(spectrum.fitter(redshift=0.0), src.net_counts, cfg,
                                        intervals=False)[1].values["log_nh"]
    flux, _ = inst.fold([(band.e_lo_kev, band.e_hi_kev)], v["gamma"], 10.0 ** v["log_nh"],
                        spectrum.model.redshift)
    row.update(stage=stage, statistic=fit.statistic, n_channels=len(fitter.counts),
               log_norm=v["log_norm"], gamma=v["gamma"],
               gamma_lo=fit.lower.get("gamma", np.nan), gamma_hi=fit.upper.get("gamma", np.nan),
               log_nh=v["log_nh"], log_nh_lo=fit.lower["log_nh"], log_nh_hi=fit.upper["log_nh"],
               log_nh_obs=log_nh_obs,
               line_ew_kev=v.get("line_ew_kev", cfg["line_ew_kev"]),
               line_ew_kev_lo=fit.lower.get("line_ew_kev", np.nan),
               line_ew_kev_hi=fit.upper.get("line_ew_kev", np.nan),
               **{f"flux_{band_suffix(cfg['band'])}": 10.0 ** v["log_norm"] * float(flux[0])},
               **{f"log_lum_{name}": np.log10(spectra.intrinsic_luminosity(
                   v["log_norm"], v["gamma"], z, edges))
                  for name, edges in spectra.LUMINOSITY_BANDS.items()})
    rows.append(row)
    log.info("%s (%.0f net counts, z=%.3g): %s, Gamma %.2f [%.2f, %.2f], log N_H %.2f "
             "[%.2f, %.2f]", src.name, src.net_counts, z, stage, v["gamma"],
             row["gamma_lo"], row["gamma_hi"], v["log_nh"], row["log_nh_lo"],
             row["log_nh_hi"])
columns = spectra.fit_columns(band_suffix(cfg["band"]))
write_csv(pd.DataFrame(rows, columns=columns), snakemake.output[0])
