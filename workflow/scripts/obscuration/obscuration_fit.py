"""Rule obscuration_fit: staged fits (best fit only) of one chunk of the simulated spectra
(the rows ``chunk``, ``chunk + n_chunks``, ... of the sample)."""

import numpy as np
import pandas as pd

from xsurvey import obscuration
from xsurvey.instrument import load_instrument
from xsurvey.provenance import start_job
from xsurvey.tables import write_csv

log = start_job(snakemake)
p = snakemake.params
inst = load_instrument(snakemake.input.instrument)
chunk, n_chunks = int(snakemake.wildcards.chunk), p.n_chunks
sample = pd.read_parquet(snakemake.input.sample)
arrays = np.load(snakemake.input.spectra)
background = obscuration.BackgroundModel(arrays["background_rate_per_s"],
                                         float(arrays["alpha"]))
setup = obscuration.spectral_setup(inst, snakemake.input.files, p.band, p.bands)
rows = []
for i in range(chunk, len(sample), n_chunks):
    row = next(sample.iloc[[i]].itertuples())
    rows.append({"sample_row": i, **obscuration.fit_mock(
        row, arrays["counts"][i], arrays["background"][i], setup, background, p.fit)})
    if len(rows) % 25 == 0:
        log.info("%d simulated spectra fitted", len(rows))
write_csv(pd.DataFrame(rows, columns=["sample_row", *obscuration.FIT_COLUMNS]),
          snakemake.output[0])
log.info("chunk %d: %d simulated spectra fitted", chunk, len(rows))
