"""Rule truth_check: demo catalogue sources against the true input list."""

import numpy as np
import pandas as pd
from astropy.table import Table
from scipy import stats

from xsurvey import catalog
from xsurvey.calibrate import write_csv
from xsurvey.io import read_image, setup_logging

log = setup_logging(snakemake.log[0])
bands = snakemake.params.bands
detections = {b: Table.read(f) for b, f in zip(bands, snakemake.input.detections, strict=True)}
_, wcs, _ = read_image(snakemake.input.exposure, "exposure mosaic")
truth = Table.read(snakemake.input.truth)
rows = []
for (tag, level), cat_file, out in zip(snakemake.params.levels.items(), snakemake.input.catalogs,
                                       snakemake.output.sources, strict=True):
    cat = Table.read(cat_file)
    match = catalog.truth_match(cat, detections, truth, wcs, snakemake.params.radius)
    per_source = pd.DataFrame({"name": np.asarray(cat["name"]).astype(str),
                               "best_band": np.asarray(cat["best_band"]).astype(str),
                               "p_spurious": np.asarray(cat["p_spurious"]), **match})
    write_csv(per_source, out)
    n, n_true = len(cat), int(match["matched"].sum())
    expected = float(np.nansum(cat["p_spurious"]))
    n_spur = n - n_true
    # two-sided Poisson probability of a count at least as far from the expectation
    p = float(min(1.0, 2 * min(stats.poisson.cdf(n_spur, expected),
                               stats.poisson.sf(n_spur - 1, expected))))
    rows.append({"reliability": level, "n_sources": n, "n_matched": n_true,
                 "n_spurious": n_spur, "expected_spurious": expected, "poisson_p": p})
    log.info("%d%% catalogue: %d sources, %d spurious (expected %.1f, Poisson p = %.2f)", tag,
             n, n_spur, expected, p)
write_csv(pd.DataFrame(rows), snakemake.output.summary)
