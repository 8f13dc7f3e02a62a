"""Products a survey astronomer uses directly, on the finished tiny demo run: catalogue
columns with units, provenance keywords in every FITS product, DS9 region files; and the
``xsurvey`` that a rule runs is the workflow's own."""

import os
import re
import shutil
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from astropy.io import fits
from astropy.table import Table
from regions import Regions

from xsurvey import __version__, spectra
from xsurvey.provenance import code_digest

from ..workflow_utils import REPO, make_workdir, run_snakemake, tiny_config, tiny_observations

pytestmark = pytest.mark.workflow

BANDS = ("3-8", "8-24")


def assert_provenance(header, path):
    assert header["TELESCOP"] == "NuSTAR" and header["INSTRUME"] == "FPMA+FPMB", path
    assert header["CREATOR"] == f"xsurvey {__version__}", path
    datetime.fromisoformat(header["DATE"])
    assert re.fullmatch(r"[0-9a-f]{16}", header["CONFHASH"]), path
    assert "MJDREF" not in header, path  # no made-up time reference


def test_catalogue_has_positional_errors_and_provenance(tiny_run):
    for level in (95, 99):
        path = tiny_run / "results" / "catalog" / "all" / f"catalog_{level}.fits"
        cat = Table.read(path)
        assert len(cat) > 0 or level == 99
        assert cat["pos_err_arcsec"].unit == "arcsec"
        assert (cat["pos_err_arcsec"] > 0).all()
        assert_provenance(cat.meta, path)
        # the code digest of the job that wrote it: the catalogue script and its modules
        assert cat.meta["CODEHASH"] == code_digest(
            REPO / "workflow" / "scripts" / "catalog" / "catalog.py")


def test_mosaics_and_detections_carry_provenance(tiny_run):
    res = tiny_run / "results"
    for band in BANDS:
        for path in (res / "epochs" / "e1" / band / "counts.fits",
                     res / "stacks" / "all" / band / "exposure.fits"):
            assert_provenance(fits.getheader(path), path)
        assert_provenance(Table.read(res / "detect" / "all" / f"{band}.fits").meta, band)
    # one stack, one job per band: the same configuration digest, another job's differs
    stacks = {fits.getheader(res / "stacks" / "all" / b / "counts.fits")["CONFHASH"]
              for b in BANDS}
    cat = Table.read(res / "catalog" / "all" / "catalog_95.fits").meta["CONFHASH"]
    assert len(stacks) == 1 and cat not in stacks


def test_region_files_hold_one_region_per_source(tiny_run):
    res = tiny_run / "results"
    for level in (95, 99):
        cat = Table.read(res / "catalog" / "all" / f"catalog_{level}.fits")
        regs = Regions.read(res / "catalog" / "all" / f"catalog_{level}.reg", format="ds9")
        assert len(regs) == len(cat)
        assert [r.meta["text"] for r in regs] == [str(n) for n in cat["name"]]
        for r, row in zip(regs, cat, strict=True):
            assert abs(r.center.ra.deg - row["ra"]) < 1e-7
            assert abs(r.center.dec.deg - row["dec"]) < 1e-7
    for band in BANDS:
        det = Table.read(res / "detect" / "all" / f"{band}.fits")
        regs = Regions.read(res / "detect" / "all" / f"{band}.reg", format="ds9")
        assert len(regs) == len(det) > 0
        circled = sum(type(r).__name__ == "CircleSkyRegion" for r in regs)
        assert circled == int((det["det_ml"] >= 10).sum())


def test_a_rule_imports_xsurvey_from_its_own_workflow(tmp_path):
    """A second checkout of the workflow, run with the repository's xsurvey installed on
    the host (``pip install -e .``) and a decoy ``xsurvey`` on the user's PYTHONPATH: its
    rules import its own copy, and the rule's log says which file that is."""
    work = make_workdir(tmp_path, tiny_config(), tiny_observations())
    (work / "workflow").unlink()
    shutil.copytree(REPO / "workflow", work / "workflow", symlinks=True,
                    ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    decoy = tmp_path / "decoy" / "xsurvey"
    decoy.mkdir(parents=True)
    (decoy / "__init__.py").write_text("raise ImportError('the decoy xsurvey was imported')\n")
    env = {**os.environ, "PYTHONPATH": str(decoy.parent)}
    run_snakemake(work, "results/instrument/bands.csv", cores="1", env=env)
    log = (work / "logs" / "instrument" / "bands.log").read_text()
    used = Path(re.search(r"xsurvey \S+ from (\S+)", log)[1])
    assert used == (work / "workflow" / "xsurvey").resolve() != REPO / "workflow" / "xsurvey"


def test_the_observations_own_responses_make_the_spectra(tiny_run, tmp_path, nustar):
    """RMF and ARF columns in the observation table (as from nuproducts): adding them
    re-runs the spectra and what follows only; the stack's RMF and on-axis ARF are the
    observations' (here all alike: 1.5x the instrument's resolution, 0.8x its area), and
    each source's ARF is that area times its aperture's encircled-energy fraction."""
    work = tmp_path / "run"
    shutil.copytree(tiny_run, work, symlinks=True)
    wide = spectra.channel_grid(nustar, 1.6, 60.0)
    lo, hi = spectra.model_energies(nustar, wide)
    matrix = spectra.gaussian_rmf(lo, hi, wide, lambda e: 1.5 * nustar.resolution.fwhm(e))
    area = 0.8 * nustar.effective_area(0.5 * (lo + hi))
    table = pd.read_csv(work / "config" / "observations.tsv", sep="\t", dtype=str)
    for row in table.itertuples():
        stem = work / f"{row.obs_id}_{row.module}"
        spectra.write_rmf(f"{stem}.rmf", lo, hi, matrix, wide, "NuSTAR", row.module)
        spectra.write_arf(f"{stem}.arf", lo, hi, area, "NuSTAR", row.module)
    table["rmf"] = [f"{work}/{r.obs_id}_{r.module}.rmf" for r in table.itertuples()]
    table["arf"] = [f"{work}/{r.obs_id}_{r.module}.arf" for r in table.itertuples()]
    table.to_csv(work / "config" / "observations.tsv", sep="\t", index=False)
    plan = run_snakemake(work, "-n", "--quiet", "rules", cores="1")
    planned = {m[1] for m in re.finditer(r"(?m)^(\w+)\s+\d+$", plan.stdout + plan.stderr)}
    assert planned - {"total", "all"} == {
        "spectra_extract", "spectra_fit", "spectra_table", "spectra_figures",
        "obscuration_sample", "obscuration_fit", "obscuration_fractions",
        "obscuration_figures"}
    run_snakemake(work, "results/spectra/all/extraction.csv", cores="1")
    files = work / "results" / "spectra" / "all" / "files"
    rmf = spectra.read_rmf(files / "response.rmf")
    band = spectra.channel_grid(nustar, 3.0, 8.0)
    keep = (hi > band.e_min[0] - spectra.MODEL_MARGIN_KEV) \
        & (lo < band.e_max[-1] + spectra.MODEL_MARGIN_KEV)
    assert np.allclose(rmf.energ_lo, lo[keep])
    assert np.allclose(rmf.matrix, matrix[keep][:, band.channels - wide.first], atol=1e-6)
    onaxis = spectra.read_arf(files / "onaxis.arf")[2]
    assert np.allclose(onaxis, area[keep], rtol=1e-6)
    extraction = pd.read_csv(work / "results" / "spectra" / "all" / "extraction.csv")
    source = spectra.read_arf(files / f"{extraction.file.iloc[0]}.arf")[2]
    # the spectra's band 3-8 keV is its own vignetting band (T_b / T = 1): ARF = A EEF
    assert np.allclose(source, onaxis * nustar.eef_aperture, rtol=1e-5)


def test_the_obscuration_forward_model_runs_on_the_tiny_survey(tiny_run):
    """The tiny survey's population is unabsorbed (population.mode: paper): every detected
    replica source is in the unobscured class, its simulated spectra are fitted, and with no
    obscured source in the replicas no intrinsic fraction is claimed (NaN, with a warning);
    the naive fractions come from the catalogue's fits."""
    res = tiny_run / "results" / "obscuration" / "all"
    detection = pd.read_csv(res / "detection.csv")
    classes = detection[detection["quantity"] == "nh_class"]
    assert classes["n_input"].tolist()[1:] == [0, 0] and classes["n_detected"].iloc[0] > 0
    simulated = pd.read_csv(res / "simulated.csv")
    assert set(simulated["component"]) <= {"unobscured", "spurious"}
    assert (simulated["component"] == "unobscured").sum() == 6
    assert set(simulated["outcome"]) <= {"not_fitted", "unobscured", "obscured",
                                         "compton_thick"}
    fits = pd.read_csv(tiny_run / "results" / "spectra" / "all" / "fits.csv")
    fractions = pd.read_csv(res / "fractions.csv").set_index("quantity")
    assert fractions["n_sources"].tolist() == [len(fits)] * 2
    assert (fractions["population"] == 0).all() and fractions["intrinsic"].isna().all()
    assert "no intrinsic fractions" in (tiny_run / "logs" / "obscuration" /
                                        "fractions_all.log").read_text()
    for name in ("detection_fraction", "nh_recovery", "obscuration_fractions"):
        assert (tiny_run / "results" / "figures" / "all" / f"{name}.png").stat().st_size > 0


def test_spectra_of_the_catalogue_sources(tiny_run):
    """One OGIP spectrum (source, background, ARF; one RMF) per source of the 95%
    catalogue: the events in the aperture are the mosaic's aperture counts, the files open
    with astropy, belong together, and every source with enough counts is fitted."""
    res = tiny_run / "results" / "spectra" / "all"
    cat = Table.read(tiny_run / "results" / "catalog" / "all" / "catalog_95.fits")
    extraction = pd.read_csv(res / "extraction.csv")
    assert extraction["id"].tolist() == [int(i) for i in cat["id"]]
    ratio = extraction["counts"] / extraction["counts_catalog"]
    assert abs(ratio.median() - 1.0) < 0.05 and ratio.between(0.8, 1.25).all()
    rmf = spectra.read_rmf(res / "files" / "response.rmf")
    for row in extraction.itertuples():
        pha = spectra.read_pha(res / "files" / f"{row.file}.pha")
        assert pha.counts.sum() == row.counts
        header = fits.getheader(res / "files" / f"{row.file}.pha", "SPECTRUM")
        assert header["HDUCLASS"] == "OGIP" and header["TELESCOP"] == "NuSTAR"
        arf = spectra.read_arf(res / "files" / pha.ancrfile)
        spectra.check_response(pha, arf, rmf)
        bkg = spectra.read_pha(res / "files" / pha.backfile)
        # the background scaled to the aperture is the maps' aperture background
        assert bkg.counts.sum() / bkg.backscal == pytest.approx(row.bkg_aperture, rel=1e-5)
    fitted = pd.read_csv(res / "fits.csv")
    assert fitted["id"].tolist() == extraction["id"].tolist()
    enough = extraction["net_counts"] >= 10
    assert (fitted["stage"] != "not_fitted").tolist() == enough.tolist()
    ok = fitted[fitted["stage"] != "not_fitted"]
    assert ((ok["log_nh_lo"] <= ok["log_nh"]) & (ok["log_nh"] <= ok["log_nh_hi"])).all()
