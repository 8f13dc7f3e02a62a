"""Spurious sources of the demo's catalogues against NSPUR, and the obscured fractions
against the truth, over several demo realisations.

Runs the default demo survey once per demo seed (the same configuration otherwise) in its
own directory, up to the truth check of its 95% and 99% catalogues, and tabulates per
realisation and pooled: sources, spurious sources by the replicas' rule (a source is real
only when one true source within the match radius gives at least ``truth_share`` of its
best-band net counts), NSPUR (the sum of the catalogue's p_spurious) and the two-sided
Poisson probability of the spurious count given NSPUR. Then, per realisation, the naive and
intrinsic obscured and Compton-thick fractions of the forward model (method.md §16) against
the demo's true population fractions, and how many 68% intervals cover the truth.

Usage: python validation/realisations.py [--seeds 42 43 44 45 46] [--workdir DIR]
       [--cores 2] [--config my_config.yaml] [--out table.csv]
       [--obscuration-out fractions.csv]

Each realisation takes a few minutes on 2 cores; finished runs are reused (Snakemake
re-runs nothing), so the script can be interrupted and restarted.
"""

import argparse
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import yaml

from xsurvey.catalog import poisson_two_sided
from xsurvey.config import default_config

REPO = Path(__file__).resolve().parents[1]
TARGETS = ("results/catalog/all/truth_check.csv", "results/obscuration/all/fractions.csv")


def run_realisation(workdir: Path, cfg: dict, seed: int, cores: int) -> list[pd.DataFrame]:
    """One demo realisation (``demo.seed = seed``); returns its tables of :data:`TARGETS`
    (all stacks, columns ``stack`` and ``seed`` added)."""
    work = workdir / f"seed{seed}"
    (work / "config").mkdir(parents=True, exist_ok=True)
    for name in ("Snakefile", "workflow", "resources", "envs", "profiles"):
        if not (work / name).exists():
            os.symlink(REPO / name, work / name)
    for name in ("schemas", "template.yaml"):
        if not (work / "config" / name).exists():
            os.symlink(REPO / "config" / name, work / "config" / name)
    run_cfg = {**cfg, "demo": {**cfg["demo"], "seed": int(seed)}}
    (work / "config" / "config.yaml").write_text(yaml.safe_dump(run_cfg, sort_keys=False))
    (work / "config" / "observations.tsv").write_text(
        (REPO / "config" / "observations.tsv").read_text())
    stacks = list(run_cfg["stacks"])
    targets = [t.replace("/all/", f"/{s}/") for t in TARGETS for s in stacks]
    proc = subprocess.run([sys.executable, "-m", "snakemake", "--cores", str(cores), *targets],
                          cwd=work, capture_output=True, text=True)
    if proc.returncode:
        sys.exit(f"demo seed {seed} failed:\n{proc.stderr[-4000:]}")
    return [pd.concat([pd.read_csv(work / t.replace("/all/", f"/{s}/")).assign(stack=s,
                                                                                seed=seed)
                       for s in stacks], ignore_index=True) for t in TARGETS]


def summarise(table: pd.DataFrame) -> pd.DataFrame:
    """Per-realisation rows and one pooled row per stack and level."""
    rows = [table[["seed", "stack", "reliability", "n_sources", "n_spurious",
                   "expected_spurious", "poisson_p"]]]
    pooled = table.groupby(["stack", "reliability"], as_index=False)[
        ["n_sources", "n_spurious", "expected_spurious"]].sum()
    pooled["poisson_p"] = [poisson_two_sided(n, e) for n, e in
                           zip(pooled.n_spurious, pooled.expected_spurious, strict=True)]
    pooled.insert(0, "seed", "pooled")
    return pd.concat([*rows, pooled], ignore_index=True)


def obscuration_coverage(table: pd.DataFrame) -> pd.DataFrame:
    """Per realisation, stack and fraction: naive and intrinsic values against the truth
    (the demo population's fraction), whether each 68% interval covers it; then one row per
    stack and fraction with the number of realisations covered."""
    t = table.copy()
    t["naive_covers"] = (t.naive_lo <= t.population) & (t.population <= t.naive_hi)
    t["intrinsic_covers"] = (t.intrinsic_lo <= t.population) & (t.population <= t.intrinsic_hi)
    rows = t[["seed", "stack", "quantity", "n_sources", "population", "naive", "naive_lo",
              "naive_hi", "naive_covers", "intrinsic", "intrinsic_lo", "intrinsic_hi",
              "intrinsic_covers"]]
    pooled = t.groupby(["stack", "quantity"], as_index=False).agg(
        n_sources=("n_sources", "sum"), population=("population", "first"),
        naive=("naive", "mean"), intrinsic=("intrinsic", "mean"),
        naive_covers=("naive_covers", "sum"), intrinsic_covers=("intrinsic_covers", "sum"))
    pooled.insert(0, "seed", f"covered of {t.seed.nunique()}")
    return pd.concat([rows, pooled], ignore_index=True)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[42, 43, 44, 45, 46])
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/xsurvey-realisations"))
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--config", type=Path, help="a complete configuration (default: the "
                    "demo's, config/template.yaml with config/config.yaml)")
    ap.add_argument("--out", type=Path, help="write the table (CSV) here too")
    ap.add_argument("--obscuration-out", type=Path,
                    help="write the obscured-fractions table (CSV) here too")
    args = ap.parse_args(argv)
    cfg = yaml.safe_load(args.config.read_text()) if args.config else default_config(REPO)
    runs = [run_realisation(args.workdir, cfg, s, args.cores) for s in args.seeds]
    for tables, path, summary in zip(zip(*runs, strict=True), (args.out, args.obscuration_out),
                                     (summarise, obscuration_coverage), strict=True):
        out = summary(pd.concat(tables, ignore_index=True))
        print(out.to_string(index=False, float_format=lambda v: f"{v:.3g}"))
        if path:
            out.to_csv(path, index=False, float_format="%.4g")


if __name__ == "__main__":
    main()
