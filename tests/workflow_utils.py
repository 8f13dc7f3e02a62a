"""Run the real Snakefile on a tiny demo survey in a temporary directory."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import yaml
from astropy.table import Table

from xsurvey.config import default_config

REPO = Path(__file__).resolve().parents[1]

#: Tiny demo: two epochs of one pointing each, two bands, small images.
TINY_POINTINGS = {
    "e1": [("60000001001", 150.100, 2.250, 0.0, 20.0)],
    "e2": [("60000002001", 150.130, 2.265, 40.0, 25.0)],
    "e3": [("60000003001", 150.075, 2.235, 80.0, 20.0)],
}


def tiny_config(epochs=("e1", "e2"), bands=("3-8", "8-24")) -> dict:
    cfg = default_config(REPO)
    cfg["bands"] = list(bands)
    cfg["stacks"] = {"all": list(epochs)}
    cfg["mosaic"] = {"center_deg": [150.10, 2.25], "size_arcmin": [16.0, 16.0]}
    cfg["quality"] = {"bgcheck_circles": 16}
    cfg["demo"].update(image_npix=200, sky_size_arcmin=18.0)
    # the seed papers' dense single-spectrum sky: a few replicas give thresholds and sources
    cfg["population"] = {"mode": "paper", "flux_min": 1.0e-14, "flux_max": 1.0e-11,
                         "counts": {"band_kev": [3.0, 24.0], "shape": "broken_power_law",
                                    "norm_deg2": 79.0, "flux_ref": 1.0e-13,
                                    "flux_break": 1.5e-14, "slope_bright": 1.5,
                                    "slope_faint": 0.6}}
    cfg["demo"]["optical"]["field_density_deg2"] = 2.0e4
    cfg["detection"]["figure_bands"] = ["8-24"]
    cfg["simulations"].update(replicas=20, chunk_size=10)
    cfg["counterparts"]["hard_band"] = "3-8"
    cfg["spectra"].update(band="3-8", fit_jobs=2)
    cfg["obscuration"] = {"sample_per_class": 6, "spurious_sample": 3, "fit_jobs": 1,
                          "response_draws": 20}
    return cfg


def tiny_observations(epochs=("e1", "e2")) -> str:
    lines = ["obs_id\tepoch\tmodule\tevents\texposure\tbackground\tra_pnt\tdec_pnt\troll_deg"
             "\texposure_ks"]
    for epoch in epochs:
        for obs, ra, dec, roll, ks in TINY_POINTINGS[epoch]:
            for module in ("FPMA", "FPMB"):
                base = f"results/demo/obs/{obs}/{module}"
                lines.append("\t".join([obs, epoch, module, f"{base}_events.fits",
                                        f"{base}_expmap_{{band}}.fits",
                                        f"{base}_bkg_{{band}}.fits", str(ra), str(dec),
                                        str(roll), str(ks)]))
    return "\n".join(lines) + "\n"


def make_workdir(tmp_path: Path, cfg: dict, observations: str) -> Path:
    """A run directory with the repository's workflow and the given configuration."""
    work = tmp_path / "run"
    (work / "config").mkdir(parents=True)
    for name in ("Snakefile", "workflow", "resources", "envs", "profiles"):
        os.symlink(REPO / name, work / name)
    shutil.copytree(REPO / "config" / "schemas", work / "config" / "schemas")
    shutil.copy(REPO / "config" / "template.yaml", work / "config" / "template.yaml")
    write_config(work, cfg, observations)
    return work


def write_config(work: Path, cfg: dict, observations: str):
    (work / "config" / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    (work / "config" / "observations.tsv").write_text(observations)


def run_snakemake(work: Path, *args, check=True, cores="2", env=None,
                  timeout=600) -> subprocess.CompletedProcess:
    """``snakemake --cores {cores} *args`` in ``work`` (no ``--cores`` if cores is None)."""
    cmd = [sys.executable, "-m", "snakemake", *(["--cores", cores] if cores else []), *args]
    proc = subprocess.run(cmd, cwd=work, capture_output=True, text=True, timeout=timeout,
                          env=env)
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake failed ({proc.returncode}):\n{proc.stderr[-6000:]}")
    return proc


def assert_same_table(path_a: Path, path_b: Path):
    """Two FITS tables hold the same columns, units and values (NaN equal to NaN)."""
    a, b = Table.read(path_a), Table.read(path_b)
    assert a.colnames == b.colnames and len(a) == len(b), path_a
    for name in a.colnames:
        assert a[name].unit == b[name].unit, name
        assert np.array_equal(np.asarray(a[name]), np.asarray(b[name]),
                              equal_nan=a[name].dtype.kind == "f"), name
    return a


def real_data_workdir(tmp_path: Path, demo_run: Path, modules=("FPMA", "FPMB"),
                      epochs=None) -> Path:
    """A run directory set up as a user would: own files, own table, a config from the template.

    The tiny demo's observation files (of ``demo_run``) are copied under NuSTAR-like names
    into ``data/``; ``my_observations.tsv`` lists them in epochs ``cycle5``/``cycle6``;
    ``my_config.yaml`` is ``config/template.yaml`` with the keys a user fills in (stack
    ``deep``, name prefix ``NUDEEP``). The demo configuration is there too, as in a clone:
    a ``--configfile`` run must not pick up any of it.
    """
    work = make_workdir(tmp_path, tiny_config(), tiny_observations())
    data = work / "data"
    data.mkdir()
    names = {"60000001001": "cycle5", "60000002001": "cycle6"}
    rows = ["obs_id\tepoch\tmodule\tevents\texposure\tbackground"]
    for obs, epoch in names.items():
        if epochs is not None and epoch not in epochs:
            continue
        for module in modules:
            src = demo_run / "results" / "demo" / "obs" / obs / module
            stem = f"data/nu{obs}{module[-1]}"
            for kind in ("events", "expmap", "bkg"):
                for f in src.parent.glob(f"{module}_{kind}*.fits"):
                    shutil.copy(f, work / f"{stem}_{f.name.split('_', 1)[1]}")
            rows.append("\t".join([obs, epoch, module, f"{stem}_events.fits",
                                   f"{stem}_expmap_{{band}}.fits", f"{stem}_bkg_{{band}}.fits"]))
    (work / "my_observations.tsv").write_text("\n".join(rows) + "\n")
    cfg = yaml.safe_load((REPO / "config" / "template.yaml").read_text())
    tiny = tiny_config()
    for key in ("bands", "mosaic", "quality", "population"):
        cfg[key] = tiny[key]
    cfg["observations"] = "my_observations.tsv"
    cfg["stacks"] = {"deep": sorted({names[o] for o in names if epochs is None
                                     or names[o] in epochs})}
    cfg["simulations"].update(replicas=20, chunk_size=10)
    cfg["detection"]["figure_bands"] = ["8-24"]
    cfg["counterparts"]["hard_band"] = "3-8"
    cfg["spectra"]["band"] = "3-8"
    cfg["variability"]["bands"] = ["3-8", "8-24"]
    cfg["catalog"]["name_prefix"] = "NUDEEP"
    (work / "my_config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    return work
