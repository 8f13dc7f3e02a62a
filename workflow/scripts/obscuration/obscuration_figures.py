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
detection = pd.read_csv(snakemake.input.detection)
simulated = pd.read_csv(snakemake.input.simulated)
fractions = pd.read_csv(snakemake.input.fractions)
fitted = (simulated["component"] != "spurious") & (simulated["stage"] != "not_fitted")
plotting.save(figures.detection_fraction(detection, title)
              if (detection["n_detected"] > 0).any()
              else plotting.no_data("no replica source in the catalogue", title),
              out.detection_fraction)
plotting.save(figures.nh_recovery(simulated, np.log10(snakemake.params.nh_thresholds), title)
              if fitted.any() else plotting.no_data("no simulated spectrum fitted", title),
              out.nh_recovery)
plotting.save(figures.obscuration_fractions(fractions, title)
              if (fractions["n_fitted"] > 0).any()
              else plotting.no_data("no fitted catalogue source", title),
              out.obscuration_fractions)
