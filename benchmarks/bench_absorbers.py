"""Cost and Compton-thick hardness of the intrinsic absorbers.

For each absorber of :data:`xsurvey.instrument.ABSORBERS` on the NuSTAR instrument file:

* the seconds to build the replicas' :class:`xsurvey.instrument.SpectralGrid` (once per run,
  rule ``population``) and the microseconds of one evaluation of the fitted model
  (:class:`xsurvey.spectra.AbsorbedPowerLaw`, the spectra and obscuration fits);
* HR = (H - S)/(H + S) of the 3-8 and 8-24 keV count rates at N_H = 1e24 cm^-2 for
  Gamma = 1.8 and 1.9 at z = 0 and z = 1 (the Compton-thick thresholds of method.md §12);
* for the reprocessed absorber, the K-alpha equivalent width (eV, against the unabsorbed
  power law, Gamma = 1.9) at N_H = 1e22 ... 3e24 and the seconds of one column of the
  Monte-Carlo table (:func:`xsurvey.instrument.reprocessing.green_function`, N_H = 1e24).

Usage: python benchmarks/bench_absorbers.py
"""

import dataclasses
import os
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from xsurvey import spectra  # noqa: E402
from xsurvey.characterise import hardness  # noqa: E402
from xsurvey.instrument import ABSORBERS, SpectralGrid, load_instrument, reprocessing  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def fit_model(instrument, absorber):
    """The fitted model on the spectra stage's default channels (3-24 keV, 0.2 keV groups)."""
    grid = spectra.channel_grid(instrument, 3.0, 24.0)
    lo, hi = spectra.model_energies(instrument, grid)
    matrix = spectra.gaussian_rmf(lo, hi, grid, instrument.resolution.fwhm)
    area = instrument.effective_area(0.5 * (lo + hi)) * instrument.eef_aperture
    response = spectra.Response(lo, hi, area, matrix, 1.0e5).grouped(5)
    return spectra.AbsorbedPowerLaw(response, 0.0, instrument.nh_galactic_cm2, absorber)


def main():
    nustar = load_instrument(REPO / "resources" / "instruments" / "nustar.yaml")
    bands = [(3.0, 8.0), (8.0, 24.0), (3.0, 24.0)]
    print("absorber      grid_s  model_us  HR(1.8,z0) HR(1.9,z0) HR(1.8,z1) HR(1.9,z1)")
    for absorber in ABSORBERS:
        inst = dataclasses.replace(nustar, absorber=absorber)
        t0 = time.perf_counter()
        SpectralGrid(bands, absorber, inst.nh_galactic_cm2, inst.effective_area)
        grid_s = time.perf_counter() - t0
        model = fit_model(inst, absorber)
        model.counts(0.0, 1.9, 24.0)
        n = 300
        t0 = time.perf_counter()
        for _ in range(n):
            model.counts(0.0, 1.9, 24.0)
        model_us = (time.perf_counter() - t0) / n * 1e6
        hr = [hardness.hr_threshold(inst, "3-8", "8-24", 1e24, z, g)
              for z in (0.0, 1.0) for g in (1.8, 1.9)]
        print(f"{absorber:12s} {grid_s:7.1f} {model_us:9.0f}  " + "  ".join(
            f"{h:9.3f}" for h in hr))
    nh = np.array([1e22, 1e23, 3e23, 1e24, 3e24])
    ew = reprocessing.line_equivalent_widths(nh, 1.9)[:, 0] * 1e3
    print("K-alpha EW (eV, Gamma 1.9): " + ", ".join(
        f"N_H {v:.0e}: {w:.0f}" for v, w in zip(nh, ew, strict=True)))
    reprocessing.green_function(1e24, 100)               # compile
    t0 = time.perf_counter()
    reprocessing.green_function(1e24)
    print(f"Monte-Carlo table, one column (N_H 1e24, {reprocessing.TABLE_PHOTONS} photons x "
          f"{reprocessing.TABLE_ENERGY_EDGES_KEV.size - 1} energies): "
          f"{time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
