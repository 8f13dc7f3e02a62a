"""Throughput of the replica loop (render, detect, deblend, photometry, match).

Runs on the default demo stack (run `snakemake --cores all` first, or at least
`snakemake --cores all results/population/grid.npz results/detect/all/3-24.fits ...`) in
one thread, two ways in one process:

* joint: one replica = one sky rendered in the elementary bands and detected in every
  configured band (the pipeline's replicas);
* single: one replica = the sky of one band only (``--band``, default 3-24 keV), the
  work of one band's replica before the replicas were joint.

For each it prints the rate from the wall-clock time and from the CPU time of the process
(``time.process_time``) in band-replicas per second: a joint replica counts as one per
band. The last line, ``band-replicas/s/core (joint): <value>``, is the CPU-time rate of
the joint replicas.

Usage: python benchmarks/bench_replicas.py [--band 3-24] [--stack all] [--replicas 40]
       [--profile]
"""

import argparse
import cProfile
import os
import pstats
import sys
import time
import warnings
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")


from xsurvey import simulate  # noqa: E402
from xsurvey.config import default_config  # noqa: E402
from xsurvey.instrument import load_instrument  # noqa: E402
from xsurvey.mosaic import MAP_KINDS  # noqa: E402
from xsurvey.population import population_from_config  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def measure(setup, replicas: int, profile: bool = False):
    """CPU and wall seconds of ``replicas`` replicas (after one warm-up), detections each."""
    simulate.run_replica(setup, 0)  # warm caches
    prof = cProfile.Profile() if profile else None
    if prof:
        prof.enable()
    t0, c0 = time.perf_counter(), time.process_time()
    n_det = 0
    for i in range(1, replicas + 1):
        det, _ = simulate.run_replica(setup, i)
        n_det += len(det["ra"])
    dt, dc = time.perf_counter() - t0, time.process_time() - c0
    if prof:
        prof.disable()
        pstats.Stats(prof).sort_stats("cumulative").print_stats(25)
    return dt, dc, n_det / replicas


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--band", default="3-24")
    ap.add_argument("--stack", default="all")
    ap.add_argument("--replicas", type=int, default=40)
    ap.add_argument("--profile", action="store_true")
    args = ap.parse_args(argv)
    warnings.simplefilter("ignore")
    cfg = default_config(REPO)
    inst = load_instrument(REPO / cfg["instrument"])
    res = REPO / "results"
    grid = res / "population" / "grid.npz"
    real = {b: res / "detect" / args.stack / f"{b}.fits" for b in cfg["bands"]}
    missing = [p for p in (grid, *real.values()) if not p.exists()]
    if missing:
        sys.exit(f"missing {missing[0]}: run the demo first (snakemake --cores all)")
    population = population_from_config(cfg["population"], inst, grid=grid)
    maps = {b: {k: res / "stacks" / args.stack / b / f"{k}.fits" for k in MAP_KINDS}
            for b in cfg["bands"]}
    sim = cfg["simulations"]
    setups = {}
    for name, bands in (("joint", cfg["bands"]), ("single", [args.band])):
        t0 = time.perf_counter()
        setups[name] = simulate.setup_from_files(
            {b: maps[b] for b in bands}, {b: real[b] for b in bands}, inst, population,
            args.stack, cfg["seed"], cfg["detection"], sim.get("bright_flux"),
            sim.get("truth", "flux"), sim.get("truth_share", 0.25))
        print(f"{name} setup ({', '.join(bands)}): {time.perf_counter() - t0:.2f} s")
    rates = {}
    for name in ("single", "joint"):
        setup = setups[name]
        dt, dc, n_det = measure(setup, args.replicas, args.profile and name == "joint")
        nb = len(setup.bands)
        rates[name] = nb * args.replicas / dc
        print(f"{name}: stack {args.stack}, bands {', '.join(setup.bands)}, mosaic "
              f"{setup.shape}: {args.replicas} replicas in {dt:.2f} s wall, {dc:.2f} s CPU "
              f"({1e3 * dc / args.replicas:.0f} ms CPU each, {n_det:.0f} detections per "
              f"replica); wall-clock rate {nb * args.replicas / dt:.2f} band-replicas/s")
    print(f"band-replicas/s/core ({args.band} only): {rates['single']:.2f}")
    print(f"band-replicas/s/core (joint): {rates['joint']:.2f}")


if __name__ == "__main__":
    main()
