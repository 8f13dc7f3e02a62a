"""Rule detect: detection, deblending and photometry of one stack mosaic."""

from xsurvey.detect import Detector, detection_parameters
from xsurvey.instrument import load_instrument
from xsurvey.io import nested_inputs, read_mosaics, write_table
from xsurvey.mosaic import MAP_KINDS
from xsurvey.provenance import start_job

log = start_job(snakemake)
inst = load_instrument(snakemake.input.instrument)
band = snakemake.wildcards.band
where = snakemake.wildcards.get("stack") or f"epoch {snakemake.wildcards.epoch}"
files = nested_inputs(snakemake.input, "maps")
maps, wcs = read_mosaics({k: files[k] for k in MAP_KINDS})
detector = Detector(maps["exposure"], wcs, inst, band, background=maps["background"],
                    params=detection_parameters(snakemake.params.detection))
table = detector.detect(maps["counts"])
table.meta["MOSAIC"] = where
log.info("%s band %s: %d detections, %d with DET_ML > 10", where, band, len(table),
         int((table["det_ml"] > 10).sum()))
write_table(table, snakemake.output[0])
