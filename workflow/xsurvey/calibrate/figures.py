"""Figures of the calibrate stage. Functions take tables/arrays and return a Figure."""

from __future__ import annotations

import matplotlib
import matplotlib.pyplot as plt
import numpy as np

from xsurvey.plotting import (
    FLUX_LABEL,
    LEVEL_MARKERS,
    band_title,
    interval_label,
    intervals_of,
    level_text,
)


def reliability_curves(curve, thresholds=None, title=""):
    """Cumulative reliability R(DET_ML >= x) per exposure interval, thresholds marked.

    Parameters
    ----------
    curve : pandas.DataFrame
        ``exp_lo_ks, exp_hi_ks, det_ml, reliability, n_detected``
        (:func:`xsurvey.calibrate.reliability_curve`, one band).
    thresholds : pandas.DataFrame, optional
        ``exp_lo_ks, exp_hi_ks, reliability, det_ml_threshold``
        (:func:`xsurvey.calibrate.threshold_for_reliability`): each level is a
        dotted horizontal line and each interval's threshold a marker on it.
    title : str
        Axes title (default: the band).
    """
    fig, ax = plt.subplots(figsize=(5.2, 3.9))
    shown = curve[curve["n_detected"] > 0]
    xmax = float(shown["det_ml"].max()) if len(shown) else 1.0
    levels = []
    if thresholds is not None and len(thresholds):
        levels = sorted(set(thresholds["reliability"]))
        thr_max = np.nanmax(np.append(thresholds["det_ml_threshold"].to_numpy(float), np.nan))
        if np.isfinite(thr_max):
            xmax = min(xmax, max(2.0 * thr_max, 20.0))
    for i, (lo, hi) in enumerate(intervals_of(curve)):
        color = f"C{i % 10}"
        c = shown[(shown["exp_lo_ks"] == lo) & (shown["exp_hi_ks"] == hi)]
        ax.plot(c["det_ml"], c["reliability"], color=color, lw=1.4,
                label=interval_label(lo, hi))
        if thresholds is None:
            continue
        t = thresholds[(thresholds["exp_lo_ks"] == lo) & (thresholds["exp_hi_ks"] == hi)]
        for j, level in enumerate(levels):
            x = t.loc[t["reliability"] == level, "det_ml_threshold"].to_numpy(float)
            x = x[np.isfinite(x)]
            if x.size:
                ax.plot(x, np.full(x.size, level), LEVEL_MARKERS[j % len(LEVEL_MARKERS)],
                        color=color, mfc="white", mew=1.3, ms=6, zorder=3)
                ax.axvline(x[0], color=color, ls=":", lw=0.8)
    for level in levels:
        ax.axhline(level, color="0.4", ls="--", lw=0.8)
        ax.text(0.01, level, f" {level_text(level)}", transform=ax.get_yaxis_transform(),
                ha="left", va="bottom", fontsize=8, color="0.3")
    vis = shown.loc[shown["det_ml"] <= xmax, "reliability"].to_numpy(float)
    ymin = max(0.0, float(np.nanmin(vis)) - 0.03) if vis.size else 0.0
    ax.set_xlim(float(curve["det_ml"].min()), xmax)
    ax.set_ylim(ymin, 1.005)
    ax.set_xlabel(r"DET_ML threshold $x$")
    ax.set_ylabel(r"Reliability $R(\mathrm{DET\_ML}\geq x)$")
    ax.set_title(band_title(curve, title))
    ax.legend(frameon=False, loc="lower right", title="Exposure (FPMA+B)",
              bbox_to_anchor=(1.0, 0.12))
    fig.tight_layout()
    return fig


def merged_reliability_curves(merged, title=""):
    """Reliability of the replicas' band-merged catalogues against DET_ML, by best band.

    One panel per reliability level: for the merged sources whose best band
    is b, R(DET_ML_b >= x) = real / all (cumulative), with the whole
    catalogue's reliability as a dashed line.

    Parameters
    ----------
    merged : pandas.DataFrame
        :func:`xsurvey.catalog.replica_catalogues` rows of all levels, with a
        ``reliability`` column (the level).
    title : str
    """
    levels = sorted(set(merged["reliability"])) if len(merged) else []
    fig, axes = plt.subplots(1, max(len(levels), 1), figsize=(4.8 * max(len(levels), 1), 3.8),
                             squeeze=False)
    for ax, level in zip(axes.ravel(), levels, strict=False):
        m = merged[merged["reliability"] == level]
        for k, (band, g) in enumerate(m.groupby("best_band", sort=False)):
            order = np.argsort(-g["det_ml"].to_numpy(float), kind="stable")
            ml = g["det_ml"].to_numpy(float)[order]
            real = np.cumsum(g["real"].to_numpy(bool)[order])
            n = np.arange(1, ml.size + 1)
            keep = n >= 20
            ax.plot(ml[keep], (real / n)[keep], color=f"C{k}", lw=1.3,
                    label=f"best {band} keV ({ml.size})")
        ax.axhline(float(m["real"].mean()), color="0.3", ls="--", lw=0.9,
                   label=f"catalogue: {float(m['real'].mean()):.3f}")
        ax.axhline(level, color="0.6", ls=":", lw=0.9)
        ax.set_xscale("log")
        ax.set_xlabel(r"DET_ML of the best band, $\geq x$")
        ax.set_ylabel("reliability of the merged catalogue")
        ax.set_title(f"{level_text(level)} catalogue", fontsize=10)
        ax.legend(frameon=False, fontsize=7, loc="lower right")
    if title:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return fig


def completeness_curves(table, title=""):
    """Completeness versus input flux, one panel per reliability level, one curve per interval.

    Parameters
    ----------
    table : pandas.DataFrame
        ``exp_lo_ks, exp_hi_ks, reliability, flux, completeness``
        (:func:`xsurvey.calibrate.completeness`, one band).
    title : str
        Figure title (default: the band).
    """
    levels = sorted(set(table["reliability"]))
    n = max(1, len(levels))
    fig, axes = plt.subplots(1, n, figsize=(3.6 * n, 3.4), sharey=True, squeeze=False)
    for ax, level in zip(axes[0], levels, strict=False):
        t = table[table["reliability"] == level]
        for i, (lo, hi) in enumerate(intervals_of(t)):
            c = t[(t["exp_lo_ks"] == lo) & (t["exp_hi_ks"] == hi)].sort_values("flux")
            ax.plot(c["flux"], c["completeness"], "-", marker=".", ms=4, color=f"C{i % 10}",
                    label=interval_label(lo, hi))
        ax.set_xscale("log")
        ax.set_ylim(-0.02, 1.05)
        ax.axhline(1.0, color="0.6", lw=0.6)
        ax.set_xlabel(f"Input flux [{FLUX_LABEL}]")
        ax.set_title(f"reliability {level_text(level)}", fontsize=10)
    axes[0][0].set_ylabel("Completeness")
    axes[0][0].legend(frameon=False, loc="upper left", fontsize=8)
    fig.suptitle(band_title(table, title), fontsize=11)
    fig.tight_layout()
    return fig


def sky_coverage_curves(coverage, sensitivity=None, total_area=None, title=""):
    """Sky coverage versus flux per band, one panel per reliability level.

    Parameters
    ----------
    coverage : pandas.DataFrame
        ``band, reliability, flux, area_deg2`` (:func:`xsurvey.calibrate.sky_coverage`
        of several bands concatenated; ``band`` may be absent for one band).
    sensitivity : pandas.DataFrame, optional
        ``band, reliability, flux_half_area`` (:func:`xsurvey.calibrate.sensitivity`):
        the half-area flux of each band is marked by a dotted vertical line
        and a marker at half the total area.
    total_area : float or dict, optional
        Total geometric area (deg^2), or ``{band: area}``; drawn as a
        horizontal line and used to place the half-area markers.
    title : str
        Figure title.
    """
    cov = coverage if "band" in coverage.columns else coverage.assign(band="")
    sens = None
    if sensitivity is not None:
        sens = sensitivity if "band" in sensitivity.columns else sensitivity.assign(band="")
    bands = list(dict.fromkeys(cov["band"]))
    levels = sorted(set(cov["reliability"]))
    n = max(1, len(levels))
    fig, axes = plt.subplots(1, n, figsize=(3.8 * n, 3.5), sharey=True, squeeze=False)

    def area_of(band):
        if isinstance(total_area, dict):
            return total_area.get(band)
        return total_area

    for ax, level in zip(axes[0], levels, strict=False):
        for i, band in enumerate(bands):
            color = f"C{i % 10}"
            c = cov[(cov["band"] == band) & (cov["reliability"] == level)].sort_values("flux")
            ax.plot(c["flux"], c["area_deg2"], color=color, lw=1.4,
                    label=f"{band} keV" if band else None)
            total = area_of(band)
            if sens is None:
                continue
            s = sens[(sens["band"] == band) & (sens["reliability"] == level)]
            for f in s["flux_half_area"].to_numpy(float):
                if not np.isfinite(f):
                    continue
                ax.axvline(f, color=color, ls=":", lw=0.9)
                if total is not None:
                    ax.plot([f], [0.5 * total], "o", color=color, mfc="white", mew=1.3, ms=5)
        totals = {area_of(b) for b in bands} - {None}
        for total in totals:
            ax.axhline(total, color="0.6", lw=0.7, ls="--")
        ax.set_xscale("log")
        ax.set_ylim(bottom=0)
        ax.set_xlabel(f"Flux [{FLUX_LABEL}]")
        ax.set_title(f"reliability {level_text(level)}", fontsize=10)
    axes[0][0].set_ylabel(r"Sky coverage [deg$^2$]")
    if any(bands):
        axes[0][0].legend(frameon=False, loc="upper left", fontsize=8)
    if title:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return fig


def separation_histograms(separations, positions, max_arcsec=30.0, bin_arcsec=1.0, title=""):
    """Input-to-detection separations with their Rayleigh fits, one panel per subset.

    Parameters
    ----------
    separations : pandas.DataFrame
        ``subset, separation_arcsec`` (:func:`xsurvey.calibrate.separation_subsets`).
    positions : pandas.DataFrame
        ``subset, sigma_arcsec, sigma_err_arcsec, n``
        (:func:`xsurvey.calibrate.positional_accuracy`); its row order sets the
        panel order.
    max_arcsec, bin_arcsec : float
        Histogram range and bin width (arcsec).
    title : str
        Figure title (default: the band of ``positions``).
    """
    subsets = list(positions["subset"])
    n = max(1, len(subsets))
    ncol = 2 if n > 1 else 1
    nrow = int(np.ceil(n / ncol))
    fig, axes = plt.subplots(nrow, ncol, figsize=(3.3 * ncol, 2.7 * nrow), sharex=True,
                             squeeze=False)
    bins = np.arange(0.0, max_arcsec + 0.5 * bin_arcsec, bin_arcsec)
    r = np.linspace(0.0, max_arcsec, 300)
    for ax, (_, row) in zip(axes.ravel(), positions.iterrows(), strict=False):
        sep = separations.loc[separations["subset"] == row["subset"],
                              "separation_arcsec"].to_numpy(float)
        ax.hist(sep[np.isfinite(sep)], bins=bins, histtype="stepfilled", color="C0", alpha=0.5)
        s = float(row["sigma_arcsec"])
        if np.isfinite(s) and s > 0:
            pdf = r / s**2 * np.exp(-0.5 * (r / s) ** 2)
            ax.plot(r, row["n"] * bin_arcsec * pdf, color="C3", lw=1.4)
            ax.text(0.97, 0.95, rf"$\sigma$ = {s:.2f} $\pm$ {row['sigma_err_arcsec']:.2f} arcsec"
                    f"\nN = {int(row['n'])}", transform=ax.transAxes, ha="right", va="top",
                    fontsize=8)
        ax.set_title(str(row["subset"]), fontsize=10)
    for ax in axes.ravel()[n:]:
        ax.set_visible(False)
    for ax in axes[-1]:
        ax.set_xlabel("Separation input–detection [arcsec]")
    for ax in axes[:, 0]:
        ax.set_ylabel("Detections")
    fig.suptitle(band_title(positions, title), fontsize=11)
    fig.tight_layout()
    return fig


def flux_accuracy_curves(by_flux, by_snr, title=""):
    """Measured / input flux versus input flux and versus S/N (median and 16-84% band).

    Parameters
    ----------
    by_flux, by_snr : pandas.DataFrame
        ``x, median_ratio, p16, p84, n`` (:func:`xsurvey.calibrate.flux_accuracy`
        with ``by="input_flux"`` and ``by="snr"``).
    title : str
        Figure title (default: the band).
    """
    fig, axes = plt.subplots(1, 2, figsize=(7.2, 3.3), sharey=True)
    for ax, t, xlabel in ((axes[0], by_flux, f"Input flux [{FLUX_LABEL}]"),
                          (axes[1], by_snr, "S/N")):
        t = t[t["n"] > 0].sort_values("x")
        ax.fill_between(t["x"], t["p16"], t["p84"], color="C0", alpha=0.25, lw=0,
                        label="16–84%")
        ax.plot(t["x"], t["median_ratio"], color="C0", lw=1.5, marker=".", label="median")
        ax.axhline(1.0, color="k", lw=0.8, ls="--")
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.set_xlabel(xlabel)
    axes[0].set_ylabel(r"$F_\mathrm{measured} / F_\mathrm{input}$")
    axes[0].legend(frameon=False, loc="best")
    fig.suptitle(band_title(by_flux, title), fontsize=11)
    fig.tight_layout()
    return fig
