"""Throughput of detection + deblending + photometry on a realistic mosaic.

Builds a synthetic NuSTAR-like mosaic (about 750 x 750 sky pixels, a smooth
exposure of 200-800 ks falling to zero at the edge, the instrument's
background with a gradient, ~100 sources with a power-law flux
distribution spread with the PSF), or reads a real stack (``--stack
results/stacks/all/3-24``: counts, background and exposure FITS), then times

* the one-off setup (:class:`xsurvey.detect.Detector`: mask, top-hat sums,
  smoothed background, integer threshold counts), and
* one detect+deblend+photometry call per counts map (fresh Poisson
  realisations as in the replicas, or the real counts map repeatedly),
  returning the astropy Table and the plain-array variant, stage by stage,

and prints a cProfile summary of the per-call work.

Usage::

    python benchmarks/bench_detect.py [--size 750] [--nsrc 100] [--repeat 20] [--profile]
    python benchmarks/bench_detect.py --stack results/stacks/all/3-24 --band 3-24
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import time
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.wcs import WCS
from scipy.signal import fftconvolve

from xsurvey.detect import Detector, detection_table
from xsurvey.detect.peaks import _deblended_peaks
from xsurvey.instrument import load_instrument
from xsurvey.mosaic import tan_wcs

ROOT = Path(__file__).resolve().parents[1]


def make_wcs(size: int, pixel_arcsec: float) -> WCS:
    """Tangent-plane WCS centred on (150, 2) deg."""
    return tan_wcs((150.0, 2.0), (size, size), pixel_arcsec)


def make_mosaic(instrument, band: str, size: int = 750, nsrc: int = 100, seed: int = 1):
    """Expected-counts image, background and exposure of a synthetic survey.

    Returns
    -------
    model, background, exposure : numpy.ndarray
        Expected counts (sources + background), expected background counts
        per pixel, exposure (s).
    sources : dict
        ``x``, ``y`` (integer pixels), ``flux`` (erg/cm2/s), ``counts``.
    """
    rng = np.random.default_rng(seed)
    pix = instrument.pixel_arcsec
    yy, xx = np.mgrid[0:size, 0:size].astype(float)
    c = (size - 1) / 2.0
    r = np.hypot(xx - c, yy - c) / (0.45 * size)
    exposure = np.clip(800e3 - 600e3 * r**2, 0, None)
    exposure[r > 1.0] = 0.0
    pix_arcmin2 = (pix / 60.0) ** 2
    rate = (instrument.background.rate_cts_s_arcmin2 * instrument.band(band).background_share
            * len(instrument.modules))
    gradient = 1.0 + 0.3 * (xx / size)
    background = rate * pix_arcmin2 * exposure * gradient
    # Power-law fluxes N(>S) ~ S^-1.5 above 5e-15 (3-24 keV), capped at 3e-12.
    flux = 5e-15 * rng.uniform(0, 1, nsrc) ** (-1 / 1.5)
    flux = np.minimum(flux, 3e-12) * instrument.band_flux_ratio(band)
    inside = np.argwhere(exposure > 50e3)
    pick = inside[rng.integers(0, len(inside), nsrc)]
    sy, sx = pick[:, 0], pick[:, 1]
    counts = flux / instrument.cf(band) * exposure[sy, sx]
    delta = np.zeros((size, size))
    np.add.at(delta, (sy, sx), counts)
    model = fftconvolve(delta, instrument.psf_kernel(pix), mode="same")
    model = np.clip(model, 0, None) + background
    return model, background, exposure, {"x": sx, "y": sy, "flux": flux, "counts": counts}


def load_stack(path):
    """Counts (int), background, exposure and WCS of a stack directory."""

    path = Path(path)
    counts = fits.getdata(path / "counts.fits").astype(np.int64)
    bkg, expo = (fits.getdata(path / f"{k}.fits").astype(np.float64)
                 for k in ("background", "exposure"))
    return counts, bkg, expo, WCS(fits.getheader(path / "counts.fits")).celestial


def time_stages(det, maps, bkg) -> dict:
    """Fastest time (s) over the maps of each stage of :meth:`Detector.detect`.

    Stages are timed through the Detector's own methods; nested ones are
    obtained by difference (e.g. the significance is ``_candidates`` minus
    the top-hat sums), so small stages are noisy on a busy machine.
    """
    p = det.params

    def fastest(fn):
        best = np.inf
        for m in maps:
            t0 = time.perf_counter()
            fn(m)
            best = min(best, time.perf_counter() - t0)
        return best

    def peaks(m):
        a, pix, sig = det._candidates(m)
        t0 = time.perf_counter()
        _deblended_peaks(pix, sig, a.shape, p.threshold_log10, p.minarea, p.deblend_nthresh,
                         p.deblend_cont, det._grids)
        return time.perf_counter() - t0

    t_smooth = fastest(det.smooth)
    t_cand = fastest(det._candidates)
    t_peaks = min(peaks(m) for m in maps)
    t_find = fastest(det.find_peaks)
    x, y, _ = det.find_peaks(maps[0])
    t_measure = fastest(lambda m: det.measure(m, bkg, x, y))
    cols = det.measure(maps[0], bkg, x, y)
    t_table = fastest(lambda m: detection_table(cols, det.meta))
    return {"top-hat sums (integer, exact)": t_smooth,
            "-log10 P above threshold": max(t_cand - t_smooth, 0.0),
            "peaks (regions + deblending tree)": t_peaks,
            "sub-pixel positions": max(t_find - t_cand - t_peaks, 0.0),
            "photometry + deblending + DET_ML": t_measure,
            "astropy Table": t_table}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=750)
    ap.add_argument("--nsrc", type=int, default=100)
    ap.add_argument("--band", default="3-24")
    ap.add_argument("--stack", help="directory with counts/background/exposure.fits")
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--profile", action="store_true", help="print a cProfile summary")
    args = ap.parse_args(argv)

    inst = load_instrument(ROOT / "resources" / "instruments" / "nustar.yaml")
    if args.stack:
        counts, bkg, expo, wcs = load_stack(args.stack)
        maps = [counts] * args.repeat
        what = f"stack {args.stack}, {expo.shape[0]}x{expo.shape[1]}"
    else:
        model, bkg, expo, _ = make_mosaic(inst, args.band, args.size, args.nsrc)
        wcs = make_wcs(args.size, inst.pixel_arcsec)
        rng = np.random.default_rng(2)
        maps = [rng.poisson(model) for _ in range(args.repeat)]
        what = f"mosaic {args.size}x{args.size}, {args.nsrc} input sources"

    t0 = time.perf_counter()
    det = Detector(expo, wcs, inst, args.band, background=bkg)
    t_setup = time.perf_counter() - t0

    det.detect(maps[0])  # warm-up
    ndet, t_table, t_arrays = [], [], []
    for m in maps:
        t0 = time.perf_counter()
        ndet.append(len(det.detect(m)))
        t1 = time.perf_counter()
        det.detect_arrays(m)
        t_table.append(t1 - t0)
        t_arrays.append(time.perf_counter() - t1)

    print(f"{what}, band {args.band}, "
          f"exposure {expo[expo > 0].min() / 1e3:.0f}-{expo.max() / 1e3:.0f} ks")
    print(f"detections per map: mean {np.mean(ndet):.1f} (min {min(ndet)}, max {max(ndet)})")
    print(f"setup (Detector):                    {1e3 * t_setup:8.1f} ms (once per mosaic)")
    for name, ts in (("Table", t_table), ("dict ", t_arrays)):
        print(f"detect + deblend + photometry, {name}: median {1e3 * np.median(ts):6.1f} ms, "
              f"fastest {1e3 * min(ts):6.1f} ms per call")
    print("stages (fastest call):")
    for name, dt in time_stages(det, maps, bkg).items():
        print(f"  {name:36s}{1e3 * dt:8.1f} ms")
    if args.profile:
        prof = cProfile.Profile()
        prof.enable()
        for m in maps:
            det.detect(m)
        prof.disable()
        pstats.Stats(prof).sort_stats("tottime").print_stats(15)


if __name__ == "__main__":
    main()
