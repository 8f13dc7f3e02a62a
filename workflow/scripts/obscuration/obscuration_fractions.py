"""Rule obscuration_fractions: the survey's response matrix (measured N_H class given the
true one), the false Compton-thick rate, and the naive and intrinsic obscured and
Compton-thick fractions of the catalogue (method.md §16)."""

import numpy as np
import pandas as pd
from astropy.table import Table

from xsurvey import obscuration
from xsurvey.io import nested_inputs
from xsurvey.provenance import start_job
from xsurvey.simulate.replicas import replica_seed
from xsurvey.tables import write_csv

log = start_job(snakemake)
p = snakemake.params
log_thresholds = np.log10(p.nh_thresholds)
sample = pd.read_parquet(snakemake.input.sample)
fitted = pd.concat([pd.read_csv(f) for f in nested_inputs(snakemake.input, "chunks").values()],
                   ignore_index=True).sort_values("sample_row")
simulated = pd.concat([sample.reset_index(drop=True),
                       fitted.set_index("sample_row").reindex(range(len(sample)))
                       .reset_index(drop=True)], axis=1)
# measured outcomes: observed frame (absorber at z = 0, what the inversion uses) and rest
# frame (fitted at the true redshift, as a catalogue source with its counterpart's)
FRAMES = {"observed": ("outcome", "log_nh_fit"), "rest": ("outcome_z", "log_nh_fit_z")}
for name, column in FRAMES.values():
    simulated[name] = np.asarray(obscuration.OUTCOMES)[obscuration.measured_outcome(
        simulated["stage"], simulated[column], log_thresholds)]
simulated.loc[simulated["component"] == obscuration.SPURIOUS, "outcome_z"] = ""
simulated["component"] = np.asarray(obscuration.COMPONENTS)[simulated["component"]]
write_csv(simulated, snakemake.output.simulated)

component = simulated["component"].map(obscuration.COMPONENTS.index).to_numpy()
subsets = {"all": np.ones(len(simulated), bool)}
for column, split in obscuration.RESPONSE_SPLITS.items():
    values, name = simulated[column].to_numpy(float), "z" if column == "redshift" else column
    subsets |= {f"{name}<{split:g}": values < split, f"{name}>={split:g}": values >= split}
frames, matrices = [], {}
for frame, (name, _) in FRAMES.items():
    fitted_frame = (simulated[name] != "").to_numpy()    # spurious sources: no rest frame
    outcome = simulated[name].where(fitted_frame, obscuration.OUTCOMES[0]).map(
        obscuration.OUTCOMES.index).to_numpy()
    matrices[frame] = obscuration.response_counts(component[fitted_frame],
                                                  outcome[fitted_frame])
    frames.append(obscuration.response_table(
        component, outcome, {k: v & fitted_frame for k, v in subsets.items()}).assign(
        frame=frame))
response = pd.concat(frames, ignore_index=True)[["frame", "subset", "true_class", "measured",
                                                 "n", "probability"]]
keep = (response["true_class"] != "spurious") | (
    (response["subset"] == "all") & (response["frame"] == "observed"))
write_csv(response[keep], snakemake.output.response)
matrix = matrices["observed"]

classes = pd.read_csv(snakemake.input.detection).query("quantity == 'nh_class'")
detected, simulated_n = classes["n_detected"].to_numpy(), classes["n_input"].to_numpy()
fits = pd.read_csv(snakemake.input.fits)
# the forward model's outcome is the observed-frame column; the naive fractions take the
# columns at the counterparts' redshifts where known
observed = np.bincount(obscuration.measured_outcome(fits["stage"], fits["log_nh_obs"],
                                                    log_thresholds),
                       minlength=len(obscuration.OUTCOMES))
naive_outcome = obscuration.measured_outcome(fits["stage"], fits["log_nh"], log_thresholds)
catalog = Table.read(snakemake.input.catalog)
spurious_fraction = float(np.sum(catalog["p_spurious"])) / len(catalog) if len(catalog) else 0.0
rng = np.random.default_rng(replica_seed(p.seed, snakemake.wildcards.stack, 1, "obscuration"))
# every class must be in the replicas' population and among the fitted simulated sources
n_classes = len(obscuration.NH_CLASSES)
absent = [c for c, n, m in zip(obscuration.NH_CLASSES, simulated_n,
                               matrix[:n_classes].sum(axis=1), strict=True)
          if not (n > 0 and m > 0)]
if absent:
    log.warning("no %s source among the fitted simulated spectra (none in the replicas' "
                "population, e.g. population.mode: paper, or no simulated spectrum): no "
                "intrinsic fractions", " or ".join(absent))
    posterior = None
else:
    posterior = obscuration.FractionPosterior(observed, detected, simulated_n, matrix,
                                              spurious_fraction, rng, draws=p.draws)
log_nh = p.log_nh
rows = []
for quantity, threshold in zip(("obscured", "compton_thick"), p.nh_thresholds, strict=True):
    population = (obscuration.population_fraction(log_nh["edges"], log_nh["fractions"],
                                                  np.log10(threshold))
                  if log_nh else 0.0)
    rows.append({"quantity": quantity, "nh_threshold": float(threshold),
                 "n_sources": int(observed.sum()),
                 **obscuration.naive_fraction(naive_outcome, quantity),
                 **(posterior.summary(quantity) if posterior else
                    dict.fromkeys(obscuration.SUMMARY_COLUMNS, np.nan)),
                 "population": population})
fractions = pd.DataFrame(rows)
write_csv(fractions, snakemake.output.fractions)
for r in fractions.itertuples():
    log.info("%s fraction: naive %.3f [%.3f, %.3f], intrinsic %.3f [%.3f, %.3f] (68%%), "
             "population model %.3f", r.quantity, r.naive, r.naive_lo, r.naive_hi,
             r.intrinsic, r.intrinsic_lo, r.intrinsic_hi, r.population)

# where the sources fitted as Compton thick come from, in the replicas' population
obscured, thick = fractions["population"].to_numpy()
population = [1.0 - obscured, obscured - thick, thick]
# the seed's question: of the sources fitted as Compton thick at their redshift, which are
# Compton thick? (real sources only: a spurious source has no redshift of its own)
origin = obscuration.class_given_outcome(matrices["rest"], detected, simulated_n, population,
                                         0.0, "compton_thick")
origin_obs = obscuration.class_given_outcome(matrix, detected, simulated_n, population,
                                             spurious_fraction, "compton_thick")
summary = [
    *({"quantity": f"detection_fraction_{c}", "value": d / max(n, 1),
       "description": f"fraction of the replicas' {c} sources in the catalogue"}
      for c, d, n in zip(obscuration.NH_CLASSES, detected, simulated_n, strict=True)),
    *({"quantity": f"fitted_ct_from_{c}", "value": v,
       "description": f"fraction of the sources fitted as Compton thick at their redshift "
                      f"that are {c}"}
      for c, v in origin.items() if c != "spurious"),
    {"quantity": "false_ct_rate", "value": 1.0 - origin["compton_thick"],
     "description": "fraction of the sources fitted as Compton thick at their redshift that "
                    "are not"},
    {"quantity": "false_ct_rate_observed_frame", "value": 1.0 - origin_obs["compton_thick"],
     "description": "fraction of the catalogue sources fitted as Compton thick at z = 0 that "
                    "are not (spurious sources included)"},
    {"quantity": "spurious_fraction", "value": spurious_fraction,
     "description": "expected spurious fraction of the catalogue (NSPUR / N)"},
    {"quantity": "n_simulated_spectra", "value": len(simulated),
     "description": "simulated spectra fitted"}]
write_csv(pd.DataFrame(summary), snakemake.output.summary)
log.info("sources fitted as Compton thick at their redshift: %s; false Compton-thick rate "
         "%.2f (observed frame %.2f)",
         ", ".join(f"{k} {v:.2f}" for k, v in origin.items() if k != "spurious"),
         1.0 - origin["compton_thick"], 1.0 - origin_obs["compton_thick"])
