"""Rule quality_bgcheck: statistics of (Data - Bgd)/Bgd over the stack's observations."""

from astropy.table import Table, vstack

from xsurvey import background as bg
from xsurvey import figures
from xsurvey.io import setup_logging, write_table

log = setup_logging(snakemake.log[0])
bands = snakemake.params.bands
n_bands = len(bands)
tables = []
for k, path in enumerate(snakemake.input):  # ordered epoch-major, band-minor
    t = Table.read(path, format="ascii.csv")
    t["band"] = bands[k % n_bands]
    tables.append(t)
allc = vstack(tables)
allc["residual"] = bg.background_residuals(allc["data"], allc["bkg"])
stats = {b: bg.residual_statistics(allc["residual"][allc["band"] == b]) for b in bands}
names = ("n", "mean", "std", "clipped_mean", "clipped_std")
rows = [(b, *(s[k] for k in names)) for b, s in stats.items()]
for r in rows:
    log.info("band %s: %d circles, mean %+.4f, std %.4f, clipped mean %+.4f, clipped std %.4f",
             *r)
write_table(Table(rows=rows, names=("band", "n_circles", *names[1:])), snakemake.output.table)
figures.save(figures.background_residual_histograms(allc, bands, stats), snakemake.output.figure)
