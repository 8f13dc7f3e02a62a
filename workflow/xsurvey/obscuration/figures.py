"""Figures of the obscuration stage. Functions take its tables and return a Figure."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

_LABELS = {"log_nh": r"intrinsic log $N_{\rm H}$ [cm$^{-2}$]",
           "log_lum_2_10": r"log $L_{2-10}$ (intrinsic, rest frame) [erg s$^{-1}$]"}


def detection_fraction(detection, title: str = ""):
    """Fraction of the replicas' sources in the catalogue against intrinsic N_H and
    luminosity (``detection.csv``), with 68% intervals; bins where none is detected are
    drawn as upper limits at their interval's top."""
    fig, axes = plt.subplots(1, 2, figsize=(8.8, 3.6), layout="constrained", sharey=True)
    for ax, quantity in zip(axes, ("log_nh", "log_lum_2_10"), strict=True):
        t = detection[(detection["quantity"] == quantity) & (detection["n_input"] > 0)]
        seen, none = t[t["n_detected"] > 0], t[t["n_detected"] == 0]
        ax.errorbar(0.5 * (seen["lo"] + seen["hi"]), seen["fraction"],
                    xerr=0.5 * (seen["hi"] - seen["lo"]),
                    yerr=[seen["fraction"] - seen["fraction_lo"],
                          seen["fraction_hi"] - seen["fraction"]],
                    fmt="o", ms=3.5, color="C0", lw=1.0)
        ax.errorbar(0.5 * (none["lo"] + none["hi"]), none["fraction_hi"],
                    yerr=0.4 * none["fraction_hi"], uplims=True, fmt="none", color="C0",
                    lw=1.0)
        ax.set_yscale("log")
        ax.set_xlabel(_LABELS[quantity])
    axes[0].set_ylabel("fraction in the catalogue")
    if title:
        fig.suptitle(title, fontsize=11)
    return fig


def nh_recovery(simulated, log_thresholds, title: str = ""):
    """N_H recovery of the simulated spectra: fitted at the true redshift against the true
    column (left), that error against net counts (middle), and the observed-frame column
    (fitted at z = 0, what the inversion uses) against the true one (right), coloured by
    redshift (the observed frame lowers the column by ~(1 + z)^2.6)."""
    fig, axes = plt.subplots(1, 3, figsize=(13.0, 3.9), layout="constrained")
    s = simulated[(simulated["component"] != "spurious") & (simulated["stage"] != "not_fitted")]
    lo, hi = 19.5, 25.0
    for ax, x, y in ((axes[0], s["log_nh"], s["log_nh_fit_z"]),
                     (axes[1], s["net_counts"], s["log_nh_fit_z"] - s["log_nh"]),
                     (axes[2], s["log_nh"], s["log_nh_fit"])):
        points = ax.scatter(x, y, s=10, c=s["redshift"], cmap="viridis", vmin=0.0, vmax=3.0,
                            lw=0)
    fig.colorbar(points, ax=axes[2], label="redshift")
    for ax in (axes[0], axes[2]):
        ax.plot([lo, hi], [lo, hi], color="0.4", lw=0.8)
        for v in log_thresholds:
            ax.axvline(v, color="0.7", lw=0.7, ls=":")
            ax.axhline(v, color="0.7", lw=0.7, ls=":")
        ax.set_xlim(lo, hi)
        ax.set_ylim(lo, hi)
        ax.set_xlabel(r"true log $N_{\rm H}$ [cm$^{-2}$]")
    axes[0].set_ylabel(r"fitted log $N_{\rm H}$ (at the redshift) [cm$^{-2}$]")
    axes[2].set_ylabel(r"fitted log $N_{\rm H}$ ($z = 0$) [cm$^{-2}$]")
    axes[1].axhline(0.0, color="0.4", lw=0.8)
    axes[1].set_xscale("log")
    axes[1].set_xlabel("net counts")
    axes[1].set_ylabel(r"fitted $-$ true log $N_{\rm H}$ [dex]")
    if title:
        fig.suptitle(title, fontsize=11)
    return fig


def obscuration_fractions(fractions, title: str = ""):
    """Naive and intrinsic obscured and Compton-thick fractions (``fractions.csv``): 68%
    intervals (thick) and 90% (thin, intrinsic), and the population model (dashed)."""
    fig, ax = plt.subplots(figsize=(4.8, 3.6), layout="constrained")
    for i, r in enumerate(fractions.itertuples()):
        ax.errorbar(i - 0.12, r.naive, yerr=[[r.naive - r.naive_lo], [r.naive_hi - r.naive]],
                    fmt="s", color="C1", ms=5, lw=1.6, label="naive" if i == 0 else None)
        ax.errorbar(i + 0.12, r.intrinsic, yerr=[[r.intrinsic - r.intrinsic_lo90],
                                                 [r.intrinsic_hi90 - r.intrinsic]],
                    fmt="none", color="C0", lw=0.8)
        ax.errorbar(i + 0.12, r.intrinsic, yerr=[[r.intrinsic - r.intrinsic_lo],
                                                 [r.intrinsic_hi - r.intrinsic]],
                    fmt="o", color="C0", ms=5, lw=1.8, label="intrinsic" if i == 0 else None)
        if np.isfinite(r.population):
            ax.hlines(r.population, i - 0.3, i + 0.3, color="0.3", ls="--", lw=1.0,
                      label="population model" if i == 0 else None)
    ax.set_xticks(range(len(fractions)),
                  [f"{q.replace('_', '-')}\n" + r"$N_{\rm H} \geq 10^{" + f"{np.log10(t):g}" + "}$"
                   for q, t in zip(fractions["quantity"], fractions["nh_threshold"],
                                   strict=True)])
    ax.set_xlim(-0.6, len(fractions) - 0.4)
    ax.set_ylim(0.0, 1.0)
    ax.set_ylabel("fraction")
    ax.legend(frameon=False, fontsize=8)
    if title:
        fig.suptitle(title, fontsize=11)
    return fig


