"""Rule hardness: Bayesian hardness ratios, N_H tracks and obscured fractions."""

import sys

import numpy as np
from astropy.table import Table

from xsurvey import plotting
from xsurvey.catalog import write_empty_products
from xsurvey.characterise import figures, hardness
from xsurvey.instrument import band_suffix, load_instrument
from xsurvey.provenance import start_job
from xsurvey.tables import write_csv

log = start_job(snakemake)
inst = load_instrument(snakemake.input.instrument)
cfg = snakemake.params.spectral
soft, hard = cfg["soft_band"], cfg["hard_band"]
cat = Table.read(snakemake.input.catalog)
if len(cat) == 0:
    log.warning("the catalogue %s is empty: no hardness ratios", snakemake.input.catalog)
    write_empty_products(snakemake.output, cat, "empty catalogue")
    sys.exit(0)
hr = hardness.hardness_table(cat, soft, hard, eef=inst.eef_aperture)
hr.add_column(np.asarray(cat["name"]).astype(str), name="name", index=1)
redshift = (np.asarray(cat["redshift"], float) if "redshift" in cat.colnames
            else np.full(len(cat), np.nan))
z_default = float(np.nanmedian(redshift)) if np.isfinite(redshift).any() else \
    cfg["default_redshift"]
hr["nh_z"] = hardness.nh_from_hr(inst, soft, hard, np.asarray(hr["hr"]),
                                 np.where(np.isfinite(redshift), redshift, z_default),
                                 outside="nan")
write_csv(hr.to_pandas(), snakemake.output.table)
tracks = hardness.hr_tracks_table(inst, soft, hard, z_values=cfg["track_redshifts"])
write_csv(tracks, snakemake.output.tracks)
fractions = hardness.obscured_fractions(hr, redshift, inst, soft, hard, cfg["nh_thresholds"],
                                        default_redshift=z_default)
write_csv(fractions, snakemake.output.fractions)
for row in fractions.itertuples():
    log.info("N_H > %.0e: fraction %.2f (lower) %.2f (best) %.2f (upper) of %d sources",
             row.nh_threshold, row.frac_lower, row.frac_best, row.frac_upper, row.n_sources)
levels = tracks[np.isin(np.round(np.log10(tracks["nh"]), 3), [22.0, 23.0, 24.0])
                & np.isin(tracks["z"], [0.0, z_default])]
flux = np.asarray(cat[f"flux_{band_suffix(hard)}"], float)
plotting.save(figures.hardness_ratios(hr, flux, levels, xlabel=f"{hard} keV flux "
                                     "[erg cm$^{-2}$ s$^{-1}$]", title=f"HR = (H - S)/(H + S), "
                                     f"S = {soft}, H = {hard} keV"), snakemake.output.figure)
plotting.save(figures.hardness_vs_redshift(hr, np.where(np.isfinite(redshift), redshift,
                                                       z_default), tracks),
             snakemake.output.figure_z)
