"""Figures of the catalog stage. Functions take tables/arrays and return a Figure."""

from __future__ import annotations

import numpy as np

from xsurvey.instrument.core import band_suffix
from xsurvey.plotting import FLUX_LABEL, grid_axes


def flux_distributions(catalog, bands, bins_per_decade=8, title=""):
    """Histograms of log flux per band: measured fluxes and upper limits.

    Parameters
    ----------
    catalog : astropy.table.Table or pandas.DataFrame
        :func:`xsurvey.catalog.build_catalog` output (``flux_<sfx>``,
        ``ul_<sfx>``; suffix = band with '-' -> '_').
    bands : list of str
    bins_per_decade : int
        Histogram bins per decade of flux.
    title : str
        Figure title.
    """
    fig, axes = grid_axes(len(bands), width=3.2, height=2.8)
    for ax, band in zip(axes.ravel(), bands, strict=False):
        s = band_suffix(band)
        flux = np.asarray(catalog[f"flux_{s}"], float)
        ul = np.asarray(catalog[f"ul_{s}"], bool)
        pos = np.isfinite(flux) & (flux > 0)
        lf = np.log10(flux[pos])
        if lf.size:
            lo = np.floor(lf.min() * bins_per_decade) / bins_per_decade
            hi = np.ceil(lf.max() * bins_per_decade) / bins_per_decade
            bins = np.arange(lo, hi + 0.5 / bins_per_decade, 1.0 / bins_per_decade)
            if bins.size < 2:
                bins = np.array([lo, lo + 1.0 / bins_per_decade])
            det, lim = lf[~ul[pos]], lf[ul[pos]]
            ax.hist(det, bins=bins, histtype="stepfilled", color="C0", alpha=0.5,
                    label=f"detected ({det.size})")
            ax.hist(lim, bins=bins, histtype="step", color="C3", lw=1.3, hatch="///",
                    label=f"upper limits ({lim.size})")
        ax.set_xlabel(rf"log$_{{10}}$ {band} keV flux [{FLUX_LABEL}]")
        ax.set_ylabel("Sources")
        ax.set_title(f"{band} keV", fontsize=10)
        ax.legend(frameon=False, fontsize=7, loc="best")
    if title:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return fig
