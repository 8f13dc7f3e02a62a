"""Rule obscuration_figures: detection fraction vs N_H and luminosity, N_H recovery of the
simulated spectra, naive and intrinsic obscured fractions."""

import numpy as np
import pandas as pd

from xsurvey import plotting
from xsurvey.obscuration import figures
from xsurvey.provenance import start_job

log = start_job(snakemake)
title = f"stack {snakemake.wildcards.stack}"
out = snakemake.output
plotting.save(figures.detection_fraction(pd.read_csv(snakemake.input.detection), title),
              out.detection_fraction)
plotting.save(figures.nh_recovery(pd.read_csv(snakemake.input.simulated),
                                  np.log10(snakemake.params.nh_thresholds), title),
              out.nh_recovery)
plotting.save(figures.obscuration_fractions(pd.read_csv(snakemake.input.fractions), title),
              out.obscuration_fractions)
