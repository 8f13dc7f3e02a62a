"""Rule detection_regions: DS9 region file of a stack's detections in one band."""

import numpy as np
from astropy.table import Table

from xsurvey.detect import regions
from xsurvey.provenance import start_job

log = start_job(snakemake)
det = Table.read(snakemake.input.detections)
bright = np.asarray(det["det_ml"], float) >= regions.DET_ML_MARK
regions.write_regions(regions.source_regions(det["ra"], det["dec"], det.meta["APERTURE"],
                                             bright), snakemake.output[0])
log.info("%d detections: %d circled (DET_ML >= %g), %d crosses", len(det), bright.sum(),
         regions.DET_ML_MARK, (~bright).sum())
