"""Figures of the quality stage. Functions take tables/arrays and return a Figure."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np


def area_vs_exposure(table, bands, title=""):
    """Cumulative area (deg^2) above an exposure (ks), one curve per band.

    Parameters
    ----------
    table : astropy.table.Table
        Columns ``band, exposure_ks, area_deg2``.
    bands : list of str
    """
    fig, ax = plt.subplots(figsize=(5.0, 3.8))
    for band in bands:
        t = table[table["band"] == band]
        ax.step(t["exposure_ks"], t["area_deg2"], where="post", label=f"{band} keV")
    ax.set_xscale("log")
    ax.set_xlabel("Exposure (FPMA+B, vignetting-corrected) [ks]")
    ax.set_ylabel(r"Area with exposure $\geq t$ [deg$^2$]")
    ax.set_title(title)
    ax.legend(frameon=False)
    return fig


def background_residual_histograms(table, bands, stats):
    """Histograms of (Data - Bgd)/Bgd per band with mean and standard deviation.

    Parameters
    ----------
    table : astropy.table.Table
        Columns ``band, residual``.
    bands : list of str
    stats : dict
        ``band -> {"mean", "std", "n"}``.
    """
    n = len(bands)
    fig, axes = plt.subplots(1, n, figsize=(2.6 * n, 2.8), sharey=True, squeeze=False)
    bins = np.linspace(-1.0, 1.0, 41)
    for ax, band in zip(axes[0], bands, strict=True):
        r = np.asarray(table["residual"][table["band"] == band], float)
        r = r[np.isfinite(r)]
        ax.hist(np.clip(r, bins[0], bins[-1]), bins=bins, histtype="stepfilled", alpha=0.6)
        s = stats[band]
        ax.axvline(0.0, color="k", lw=0.8)
        ax.set_title(f"{band} keV", fontsize=10)
        ax.text(0.03, 0.95, f"mean {s['mean']:+.3f}, std {s['std']:.3f}\n"
                f"clipped {s['clipped_mean']:+.3f}, {s['clipped_std']:.3f}\nN {s['n']}",
                transform=ax.transAxes, va="top", fontsize=8)
        ax.set_xlabel("(Data - Bgd) / Bgd")
    axes[0][0].set_ylabel("Circles")
    fig.tight_layout()
    return fig
