"""Throughput of the replica loop (render, detect, deblend, photometry, match).

Runs on one band of the default demo stack (run `snakemake --cores all` first, or at least
`snakemake --cores all results/detect/all/3-24.fits`), in one thread, and prints the rate both
from the wall-clock time and from the CPU time of the process (``time.process_time``). The
last line, ``band-replicas/s/core: <value>``, is the CPU-time rate: replicas per CPU-second of
the single thread, which on a shared machine does not count the time other processes hold the
core.

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

import yaml  # noqa: E402

from xsurvey import simulate  # noqa: E402
from xsurvey.instrument import load_instrument  # noqa: E402
from xsurvey.mosaic import MAP_KINDS  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--band", default="3-24")
    ap.add_argument("--stack", default="all")
    ap.add_argument("--replicas", type=int, default=40)
    ap.add_argument("--profile", action="store_true")
    args = ap.parse_args(argv)
    warnings.simplefilter("ignore")
    cfg = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    inst = load_instrument(REPO / cfg["instrument"])
    stack_dir = REPO / "results" / "stacks" / args.stack / args.band
    real_file = REPO / "results" / "detect" / args.stack / f"{args.band}.fits"
    if not real_file.exists():
        sys.exit(f"missing {real_file}: run the demo first (snakemake --cores all)")
    t0 = time.perf_counter()
    setup = simulate.setup_from_files(
        {k: stack_dir / f"{k}.fits" for k in MAP_KINDS}, real_file, inst, args.band, args.stack,
        cfg["seed"], cfg["simulations"]["lognlogs"], cfg["detection"],
        cfg["simulations"].get("bright_flux"))
    t_setup = time.perf_counter() - t0
    simulate.run_replica(setup, 0)  # warm caches
    prof = cProfile.Profile() if args.profile else None
    if prof:
        prof.enable()
    t0, c0 = time.perf_counter(), time.process_time()
    n_det = 0
    for i in range(1, args.replicas + 1):
        det, _ = simulate.run_replica(setup, i)
        n_det += len(det["ra"])
    dt, dc = time.perf_counter() - t0, time.process_time() - c0
    if prof:
        prof.disable()
        pstats.Stats(prof).sort_stats("cumulative").print_stats(25)
    print(f"stack {args.stack}, band {args.band}, mosaic {setup.exposure.shape}: setup "
          f"{t_setup:.2f} s; {args.replicas} replicas in {dt:.2f} s wall, {dc:.2f} s CPU "
          f"({1e3 * dt / args.replicas:.0f} ms wall, {1e3 * dc / args.replicas:.0f} ms CPU each, "
          f"{n_det / args.replicas:.0f} detections per replica)")
    print(f"wall-clock rate: {args.replicas / dt:.2f} band-replicas/s")
    print(f"band-replicas/s/core: {args.replicas / dc:.2f}")


if __name__ == "__main__":
    main()
