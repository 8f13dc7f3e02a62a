"""End-to-end workflow tests on a tiny demo survey (real snakemake runs)."""

import os

import numpy as np
import pytest
import yaml
from astropy.io import fits
from astropy.table import Table

from xsurvey.instrument import SpectralGrid, fold, load_instrument

from ..conftest import NUSTAR
from ..workflow_utils import (
    make_workdir,
    real_data_workdir,
    run_snakemake,
    tiny_config,
    tiny_observations,
    write_config,
)

pytestmark = pytest.mark.workflow

KINDS = ("counts", "exposure", "background", "background_nofcxb")


def _mtimes(paths):
    return {p: p.stat().st_mtime_ns for p in paths}


def test_tiny_demo_and_new_epoch(tmp_path):
    """Mosaics of a tiny demo; a new epoch re-runs only its own work and the stack."""
    work = make_workdir(tmp_path, tiny_config(), tiny_observations())
    run_snakemake(work)
    res = work / "results"
    for band in ("3-8", "8-24"):
        for kind in KINDS:
            stack = fits.getdata(res / "stacks" / "all" / band / f"{kind}.fits")
            epochs = [fits.getdata(res / "epochs" / e / band / f"{kind}.fits")
                      for e in ("e1", "e2")]
            assert np.allclose(stack, epochs[0] + epochs[1], rtol=1e-6)
        hdr = fits.getheader(res / "stacks" / "all" / band / "exposure.fits")
        assert hdr["BUNIT"] == "s" and hdr["CTYPE1"] == "RA---TAN"
        # FPMA+B of two pointings: the summed on-axis exposure is ~2 x (20 + 25) ks at most
        assert 40e3 < fits.getdata(res / "stacks" / "all" / band / "exposure.fits").max() < 90e3
    for f in ("instrument/bands.csv", "quality/all/area_exposure.csv",
              "quality/all/bgcheck_summary.csv", "figures/all/area_exposure.png",
              "figures/all/bgcheck.png"):
        assert (res / f).stat().st_size > 0, f

    for band in ("3-8", "8-24"):
        assert (res / "detect" / "all" / f"{band}.fits").exists()
    assert (res / "figures" / "all" / "detections_8-24.png").stat().st_size > 0
    thresholds = (res / "calibration" / "all" / "thresholds.csv").read_text()
    assert thresholds.startswith("band,exp_lo_ks,exp_hi_ks,reliability,band_reliability,"
                                 "det_ml_threshold")

    # the calibration does not depend on how replicas are split into jobs
    tables = {p.name: p.read_bytes() for p in (res / "calibration" / "all").glob("*.csv")}
    cfg = tiny_config()
    cfg["simulations"]["chunk_size"] = 4
    write_config(work, cfg, tiny_observations())
    run_snakemake(work)
    assert (res / "sims" / "all" / "chunk0.inputs.parquet").exists()
    assert {p.name: p.read_bytes() for p in (res / "calibration" / "all").glob("*.csv")} == tables

    old = _mtimes(sorted((res / "epochs").glob("e[12]/*/*.fits")))
    old_obs = _mtimes(sorted((res / "demo" / "obs").glob("*/*.fits")))
    stack_before = _mtimes(sorted((res / "stacks").glob("all/*/*.fits")))
    assert len(old) == 2 * 2 * 4 and old_obs

    write_config(work, tiny_config(epochs=("e1", "e2", "e3")),
                 tiny_observations(epochs=("e1", "e2", "e3")))
    dry = run_snakemake(work, "-n", "--quiet", "rules")
    assert "mosaic_epoch" in dry.stdout
    run_snakemake(work)
    assert _mtimes(old) == old, "earlier epochs' mosaics were remade"
    assert _mtimes(old_obs) == old_obs, "earlier observations were re-simulated"
    assert all((res / "epochs" / "e3" / b / f"{k}.fits").exists()
               for b in ("3-8", "8-24") for k in KINDS)
    stack_after = _mtimes(stack_before)
    assert all(stack_after[p] > stack_before[p] for p in stack_before), "stack not remade"
    e3 = fits.getdata(res / "epochs" / "e3" / "3-8" / "counts.fits")
    stack = fits.getdata(res / "stacks" / "all" / "3-8" / "counts.fits")
    e12 = sum(fits.getdata(res / "epochs" / e / "3-8" / "counts.fits") for e in ("e1", "e2"))
    assert np.array_equal(stack, e12 + e3)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda c, o: (dict(c, bands=["3-8", "2-7"]), o), "unknown band '2-7'"),
        (lambda c, o: (c, o + o.splitlines()[1] + "\n"), "listed twice"),
        (lambda c, o: (dict(c, stacks={"all": ["e1", "e9"]}), o),
         "'stacks.all': epoch 'e9' has no observations"),
        (lambda c, o: (dict(c, mosiac={}), o), "Additional properties are not allowed"),
        (lambda c, o: (dict(c, seed="abc"), o), "'abc' is not of type 'integer'"),
        (lambda c, o: (dict(c, spectral={"soft_band": "3-24"}), o),
         "'spectral.soft_band': band '3-24' is not processed"),
        (lambda c, o: (c, o.replace("\te1\t", "\t..\t")), "line 2: epoch '..' is not a safe"),
        (lambda c, o: (dict(c, stacks={"../up": ["e1"]}), o),
         "config key 'stacks.../up': '../up' is not a safe name"),
        (lambda c, o: (dict(c, stacks={}), o), "config key 'stacks': no stacks"),
        (lambda c, o: (c, o.replace("\t", ",")), "line 1: the header is not tab-separated "
                                                  "(columns separated by ',')"),
        (lambda c, o: (c, o.replace("\n", "\n# a comment\n", 1).replace("FPMB", "FPMC", 1)),
         "line 4: unknown module 'FPMC'"),
        (lambda c, o: (c, o + o.splitlines()[1].replace("60000001001\t", "60000009001\t", 1)
                       + "\n"), "is listed on lines 2, 6: one observation listed twice?"),
    ],
    ids=["unknown-band", "duplicate-observation", "empty-epoch-in-stack", "bad-key",
         "wrong-type", "band-not-processed", "unsafe-epoch", "unsafe-stack", "no-stacks",
         "comma-table",
         "comment-line-numbers", "same-events-file"],
)
def test_bad_configuration_fails_before_any_job(tmp_path, change, message):
    cfg, obs = change(tiny_config(), tiny_observations())
    work = make_workdir(tmp_path, cfg, obs)
    proc = run_snakemake(work, check=False)
    assert proc.returncode != 0
    assert message in proc.stderr + proc.stdout
    assert not (work / "results").exists()


def test_observations_without_background_maps(tmp_path):
    """An empty background column: the mosaics get a background estimated from the data."""
    work = make_workdir(tmp_path, tiny_config(epochs=("e1",)), tiny_observations(epochs=("e1",)))
    run_snakemake(work, "results/epochs/e1/3-8/counts.fits")  # the demo files
    rows = tiny_observations(epochs=("e1",)).splitlines()
    header = rows[0].split("\t")
    col = header.index("background")
    user = []
    for line in rows[1:]:
        fields = line.split("\t")
        fields[col] = ""
        user.append("\t".join(fields))
    cfg = tiny_config(epochs=("e1",))
    cfg["demo"]["enabled"] = False
    write_config(work, cfg, "\n".join([rows[0], *user]) + "\n")
    res = work / "results"
    with_map = fits.getdata(res / "epochs" / "e1" / "3-8" / "background.fits").sum()
    run_snakemake(work, "results/epochs/e1/3-8/background.fits", "--forcerun", "mosaic_epoch")
    estimated = fits.getdata(res / "epochs" / "e1" / "3-8" / "background.fits").sum()
    counts = fits.getdata(res / "epochs" / "e1" / "3-8" / "counts.fits").sum()
    # the estimate lies between the demo's diffuse-plus-faint-sources map and the counts
    assert 0.9 * with_map < estimated < counts


def test_real_data_run_from_the_template(tmp_path, tiny_run):
    """A user's files and a config written from config/template.yaml run end to end with
    none of the demo's settings; a corrupt replica chunk stops the re-run before any job,
    naming the chunk, and leaves the calibration in place; an input that fails its checks
    stops the run with the message in the rule's log."""
    work = real_data_workdir(tmp_path, tiny_run)
    run_snakemake(work, "--configfile", "my_config.yaml")
    res = work / "results"
    assert sorted(p.name for p in (res / "catalog").iterdir()) == ["deep"]
    assert not (res / "demo").exists() and not (res / "counterparts").exists()
    cat = Table.read(res / "catalog" / "deep" / "catalog_95.fits")
    assert len(cat) > 0 and all(str(n).startswith("NUDEEP J") for n in cat["name"])
    assert len(list((res / "checks").glob("*.json"))) == 4

    chunk = res / "sims" / "deep" / "chunk1.parquet"
    good = chunk.read_bytes()
    chunk.write_bytes(good[: len(good) // 2])
    calibration = {p: p.read_bytes() for p in (res / "calibration" / "deep").glob("*.csv")}
    os.utime(res / "population" / "counts.csv")        # something to re-run downstream
    proc = run_snakemake(work, "--configfile", "my_config.yaml", "--forcerun", "calibrate",
                         check=False)
    assert proc.returncode != 0
    assert "results/sims/deep/chunk1.parquet is corrupt" in proc.stderr
    assert "rm results/sims/deep/chunk1.parquet results/sims/deep/chunk1.inputs.parquet" \
        in proc.stderr
    assert {p: p.read_bytes() for p in calibration} == calibration
    chunk.write_bytes(good)

    events = work / "data" / "nu60000002001B_events.fits"
    with fits.open(events, mode="update") as hdul:
        hdul["EVENTS"].data["PI"] = 0
    proc = run_snakemake(work, "--configfile", "my_config.yaml", check=False)
    assert proc.returncode != 0
    log = (work / "logs" / "checks" / "60000002001_FPMB.log").read_text()
    assert "none in the bands 3-8, 8-24 keV" in log and "Traceback" in log


def test_single_observation_and_module(tmp_path, tiny_run):
    """The smallest survey (one observation of one module, 20 replicas) finishes, with the
    instrument file's absorber set to ``reprocessed`` (recoil, iron lines): the replicas'
    spectral table of the run is that absorber's fold (method.md §12), not the sphere's."""
    work = real_data_workdir(tmp_path, tiny_run, modules=("FPMA",), epochs=("cycle5",))
    inst_cfg = yaml.safe_load(NUSTAR.read_text())
    inst_cfg["spectrum"]["absorber"] = "reprocessed"
    (work / "nustar_reprocessed.yaml").write_text(yaml.safe_dump(inst_cfg, sort_keys=False))
    cfg = yaml.safe_load((work / "my_config.yaml").read_text())
    cfg["instrument"] = "nustar_reprocessed.yaml"
    (work / "my_config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    run_snakemake(work, "--configfile", "my_config.yaml")
    res = work / "results"
    assert (res / "catalog" / "deep" / "catalog_95.fits").exists()
    assert (res / "figures" / "deep" / "lognlogs_replicas.png").stat().st_size > 0
    assert (res / "spectra" / "deep" / "fits.csv").exists()
    grid = SpectralGrid.load(res / "population" / "grid.npz")
    _, rate = grid(np.array([1.8]), np.array([1e24]), np.array([0.0]))     # a node
    inst = load_instrument(work / "nustar_reprocessed.yaml")
    for absorber, close in (("reprocessed", True), ("sphere", False)):
        _, expected = fold(grid.bands_kev, 1.8, 1e24, 0.0, inst.nh_galactic_cm2, absorber,
                           inst.effective_area)
        assert np.allclose(rate[0], expected, rtol=1e-9) == close, absorber
