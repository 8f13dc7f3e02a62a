"""Figures of the population stage. Functions take tables/arrays and return a Figure."""

from __future__ import annotations

import matplotlib.pyplot as plt

from xsurvey.plotting import FLUX_LABEL


def population_counts(counts_table, intensity=None, title=""):
    """Number counts of the source population per band, Euclidean-normalised.

    ``N(>S) (S / 1e-14)^1.5`` against S: flat for Euclidean counts. Solid:
    the whole population; dashed: the sources drawn into simulated skies.

    Parameters
    ----------
    counts_table : pandas.DataFrame
        :meth:`xsurvey.population.Population.counts_table`.
    intensity : pandas.DataFrame, optional
        :meth:`xsurvey.population.Population.intensity_table` (legend values).
    title : str
    """
    fig, ax = plt.subplots(figsize=(6.0, 4.5))
    for k, (band, t) in enumerate(counts_table.groupby("band", sort=False)):
        s = t["flux"].to_numpy(float)
        norm = (s / 1e-14) ** 1.5
        label = f"{band} keV"
        if intensity is not None:
            row = intensity[intensity["band"] == band]
            if len(row):
                label += f" ({float(row['intensity'].iloc[0]):.2g} erg/cm2/s/deg2)"
        ax.plot(s, t["n_gt_s"].to_numpy(float) * norm, color=f"C{k}", lw=1.4, label=label)
        ax.plot(s, t["n_gt_s_drawn"].to_numpy(float) * norm, color=f"C{k}", lw=0.8, ls="--")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(f"flux [{FLUX_LABEL}]")
    ax.set_ylabel(r"$N(>S)\,(S/10^{-14})^{1.5}$ [deg$^{-2}$]")
    ax.set_title(title or "source population (dashed: drawn range)", fontsize=10)
    ax.legend(frameon=False, fontsize=7)
    fig.tight_layout()
    return fig
