"""Rule spectra_extract: source and background spectra of the catalogue sources of a stack,
summed over its observations, with their ARFs and one RMF, as OGIP files."""

from pathlib import Path

import numpy as np
from astropy.table import Table

from xsurvey import spectra
from xsurvey.detect import pixel_scale_arcsec
from xsurvey.instrument import band_suffix, load_instrument
from xsurvey.io import nested_inputs, read_events
from xsurvey.provenance import start_job
from xsurvey.tables import write_csv

log = start_job(snakemake)
inst = load_instrument(snakemake.input.instrument)
cfg, p = snakemake.params.spectra, snakemake.params
cat = Table.read(snakemake.input.catalog)
outdir = Path(snakemake.output.files)
outdir.mkdir(parents=True, exist_ok=True)
band = inst.band(cfg["band"])
grid = spectra.channel_grid(inst, band.e_lo_kev, band.e_hi_kev)
events_files = nested_inputs(snakemake.input, "events")


def responses_of(kind: str):
    """The observations' own files of ``kind`` (rmf, arf) by observation, or None."""
    given = any(key.startswith(f"{kind}/") for key in snakemake.input.keys())
    return nested_inputs(snakemake.input, kind) if given else None


user_rmfs, user_arfs, area = responses_of("rmf"), responses_of("arf"), None
if user_rmfs:   # the observations' own responses, weighted by their exposure
    names = list(events_files)
    weights = [spectra.events_exposure_s(events_files[n]) for n in names]
    combined, area = spectra.observation_responses(
        [user_rmfs[n] for n in names], user_arfs and [user_arfs[n] for n in names], weights,
        grid, spectra.MODEL_MARGIN_KEV)
    energ_lo, energ_hi, rmf = combined.energ_lo, combined.energ_hi, combined.matrix
    log.info("responses: the mean of %d observations' RMFs%s", len(names),
             " and ARFs" if area is not None else "")
else:
    if inst.resolution is None:
        raise spectra.SpectrumError(f"instrument file {snakemake.input.instrument}: no "
                                    f"energy_resolution, which the spectral response needs "
                                    f"(or give each observation's rmf in the table)")
    energ_lo, energ_hi = spectra.model_energies(inst, grid)
    rmf = spectra.gaussian_rmf(energ_lo, energ_hi, grid, inst.resolution.fwhm)
if area is None:
    area = inst.effective_area(0.5 * (energ_lo + energ_hi))
telescope, instrument = inst.name, "+".join(inst.modules)
spectra.write_rmf(outdir / "response.rmf", energ_lo, energ_hi, rmf, grid, telescope, instrument)
# one module's on-axis area: the source ARFs' (and the simulated spectra's) starting point
spectra.write_arf(outdir / "onaxis.arf", energ_lo, energ_hi, area, telescope, instrument)

source = np.zeros((len(cat), grid.size), np.int64)
annulus = np.zeros_like(source)
for name, path in events_files.items():
    events, wcs, _ = read_events(path)
    pix = pixel_scale_arcsec(wcs)
    sx, sy = wcs.wcs_world2pix(np.asarray(cat["ra"], float), np.asarray(cat["dec"], float), 1)
    s, b = spectra.aperture_spectra(
        events["X"], events["Y"], events["PI"], sx, sy, grid,
        inst.aperture_radius_arcsec / pix, np.asarray(cfg["annulus_arcsec"]) / pix,
        cfg["mask_arcsec"] / pix)
    source += s
    annulus += b
    log.info("observation %s: %d events, %d in the source apertures", name, len(events),
             s.sum())

sfx = band_suffix(cfg["band"])
vignetting_bands = spectra.elementary_bands(inst, p.bands, band.e_lo_kev, band.e_hi_kev)
rows = []
for k, src in enumerate(cat):
    exposure = float(src[f"exposure_ks_{sfx}"]) * 1e3
    map_bkg = float(src[f"bkg_{sfx}"])
    n_annulus = int(annulus[k].sum())
    stem = f"src_{int(src['id'])}"
    rows.append({"id": int(src["id"]), "name": str(src["name"]), "file": stem,
                 "counts": int(source[k].sum()), "counts_catalog": float(src[f"counts_{sfx}"]),
                 "bkg_aperture": map_bkg, "bkg_annulus": n_annulus,
                 "net_counts": float(source[k].sum() - map_bkg), "exposure_s": exposure})
    if not exposure > 0:
        log.warning("source %s: no exposure in band %s; no spectrum", src["name"], cfg["band"])
        continue
    arf = spectra.source_arf(inst, energ_lo, energ_hi, inst.eef_aperture,
                             {b: float(src[f"exposure_ks_{band_suffix(b)}"]) * 1e3
                              for b in vignetting_bands}, exposure, area)
    spectra.write_arf(outdir / f"{stem}.arf", energ_lo, energ_hi, arf, telescope, instrument)
    files = {"backfile": f"{stem}_bkg.pha", "respfile": "response.rmf",
             "ancrfile": f"{stem}.arf"}
    spectra.write_pha(outdir / f"{stem}.pha", spectra.Spectrum(grid.channels, source[k],
                                                               exposure, **files),
                      telescope, instrument, obj=str(src["name"]))
    # BACKSCAL: alpha = (map background in the aperture) / (annulus counts)
    backscal = n_annulus / map_bkg if n_annulus > 0 and map_bkg > 0 else 1.0
    spectra.write_pha(outdir / f"{stem}_bkg.pha", spectra.Spectrum(
        grid.channels, annulus[k], exposure, backscal=backscal), telescope, instrument,
        background=True, obj=str(src["name"]))
table = Table(rows=rows) if rows else Table(names=("id", "name", "file"))
write_csv(table.to_pandas(), snakemake.output.table)
log.info("%d spectra of %d sources (%d channels, %.1f-%.1f keV)", len(rows), len(cat),
         grid.size, band.e_lo_kev, band.e_hi_kev)
