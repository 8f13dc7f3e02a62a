"""Rule quality_bgcheck: statistics of (Data - Bgd)/Bgd over the stack's observations."""

from astropy.table import Table, vstack

from xsurvey import plotting
from xsurvey.io import nested_inputs, write_table
from xsurvey.provenance import start_job
from xsurvey.quality import bgcheck as bg
from xsurvey.quality import figures

log = start_job(snakemake)
bands = snakemake.params.bands
files = nested_inputs(snakemake.input, "bgcheck")
tables = []
for epoch in snakemake.params.epochs:
    for band in bands:
        t = Table.read(files[epoch][band], format="ascii.csv")
        t["band"] = band
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
plotting.save(figures.background_residual_histograms(allc, bands, stats), snakemake.output.figure)
