"""Rule truth_check: demo catalogue sources against the true input list (the replicas' rule)."""

import numpy as np
import pandas as pd
from astropy.table import Table

from xsurvey import catalog
from xsurvey.instrument import load_instrument
from xsurvey.io import nested_inputs, read_image
from xsurvey.provenance import start_job
from xsurvey.tables import write_csv

log = start_job(snakemake)
inst = load_instrument(snakemake.input.instrument)
bands, p = snakemake.params.bands, snakemake.params
det_files, cat_files = (nested_inputs(snakemake.input, k) for k in ("detections", "catalogs"))
detections = {b: Table.read(det_files[b]) for b in bands}
_, wcs, _ = read_image(snakemake.input.exposure, "exposure mosaic")
truth = Table.read(snakemake.input.truth)
mu = catalog.stack_expected_counts([Table.read(f) for f in snakemake.input.sources], truth,
                                   bands)
rows = []
for (tag, level), out in zip(p.levels.items(), snakemake.output.sources, strict=True):
    cat = Table.read(cat_files[str(tag)])
    match = catalog.truth_match(cat, detections, truth, wcs, inst.match_radius_arcsec, mu,
                                inst.psf, inst.aperture_radius_arcsec, p.truth, p.truth_share)
    per_source = pd.DataFrame({"name": np.asarray(cat["name"]).astype(str),
                               "best_band": np.asarray(cat["best_band"]).astype(str),
                               "p_spurious": np.asarray(cat["p_spurious"]), **match})
    write_csv(per_source, out)
    n, n_true = len(cat), int(match["matched"].sum())
    expected = float(np.nansum(cat["p_spurious"]))
    n_spur = n - n_true
    p_value = catalog.poisson_two_sided(n_spur, expected)
    rows.append({"reliability": level, "n_sources": n, "n_matched": n_true,
                 "n_spurious": n_spur, "expected_spurious": expected, "poisson_p": p_value,
                 "truth_rule": p.truth})
    log.info("%d%% catalogue: %d sources, %d spurious by the '%s' rule (expected %.1f, "
             "Poisson p = %.2f)", tag, n, n_spur, p.truth, expected, p_value)
write_csv(pd.DataFrame(rows), snakemake.output.summary)
