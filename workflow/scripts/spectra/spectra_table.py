"""Rule spectra_table: the spectral fits of a stack's chunks in one table, in catalogue
order."""

import pandas as pd

from xsurvey import spectra
from xsurvey.instrument import band_suffix
from xsurvey.io import nested_inputs
from xsurvey.provenance import start_job
from xsurvey.tables import write_csv

log = start_job(snakemake)
order = pd.read_csv(snakemake.input.table)["id"]
chunks = nested_inputs(snakemake.input, "chunks")
fits = pd.concat([pd.read_csv(chunks[str(k)]) for k in range(len(chunks))], ignore_index=True)
fits = fits.set_index("id").loc[order].reset_index()
write_csv(fits[spectra.fit_columns(band_suffix(snakemake.params.band))],
          snakemake.output[0])
log.info("%d sources, %d fitted (%s)", len(fits), int((fits["stage"] != "not_fitted").sum()),
         fits["stage"].value_counts().to_dict())
