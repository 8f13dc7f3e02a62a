"""A run killed midway and started again completes with identical results."""

import os
import signal
import subprocess
import sys
import time

import pytest

from ..workflow_utils import (
    assert_same_table,
    make_workdir,
    run_snakemake,
    tiny_config,
    tiny_observations,
)

pytestmark = pytest.mark.workflow


def _products(results):
    """Every CSV of the calibration, catalogue and later stages, and the catalogue tables."""
    csv = {p.relative_to(results).as_posix(): p.read_bytes()
           for stage in ("calibration", "catalog", "lognlogs", "counterparts", "spectral",
                         "variability")
           for p in sorted((results / stage).rglob("*.csv"))}
    tables = sorted(p.relative_to(results) for p in (results / "catalog").rglob("catalog_*.fits"))
    return csv, tables


def _kill_when(work, marker_glob, timeout_s=300):
    """Start snakemake, SIGKILL its whole process group once ``marker_glob`` matches."""
    proc = subprocess.Popen([sys.executable, "-m", "snakemake", "--cores", "2"], cwd=work,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    t0 = time.monotonic()
    try:
        while not list(work.glob(marker_glob)):
            if proc.poll() is not None:
                pytest.fail(f"snakemake finished (rc {proc.returncode}) before {marker_glob}")
            if time.monotonic() - t0 > timeout_s:
                pytest.fail(f"{marker_glob} did not appear within {timeout_s} s")
            time.sleep(0.2)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def test_killed_run_restarts_to_identical_results(tmp_path, tiny_run):
    ref_csv, ref_tables = _products(tiny_run / "results")
    work = make_workdir(tmp_path, tiny_config(), tiny_observations())
    # killed while the replicas are being simulated: some chunks done, others running
    _kill_when(work, "results/sims/all/chunk1.parquet")
    assert not (work / "results" / "calibration" / "all" / "thresholds.csv").exists()
    # a killed snakemake leaves its lock: --unlock, then run again (the default profile
    # sets rerun-incomplete, so the half-written chunks are redone)
    run_snakemake(work, "--unlock")
    run_snakemake(work)
    csv, tables = _products(work / "results")
    assert csv.keys() == ref_csv.keys() and len(csv) > 20
    for name in csv:
        assert csv[name] == ref_csv[name], name
    assert tables == ref_tables and tables
    for name in tables:
        assert_same_table(work / "results" / name, tiny_run / "results" / name)
