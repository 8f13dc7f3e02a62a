"""Rule population_figures: number counts and intensities of the source population."""

import pandas as pd

from xsurvey import plotting
from xsurvey.population import figures
from xsurvey.provenance import start_job

log = start_job(snakemake)
plotting.save(figures.population_counts(pd.read_csv(snakemake.input.counts),
                                        pd.read_csv(snakemake.input.intensity)),
              snakemake.output.figure)
