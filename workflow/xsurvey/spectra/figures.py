"""Figures of the spectra stage. Functions take spectra and fits and return a Figure."""

from __future__ import annotations

import matplotlib
import matplotlib.pyplot as plt
import numpy as np

from xsurvey.spectra.fit import profile_background


def spectra_with_fits(panels, ncol: int = 2, title: str = ""):
    """Spectra with their best fits and residuals, one source per panel.

    Parameters
    ----------
    panels : sequence of dict
        Per source: ``spectrum`` (:class:`xsurvey.spectra.SourceSpectrum`), ``values`` (the
        fitted parameters) and ``label`` (the panel's title).
    ncol : int
        Panels per row.

    The data are counts s^-1 keV^-1 with Poisson (sqrt(max(n, 1))) errors; the model is the
    source model plus the background expected in the aperture (profiled, as in the
    W-statistic), drawn dashed alone; residuals are (data - model) / sqrt(model).
    """
    n = max(1, len(panels))
    ncol = min(ncol, n)
    nrow = int(np.ceil(n / ncol))
    fig = plt.figure(figsize=(4.4 * ncol, 4.0 * nrow), layout="constrained")
    cells = np.atleast_1d(fig.subfigures(nrow, ncol, squeeze=False).ravel())
    for cell, panel in zip(cells, panels, strict=False):
        top, bottom = cell.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1]})
        s, values = panel["spectrum"], panel["values"]
        source = s.model.counts(**values)
        background = profile_background(s.counts, s.background, source, s.alpha)
        total = source + background
        edges = np.r_[s.e_min, s.e_max[-1]]
        scale = 1.0 / (s.exposure_s * (s.e_max - s.e_min))
        mid = 0.5 * (s.e_min + s.e_max)
        top.errorbar(mid, s.counts * scale, yerr=np.sqrt(np.maximum(s.counts, 1)) * scale,
                     fmt=".", ms=3, color="0.2", lw=0.7, label="data")
        top.stairs(total * scale, edges, color="C3", lw=1.3, label="model + background")
        top.stairs(background * scale, edges, color="C0", lw=1.0, ls="--", label="background")
        top.set_yscale("log")
        top.set_ylabel(r"counts s$^{-1}$ keV$^{-1}$")
        top.set_title(panel["label"], fontsize=8)
        bottom.axhline(0.0, color="0.5", lw=0.8)
        bottom.plot(mid, (s.counts - total) / np.sqrt(np.maximum(total, 1e-9)), ".", ms=3,
                    color="0.2")
        bottom.set_ylabel(r"$\chi$")
        bottom.set_xlabel("Energy [keV]")
        bottom.set_xscale("log")
        bottom.set_xlim(edges[0], edges[-1])
        ticks = [t for t in (3, 5, 10, 20, 30, 50) if edges[0] <= t <= edges[-1]]
        bottom.set_xticks(ticks, [str(t) for t in ticks])
        bottom.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        if cell is cells[0]:
            top.legend(frameon=False, fontsize=7, loc="lower left")
    for cell in cells[len(panels):]:
        cell.set_visible(False)
    if title:
        fig.suptitle(title, fontsize=11)
    return fig
