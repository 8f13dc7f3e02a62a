"""Rule counterparts_figures: magnitude distributions, LR reliability and completeness, the
X/O plane and the soft against converted hard flux, from the counterpart tables."""

import numpy as np
import pandas as pd
from astropy.table import Table

from xsurvey import plotting
from xsurvey.counterparts import figures
from xsurvey.instrument import band_suffix
from xsurvey.provenance import start_job
from xsurvey.tables import band_rows, read_csv_table

log = start_job(snakemake)
out, p = snakemake.output, snakemake.params
title = f"stack {snakemake.wildcards.stack}"
extended = Table.read(snakemake.input.extended)
if len(extended) == 0:
    log.warning("the catalogue is empty: the counterpart figures are placeholders")
    for path in (out.figure_qm, out.figure_rc, out.figure_xo, out.figure_hs):
        plotting.save(plotting.no_data("empty catalogue", title), path)
else:
    first = pd.read_csv(snakemake.input.summary).iloc[0]  # the highest-priority catalogue
    magnitudes = read_csv_table(snakemake.input.magnitudes)
    magnitudes = magnitudes[magnitudes["catalog"] == first["catalog"]]
    magnitudes.meta.update(CATALOG=first["catalog"], Q=first["q_total"],
                           AREA_ANN=first["area_annulus_arcsec2"])
    curve = read_csv_table(snakemake.input.curves)
    plotting.save(figures.counterpart_magnitude_distributions(magnitudes), out.figure_qm)
    plotting.save(figures.lr_reliability_completeness(
        curve[curve["catalog"] == first["catalog"]], first["lr_threshold"]), out.figure_rc)
    flux = np.asarray(extended[f"flux_{band_suffix(p.hard_band)}"], float)
    plotting.save(figures.xray_optical_plane(
        flux, np.asarray(extended["ctp_mag"], float), p.xo_constant,
        classes=np.asarray(extended["ctp_class"]).astype(str)), out.figure_xo)
    if "SOFTCONV" not in extended.meta:
        plotting.save(plotting.no_data("no soft X-ray catalogue configured"), out.figure_hs)
    else:
        replicas = band_rows(pd.read_csv(snakemake.input.fluxes), p.hard_band)
        replicas["x"] *= extended.meta["SOFTCONV"]
        plotting.save(figures.hard_soft_flux_comparison(
            np.asarray(extended["soft_flux_pred"], float),
            np.asarray(extended["soft_flux"], float), replicas,
            x_label=f"{p.hard_band} keV flux converted to the soft band",
            y_label="Soft X-ray flux", title=title), out.figure_hs)
