"""Rule instrument_bands: write results/instrument/bands.csv."""

from astropy.table import Table

from xsurvey.instrument import load_instrument
from xsurvey.io import write_table
from xsurvey.provenance import start_job

log = start_job(snakemake)
inst = load_instrument(snakemake.input.instrument)
rows = []
for name in snakemake.params.bands:
    b = inst.band(name)
    rows.append((name, b.e_lo_kev, b.e_hi_kev, inst.cf(name), inst.eef_aperture))
    log.info("band %s: CF = %.4g erg/cm2 per count, EEF(%g\") = %.3f", name, inst.cf(name),
             inst.aperture_radius_arcsec, inst.eef_aperture)
tab = Table(rows=rows, names=("band", "e_lo_kev", "e_hi_kev", "cf", "eef_aperture"))
write_table(tab, snakemake.output[0])
