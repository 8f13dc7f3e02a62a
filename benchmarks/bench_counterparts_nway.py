"""Soft-X-ray to optical identifications: xsurvey's likelihood ratio against NWAY.

Matches the demo soft-X-ray source list to the demo optical (i-band) catalogue
twice -- with :func:`xsurvey.counterparts.likelihood_ratio_match` (Sutherland &
Saunders 1992, method.md §11) and with NWAY (Salvato et al. 2018, Bayesian
distance + automatic magnitude prior, ``nwaylib.nway_match``) -- and scores
both against the demo truth (``optical_truth.fits``: the optical counterpart
of each soft source). For each method and selection it prints the number of
identifications, the fraction that are the true counterpart (purity) and the
fraction of soft sources with a true counterpart in the catalogue that are
correctly identified (completeness).

NWAY is installed with ``pip install nway`` when missing (only this benchmark
uses it). Both methods get the same positional errors (soft ``pos_err``,
optical 0.2", 1-sigma per coordinate) and the same prior: NWAY's
``prior_completeness`` is the Q that the likelihood ratio estimates.

Usage::

    python benchmarks/bench_counterparts_nway.py                # results/demo files
    python benchmarks/bench_counterparts_nway.py --build 40     # build a 40' demo sky

Without ``--build`` the demo files under ``results/demo`` (from the workflow)
are used when present, else a demo sky is built from ``config/config.yaml``.
"""

from __future__ import annotations

import argparse
import copy
import importlib
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from astropy.table import Table

from xsurvey import counterparts as cp
from xsurvey import demo
from xsurvey.config import default_config
from xsurvey.instrument import load_instrument
from xsurvey.population import population_from_config

ROOT = Path(__file__).resolve().parents[1]


def ensure_nway():
    """Import nwaylib, installing the ``nway`` package with pip if needed."""
    try:
        return importlib.import_module("nwaylib")
    except ImportError:
        pass
    print("nway is not installed: running `pip install nway` ...", flush=True)
    proc = subprocess.run([sys.executable, "-m", "pip", "install", "nway"],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit("ERROR: this benchmark needs NWAY (Salvato et al. 2018) and `pip install nway` "
                 f"failed (exit {proc.returncode}):\n{proc.stderr[-2000:]}\n"
                 "Install it by hand (pip install nway) and run again.")
    importlib.invalidate_caches()
    try:
        return importlib.import_module("nwaylib")
    except ImportError as exc:
        sys.exit(f"ERROR: `pip install nway` succeeded but nwaylib cannot be imported: {exc}")


def demo_catalogs(build_arcmin: float | None):
    """Soft-X list, optical catalogue, optical truth and sky area (deg^2)."""
    files = {k: ROOT / "results/demo" / p for k, p in {
        "softx": "catalogs/softx.fits", "optical": "catalogs/optical.fits",
        "optical_truth": "truth/optical_truth.fits"}.items()}
    if build_arcmin is None and all(p.exists() for p in files.values()):
        print(f"demo catalogues from {ROOT / 'results/demo'}")
        softx, optical, truth = (Table.read(files[k]) for k in ("softx", "optical",
                                                                 "optical_truth"))
        return softx, optical, truth, float(softx.meta["AREA"])

    full = default_config(ROOT)
    cfg = copy.deepcopy(full["demo"])
    if build_arcmin is not None:
        cfg["sky_size_arcmin"] = float(build_arcmin)
    print(f"building a demo sky of {cfg['sky_size_arcmin']}' (config/config.yaml demo section)")
    inst = load_instrument(ROOT / "resources/instruments/nustar.yaml")
    sky = demo.make_demo_sky(inst, cfg, population_from_config(full["population"], inst))
    softx, _, optical, truth = demo.make_ancillary_catalogs(inst, sky, cfg)
    return softx, optical, truth, float(softx.meta["AREA"])


def standard_tables(softx, optical):
    xray = Table({"id": np.asarray(softx["id"]).astype(str), "ra": softx["ra"],
                  "dec": softx["dec"], "pos_err": softx["pos_err"]})
    opt = Table({"id": np.asarray(optical["id"]).astype(str), "ra": optical["ra"],
                 "dec": optical["dec"], "pos_err": optical["pos_err"], "mag": optical["mag_i"],
                 "redshift": np.full(len(optical), np.nan)})
    opt.meta.update({"NAME": "optical", "KIND": "optical", "PRIORITY": 0})
    return xray, opt


def run_nway(nwaylib, xray, opt, area_deg2, prior, radius_arcsec, mag_radius=None):
    """Best NWAY candidate per soft source: optical row (-1 none), p_any, p_i.

    ``mag_radius`` None: NWAY's default magnitude prior (histogram of the
    secure Bayesian-distance matches); a radius (arcsec): histogram of the
    objects within it, as the likelihood ratio's q(m).
    """
    from nwaylib.logger import NullOutputLogger  # optional: installed on demand by main()

    tables = [
        {"name": "XRAY", "ra": np.asarray(xray["ra"], float),
         "dec": np.asarray(xray["dec"], float), "error": np.asarray(xray["pos_err"], float),
         "area": area_deg2, "mags": [], "magnames": [], "maghists": []},
        {"name": "OPT", "ra": np.asarray(opt["ra"], float), "dec": np.asarray(opt["dec"], float),
         "error": np.asarray(opt["pos_err"], float), "area": area_deg2,
         "mags": [np.asarray(opt["mag"], float)], "magnames": ["mag"], "maghists": [None]},
    ]
    res = nwaylib.nway_match(tables, match_radius=radius_arcsec, prior_completeness=prior,
                             mag_include_radius=mag_radius, store_mag_hists=False,
                             logger=NullOutputLogger())
    if "XRAY" not in res.columns:  # pandas >= 3 moves the group key into the index
        res = res.reset_index(level="XRAY")
    best = res[(res["match_flag"] == 1) & (res["OPT"] >= 0)]
    n = len(xray)
    row = np.full(n, -1, np.int64)
    p_i = np.zeros(n)
    p_any = np.zeros(n)
    xr = best["XRAY"].to_numpy(np.int64)
    row[xr] = best["OPT"].to_numpy(np.int64)
    p_i[xr] = best["prob_this_match"].to_numpy(float)
    p_any[xr] = best["prob_has_match"].to_numpy(float)
    return row, p_any, p_i


def score(name, ids, truth, n_true):
    """Print and return (N identified, purity, completeness)."""
    ids = np.asarray(ids).astype(str)
    sel = ids != ""
    correct = int(np.sum(ids[sel] == truth[sel]))
    purity = correct / max(sel.sum(), 1)
    completeness = correct / n_true
    print(f"  {name:<46s} {sel.sum():6d} {purity:9.3f} {completeness:13.3f}")
    return int(sel.sum()), purity, completeness


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--build", type=float, default=None, metavar="ARCMIN",
                        help="build a demo sky of this size instead of reading results/demo")
    parser.add_argument("--radius", type=float, default=15.0,
                        help="NWAY match radius (arcsec)")
    args = parser.parse_args(argv)

    nwaylib = ensure_nway()
    softx, optical, otruth, area = demo_catalogs(args.build)
    xray, opt = standard_tables(softx, optical)
    true_of = {str(s): str(o) for o, s in zip(otruth["id"], otruth["softx_id"], strict=True)
               if s >= 0}
    truth = np.array([true_of.get(i, "") for i in xray["id"]])
    n_true = int(np.count_nonzero(truth != ""))
    print(f"{len(xray)} soft-X sources, {len(opt)} optical objects, {area:.3f} deg^2; "
          f"{n_true} soft sources have their counterpart in the optical catalogue "
          f"(Q_true = {n_true / len(xray):.3f})")

    t0 = time.perf_counter()
    res = cp.likelihood_ratio_match(xray, opt)
    t_lr = time.perf_counter() - t0
    s = res.sources
    cls = np.asarray(s["ctp_class"]).astype(str)
    best_lr = np.asarray(s["ctp_id"]).astype(str)
    oid = np.asarray(opt["id"]).astype(str)
    header = f"  {'method / selection':<46s} {'N_id':>6s} {'purity':>9s} {'completeness':>13s}"

    print(f"\nlikelihood ratio: Q = {res.q_estimated:.3f}, LR_th = {res.lr_threshold:.3g}, "
          f"estimated R = {res.reliability:.3f}, C = {res.completeness:.3f}  ({t_lr:.2f} s)")
    print(header)
    n_sec, _, _ = score("LR secure", np.where(cls == "secure", best_lr, ""), truth, n_true)
    score("LR secure + ambiguous",
          np.where(np.isin(cls, ["secure", "ambiguous"]), best_lr, ""), truth, n_true)
    score("LR best candidate, no threshold", best_lr, truth, n_true)

    for label, mag_radius in (("default magnitude prior", None),
                              ('magnitude prior within 5"', 5.0)):
        t0 = time.perf_counter()
        row, p_any, p_i = run_nway(nwaylib, xray, opt, area, res.q_estimated, args.radius,
                                   mag_radius)
        t_nway = time.perf_counter() - t0
        best_nw = np.where(row >= 0, oid[np.maximum(row, 0)], "")
        print(f"\nnway {nwaylib.__version__}, {label}: prior completeness "
              f"{res.q_estimated:.3f}, radius {args.radius:g}\"  ({t_nway:.2f} s)")
        print(header)
        for p_min in (0.5, 0.8):
            score(f"nway p_any > {p_min} (best match)", np.where(p_any > p_min, best_nw, ""),
                  truth, n_true)
        top = np.argsort(-(p_any * p_i), kind="stable")[:n_sec]
        sel = np.zeros(len(xray), bool)
        sel[top] = True
        score(f"nway top {n_sec} by p_any*p_i (= N of LR secure)",
              np.where(sel, best_nw, ""), truth, n_true)
        score("nway best match, no threshold", best_nw, truth, n_true)
    secure = cls == "secure"
    print(f"\n  LR secure: mean reliability {np.mean(s['ctp_rel'][secure]):.3f} vs true "
          f"fraction {np.mean(best_lr[secure] == truth[secure]):.3f}")


if __name__ == "__main__":
    main()
