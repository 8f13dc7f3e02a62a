"""Rule mosaic_epoch: bin events and reproject maps of one epoch and band."""

import numpy as np
from astropy.table import Table, vstack

from xsurvey import mosaic
from xsurvey.instrument import load_instrument
from xsurvey.io import (
    InputError,
    read_background,
    read_events,
    read_image,
    write_image,
    write_table,
)
from xsurvey.mosaic import background
from xsurvey.provenance import start_job
from xsurvey.quality import bgcheck

log = start_job(snakemake)
inst = load_instrument(snakemake.input.instrument)
band, epoch = snakemake.wildcards.band, snakemake.wildcards.epoch
quality, grid = snakemake.params.quality, snakemake.params.grid
grid_wcs, shape = mosaic.make_grid(grid["center_deg"], grid["size_arcmin"], inst.pixel_arcsec)
pi_lo, pi_hi = inst.pi_range(band)
radius_pix = quality["bgcheck_radius_arcsec"] / inst.pixel_arcsec

maps = {k: np.zeros(shape) for k in mosaic.MAP_KINDS}
checks = []
observations = snakemake.params.observations
for i, obs in enumerate(observations, 1):
    log.info("[%d/%d] %s %s, band %s", i, len(observations), obs["obs_id"], obs["module"], band)
    events, ev_wcs, _ = read_events(obs["events"])
    inband = (events["PI"] >= pi_lo) & (events["PI"] < pi_hi)
    x, y = events["X"][inband], events["Y"][inband]
    expo, exp_wcs, _ = read_image(obs["exposure"], "exposure map", allow_negative=False)
    if obs["background"]:
        total, fcxb, bkg_wcs = read_background(obs["background"])
    else:  # no background map: estimate it from the counts on the exposure-map grid
        bkg_wcs = exp_wcs
        counts = mosaic.bin_events(x, y, ev_wcs, exp_wcs, expo.shape)
        total, fcxb = background.estimate_background(counts, expo, inst.band(band).fcxb_fraction)
        log.info("%s %s: background estimated from the data (%.1f counts)", obs["obs_id"],
                 obs["module"], total.sum())
    contribution = mosaic.observation_maps(x, y, ev_wcs, expo, exp_wcs, total, fcxb, bkg_wcs,
                                           grid_wcs, shape, inst.band(band).fcxb_fraction)
    if contribution["exposure"].max() == 0:  # the config check uses enclosing circles
        raise InputError(f"observation {obs['obs_id']} {obs['module']}: exposure map "
                         f"{obs['exposure']} does not overlap the mosaic grid (config keys "
                         f"'mosaic.center_deg', 'mosaic.size_arcmin')")
    for kind in maps:
        maps[kind] += contribution[kind]
    check = bgcheck.bgcheck_observation(
        mosaic.bin_events(x, y, ev_wcs, bkg_wcs, total.shape), total,
        mosaic.exposure_on(bkg_wcs, total.shape, expo, exp_wcs),
        quality["bgcheck_circles"], radius_pix, quality["bgcheck_min_exposure_frac"])
    n = len(check["x"])
    checks.append(Table({"obs_id": [obs["obs_id"]] * n, "module": [obs["module"]] * n, **check}))

header = {"EPOCH": epoch, "BAND": band, "E_MIN": (inst.band(band).e_lo_kev, "[keV]"),
          "E_MAX": (inst.band(band).e_hi_kev, "[keV]"), "NOBS": len(observations)}
for (kind, (unit, dtype)), path in zip(mosaic.MAP_KINDS.items(), snakemake.output.maps,
                                       strict=True):
    write_image(path, maps[kind].astype(dtype), grid_wcs, unit, extra=header)
    log.info("wrote %s (total %.6g %s)", path, maps[kind].sum(), unit)
write_table(vstack(checks), snakemake.output.bgcheck)
