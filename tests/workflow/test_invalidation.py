"""Re-run exactly what a change touches: a figure setting re-draws a figure, a detection
setting re-runs detection and what follows, an edited package module re-runs the rules
whose scripts run it (their ``code`` digest, xsurvey.provenance)."""

import copy
import re
import shutil
import subprocess
import sys

import pytest

from xsurvey.provenance import code_digest

from ..workflow_utils import REPO, tiny_config, tiny_observations, write_config
from .test_envs import load_workflow

pytestmark = pytest.mark.workflow

#: the forward model of the obscuration bias (obscuration.fit_jobs = 1)
OBSCURATION = {"obscuration_sample": 1, "obscuration_fit": 1, "obscuration_fractions": 1,
               "obscuration_figures": 1}
DETECTION_AND_AFTER = {
    "detect": 2, "detect_epoch": 4, "detection_figure": 1, "detection_regions": 2,
    "simulate": 2, "calibrate": 1, "calibrate_figures": 1, "catalog": 1, "catalog_figures": 1,
    "catalog_regions": 1, "truth_check": 1, "epoch_catalog": 1, "lognlogs": 1,
    "lognlogs_replicas": 1, "counterparts": 1, "counterparts_figures": 1,
    "variability_null": 2, "variability": 1, "variability_figures": 1, "hardness": 1,
    "spectra_extract": 1, "spectra_fit": 2, "spectra_table": 1, "spectra_figures": 1,
    **OBSCURATION, "all": 1,
}
#: what a change of the counterparts re-runs: the spectral fits take their redshifts; the
#: forward model's simulations do not (they are fitted in the observed frame), its inversion
#: of the catalogue's fits does
COUNTERPARTS_AND_AFTER = {"counterparts": 1, "counterparts_figures": 1, "hardness": 1,
                          "spectra_fit": 2, "spectra_table": 1, "spectra_figures": 1,
                          "obscuration_fractions": 1, "obscuration_figures": 1, "all": 1}


@pytest.fixture(scope="module")
def finished_run(tiny_run, tmp_path_factory):
    """A copy of the finished tiny run with its own copy of workflow/, to edit code in."""
    work = tmp_path_factory.mktemp("invalidation") / "run"
    shutil.copytree(tiny_run, work, symlinks=True)
    (work / "workflow").unlink()
    shutil.copytree(REPO / "workflow", work / "workflow", symlinks=True,
                    ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    return work


def planned_jobs(work) -> dict:
    """``{rule: number of jobs}`` that ``snakemake -n`` plans."""
    proc = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--quiet", "rules"],
                          cwd=work, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = proc.stdout + proc.stderr
    return {m[1]: int(m[2]) for m in re.finditer(r"(?m)^(\w+)\s+(\d+)$", text)
            if m[1] != "total"}


def test_nothing_to_do_after_a_finished_run(finished_run):
    assert planned_jobs(finished_run) == {}


@pytest.mark.parametrize(("section", "change", "expected"), [
    ("detection", {"figure_bands": ["8-24", "3-8"]}, {"detection_figure": 1, "all": 1}),
    ("detection", {"min_separation_arcsec": 25.0}, DETECTION_AND_AFTER),
    ("counterparts", {"max_p_chance": 0.04}, COUNTERPARTS_AND_AFTER),
    ("variability", {"n_light_curves": 4}, {"variability_figures": 1, "all": 1}),
], ids=["figure-key", "detection-key", "counterparts-key", "light-curve-figure-key"])
def test_a_config_key_re_runs_exactly_the_rules_that_read_it(finished_run, section, change,
                                                             expected):
    cfg = tiny_config()
    changed = copy.deepcopy(cfg)
    changed[section].update(change)
    write_config(finished_run, changed, tiny_observations())
    try:
        assert planned_jobs(finished_run) == expected
    finally:
        write_config(finished_run, cfg, tiny_observations())


@pytest.mark.parametrize(("module", "expected"), [
    ("counterparts/likelihood_ratio.py", COUNTERPARTS_AND_AFTER),
    ("counterparts/figures.py", {"counterparts_figures": 1, "all": 1}),
    ("detect/figures.py", {"detection_figure": 1, "all": 1}),
    ("calibrate/figures.py", {"calibrate_figures": 1, "all": 1}),
    ("catalog/figures.py", {"catalog_figures": 1, "all": 1}),
    ("population/figures.py", {"population_figures": 1, "all": 1}),
    ("spectra/figures.py", {"spectra_figures": 1, "all": 1}),
    ("obscuration/figures.py", {"obscuration_figures": 1, "all": 1}),
    ("characterise/figures.py", {"variability_figures": 1, "hardness": 1, "all": 1}),
    ("detect/poisson.py", DETECTION_AND_AFTER),
], ids=["counterparts-module", "counterparts-figure-module", "figure-module",
        "calibration-figure-module", "catalogue-figure-module", "population-figure-module",
        "spectra-figure-module", "obscuration-figure-module", "characterise-figure-module",
        "detection-module"])
def test_an_edited_package_module_re_runs_the_rules_that_run_it(finished_run, module,
                                                                expected):
    path = finished_run / "workflow" / "xsurvey" / module
    original = path.read_text()
    path.write_text(original + "\n# edited\n")
    try:
        assert planned_jobs(finished_run) == expected
    finally:
        path.write_text(original)
    assert planned_jobs(finished_run) == {}


def test_every_rule_passes_the_digest_of_the_code_it_runs(tmp_path):
    """Each script rule's ``code`` param is the digest of its own script and package files,
    so the two cannot drift apart."""
    rules = [r for r in load_workflow(tmp_path)["rules"] if r["script"]]
    assert rules
    for rule in rules:
        assert rule["code"] == code_digest(rule["script_path"]), rule["name"]
