"""Rule spectra_figures: the spectra of the brightest fitted sources with their best fits."""

from pathlib import Path

import numpy as np
import pandas as pd

from xsurvey import plotting, spectra
from xsurvey.instrument import load_instrument
from xsurvey.provenance import start_job
from xsurvey.spectra import figures

log = start_job(snakemake)
inst = load_instrument(snakemake.input.instrument)
cfg, p = snakemake.params.spectra, snakemake.params
files = Path(snakemake.input.files)
fits = pd.read_csv(snakemake.input.fits)
stems = pd.read_csv(snakemake.input.table).set_index("id")["file"]
fitted = fits[fits["stage"] != "not_fitted"].sort_values("net_counts", ascending=False)
rmf = spectra.read_rmf(files / "response.rmf")
panels = []
for row in fitted.head(p.n_sources).itertuples():
    spectrum = spectra.load_source_spectrum(files, stems[row.id], rmf, inst, row.redshift,
                                            cfg["group_channels"], cfg["scattered_fraction"],
                                            row.line_ew_kev)
    z = f", z = {row.redshift:.2f}" if np.isfinite(row.redshift) else ""
    panels.append({"spectrum": spectrum,
                   "values": {"log_norm": row.log_norm, "gamma": row.gamma,
                              "log_nh": row.log_nh},
                   "label": f"{row.name}: {row.net_counts:.0f} net counts{z}\n"
                            f"Γ = {row.gamma:.2f}, log N_H = {row.log_nh:.2f}"})
title = f"stack {snakemake.wildcards.stack}"
plotting.save(figures.spectra_with_fits(panels, title=title) if panels
              else plotting.no_data("no fitted spectrum", title), snakemake.output[0])
log.info("%d spectra drawn", len(panels))
