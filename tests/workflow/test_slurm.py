"""The SLURM profile on a real single-node SLURM cluster gives the local run's results.

Starts munged, slurmctld and slurmd on this machine (``tests/workflow/slurm_cluster.py``; needs root
and Debian's slurm-wlm and munge, which ``.ci/run`` installs), runs the tiny demo up to the
calibration and the catalogues as the usage docs say, ``--workflow-profile profiles/slurm``
(the workflow's resources) with ``--profile <site>`` (this cluster's partition, no account),
and compares with a local run of the same configuration.
Skipped where the cluster cannot be started.
"""

import importlib.util
import re
from concurrent.futures import ThreadPoolExecutor

import pytest
import yaml

from ..workflow_utils import (
    REPO,
    assert_same_table,
    make_workdir,
    run_snakemake,
    tiny_config,
    tiny_observations,
)
from .slurm_cluster import PARTITION, SlurmCluster, unavailable_reason

pytestmark = [pytest.mark.slurm, pytest.mark.workflow]

#: The compared products: every calibration table and both catalogues (and what they need:
#: demo inputs, mosaics, detection, the replica chunks).
TARGETS = ("results/calibration/all/thresholds.csv", "results/catalog/all/catalog_95.fits",
           "results/catalog/all/catalog_99.fits")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    reason = unavailable_reason()
    if reason is None and importlib.util.find_spec("snakemake_executor_plugin_slurm") is None:
        reason = "snakemake-executor-plugin-slurm is not installed (pip install -e '.[test]')"
    if reason:
        pytest.skip(reason)
    c = SlurmCluster(tmp_path_factory.mktemp("slurm"))
    try:
        c.start()
    except RuntimeError as err:
        c.stop()
        pytest.skip(f"could not start a local SLURM cluster: {err}")
    yield c
    c.stop()


def test_profile_runs_a_tiny_survey(cluster, tmp_path):
    profile = yaml.safe_load((REPO / "profiles" / "slurm" / "config.yaml").read_text())
    assert profile["executor"] == "slurm"
    assert profile["groups"]["simulate"] in profile["group-components"]
    # the workflow profile applies after --profile and replaces its top-level keys whole:
    # it must leave default-resources (the site's account and partition) to the site
    assert "default-resources" not in profile
    site = {"default-resources": {"slurm_partition": PARTITION}, "slurm-no-account": True}
    # fail fast; quick status checks; finished jobs are looked up with squeue (no slurmdbd)
    profile.update({"retries": 0, "keep-going": False,
                    "latency-wait": 10, "slurm-status-command": "squeue",
                    "slurm-init-seconds-before-status-checks": 1,
                    "slurm-keep-successful-logs": True})
    # Each cluster job starts snakemake twice (~5-10 s here) and the executor's status
    # checks back off by 10 s more each time nothing has finished, so the tiny DAG runs as
    # three cluster jobs in a row: demo inputs to detection, the profile's group of
    # replica chunks, calibration + catalogue.
    profile["groups"].update(population="maps", demo_sky="maps", demo_observation="maps",
                             check_observation="maps", mosaic_epoch="maps",
                             mosaic_stack="maps", detect="maps", calibrate="catalog",
                             catalog="catalog")
    profile["group-components"].update(maps=1, catalog=1)
    for name, content in (("workflow_profile", profile), ("site", site)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "config.yaml").write_text(yaml.safe_dump(content, sort_keys=False))

    # two epochs, two bands: 2 joint replica chunks (both bands from one sky)
    cfg, obs = tiny_config(), tiny_observations()
    local = make_workdir(tmp_path / "local", cfg, obs)
    work = make_workdir(tmp_path / "slurm", cfg, obs)
    # the local reference runs while the cluster run mostly waits for its status checks
    with ThreadPoolExecutor(1) as pool:
        on_cluster = pool.submit(run_snakemake, work, "--profile", str(tmp_path / "site"),
                                 "--workflow-profile", str(tmp_path / "workflow_profile"),
                                 *TARGETS, cores=None, env=cluster.env, timeout=900,
                                 check=False)
        run_snakemake(local, *TARGETS)
        proc = on_cluster.result()
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"{log[-6000:]}\n{cluster.logs()}"

    # every job ran on the cluster, the two replica chunks in one group job
    jobids = set(re.findall(r"submitted with SLURM jobid (\d+)", log))
    queue = cluster.run("squeue", "--noheader", "--states", "all", "--format", "%i %T").stdout
    assert len(jobids) == 3, log[-6000:]
    assert all(f"{j} COMPLETED" in queue for j in jobids), queue
    logs = sorted(p.relative_to(work) for p in (work / ".snakemake" / "slurm_logs").rglob("*.log"))
    sims = [p for p in logs if p.parts[2].startswith("group_sims")]
    assert len(sims) == 1, logs
    # the group job asks for what its members, run one after the other, need: one CPU,
    # the memory of one chunk, the sum of their wall times
    request = cluster.run("squeue", "--noheader", "--states", "all", "--jobs", sims[0].stem,
                          "--format", "%C %m %l %P").stdout.split()
    chunk = {k: eval(str(v), {"attempt": 1})  # e.g. "6000 * attempt"
             for k, v in profile["set-resources"]["simulate"].items()}
    hours, minutes = divmod(2 * chunk["runtime"], 60)
    assert request == ["1", f"{chunk['mem_mb']}M", f"{hours}:{minutes:02d}:00", PARTITION], \
        request
    chunks = sorted(p.name for p in (work / "results" / "sims").rglob("chunk*.parquet"))
    assert len(chunks) == 2 * 2  # 2 chunks, detections + inputs

    # the same bytes as the local run
    tables = sorted((local / "results" / "calibration" / "all").glob("*.csv"))
    assert len(tables) >= 6
    for f in tables:
        assert (work / f.relative_to(local)).read_bytes() == f.read_bytes(), f.name
    for level in (95, 99):
        rel = f"results/catalog/all/catalog_{level}"
        a = assert_same_table(local / f"{rel}.fits", work / f"{rel}.fits")
        assert level == 99 or len(a) > 0
        assert (work / f"{rel}.csv").read_bytes() == (local / f"{rel}.csv").read_bytes()
