"""Rule detection_figure: stack mosaic with detections."""

from astropy.table import Table

from xsurvey import plotting
from xsurvey.detect import FFTConvolver, figures, tophat_kernel
from xsurvey.io import read_image
from xsurvey.provenance import start_job

log = start_job(snakemake)
counts, wcs, header = read_image(snakemake.input.counts, "counts mosaic")
exposure, _, _ = read_image(snakemake.input.exposure, "exposure mosaic")
detections = Table.read(snakemake.input.detections)
radius_pix = detections.meta["SMOOTHR"] / abs(wcs.wcs.cdelt[0] * 3600.0)
smoothed = FFTConvolver(counts.shape, tophat_kernel(radius_pix))(counts)
band, stack = snakemake.wildcards.band, snakemake.wildcards.stack
plotting.save(figures.detection_map(smoothed, exposure, wcs, detections,
                                   f"stack {stack}, {band} keV: {len(detections)} detections"),
             snakemake.output[0])
