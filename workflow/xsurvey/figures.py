"""Publication-quality figures. Functions take tables/arrays and return a Figure."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from .instrument import band_suffix  # noqa: E402

plt.rcParams.update({
    "figure.dpi": 120, "savefig.dpi": 150, "font.size": 10, "axes.labelsize": 11,
    "legend.fontsize": 9, "xtick.direction": "in", "ytick.direction": "in",
    "xtick.top": True, "ytick.right": True,
})


def save(fig, path):
    """Save and close a figure (PNG, or PDF from the extension)."""
    fig.savefig(path, bbox_inches="tight", metadata={"Software": None} if str(path).endswith(
        ".png") else None)
    plt.close(fig)


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


# --------------------------------------------------------------------------- calibration (§8)
_FLUX_LABEL = r"erg cm$^{-2}$ s$^{-1}$"
_LEVEL_MARKERS = ("o", "s", "D", "^", "v")


def _interval_label(lo, hi):
    """'20-200 ks' or '>= 500 ks' for an exposure interval in ks."""
    return rf"$\geq${lo:g} ks" if np.isinf(hi) else f"{lo:g}–{hi:g} ks"


def _band_title(table, title):
    if title or "band" not in table.columns:
        return title
    bands = list(dict.fromkeys(table["band"]))
    return f"{bands[0]} keV" if len(bands) == 1 else ""


def _intervals(table):
    pairs = table[["exp_lo_ks", "exp_hi_ks"]].drop_duplicates().sort_values("exp_lo_ks")
    return list(pairs.itertuples(index=False, name=None))


def _level_text(level):
    return f"{100 * level:g}%"


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
    for i, (lo, hi) in enumerate(_intervals(curve)):
        color = f"C{i % 10}"
        c = shown[(shown["exp_lo_ks"] == lo) & (shown["exp_hi_ks"] == hi)]
        ax.plot(c["det_ml"], c["reliability"], color=color, lw=1.4,
                label=_interval_label(lo, hi))
        if thresholds is None:
            continue
        t = thresholds[(thresholds["exp_lo_ks"] == lo) & (thresholds["exp_hi_ks"] == hi)]
        for j, level in enumerate(levels):
            x = t.loc[t["reliability"] == level, "det_ml_threshold"].to_numpy(float)
            x = x[np.isfinite(x)]
            if x.size:
                ax.plot(x, np.full(x.size, level), _LEVEL_MARKERS[j % len(_LEVEL_MARKERS)],
                        color=color, mfc="white", mew=1.3, ms=6, zorder=3)
                ax.axvline(x[0], color=color, ls=":", lw=0.8)
    for level in levels:
        ax.axhline(level, color="0.4", ls="--", lw=0.8)
        ax.text(0.01, level, f" {_level_text(level)}", transform=ax.get_yaxis_transform(),
                ha="left", va="bottom", fontsize=8, color="0.3")
    vis = shown.loc[shown["det_ml"] <= xmax, "reliability"].to_numpy(float)
    ymin = max(0.0, float(np.nanmin(vis)) - 0.03) if vis.size else 0.0
    ax.set_xlim(float(curve["det_ml"].min()), xmax)
    ax.set_ylim(ymin, 1.005)
    ax.set_xlabel(r"DET_ML threshold $x$")
    ax.set_ylabel(r"Reliability $R(\mathrm{DET\_ML}\geq x)$")
    ax.set_title(_band_title(curve, title))
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
        ax.set_title(f"{_level_text(level)} catalogue", fontsize=10)
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
        for i, (lo, hi) in enumerate(_intervals(t)):
            c = t[(t["exp_lo_ks"] == lo) & (t["exp_hi_ks"] == hi)].sort_values("flux")
            ax.plot(c["flux"], c["completeness"], "-", marker=".", ms=4, color=f"C{i % 10}",
                    label=_interval_label(lo, hi))
        ax.set_xscale("log")
        ax.set_ylim(-0.02, 1.05)
        ax.axhline(1.0, color="0.6", lw=0.6)
        ax.set_xlabel(f"Input flux [{_FLUX_LABEL}]")
        ax.set_title(f"reliability {_level_text(level)}", fontsize=10)
    axes[0][0].set_ylabel("Completeness")
    axes[0][0].legend(frameon=False, loc="upper left", fontsize=8)
    fig.suptitle(_band_title(table, title), fontsize=11)
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
        ax.set_xlabel(f"Flux [{_FLUX_LABEL}]")
        ax.set_title(f"reliability {_level_text(level)}", fontsize=10)
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
    fig.suptitle(_band_title(positions, title), fontsize=11)
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
    for ax, t, xlabel in ((axes[0], by_flux, f"Input flux [{_FLUX_LABEL}]"),
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
    fig.suptitle(_band_title(by_flux, title), fontsize=11)
    fig.tight_layout()
    return fig


def detection_map(counts_smoothed, exposure, wcs, detections, title="", det_ml_mark=10.0,
                  exposure_levels_ks=(100.0, 300.0)):
    """Smoothed counts mosaic on WCS axes with exposure contours and detections.

    Parameters
    ----------
    counts_smoothed : numpy.ndarray
        Counts smoothed for display (counts per smoothing area).
    exposure : numpy.ndarray
        Exposure map, s (contours in ks).
    wcs : astropy.wcs.WCS
    detections : astropy.table.Table
        Columns ``x, y, det_ml`` (0-based pixels).
    det_ml_mark : float
        Detections above it are circled; fainter ones get a small cross.
    """
    from astropy.visualization import AsinhStretch, ImageNormalize, PercentileInterval

    fig = plt.figure(figsize=(6.4, 5.6))
    ax = fig.add_subplot(projection=wcs)
    shown = np.where(exposure > 0, counts_smoothed, np.nan)
    norm = ImageNormalize(shown[np.isfinite(shown)], interval=PercentileInterval(99.7),
                          stretch=AsinhStretch(0.05))
    im = ax.imshow(shown, origin="lower", cmap="magma", norm=norm)
    ax.contour(exposure / 1e3, levels=list(exposure_levels_ks), colors="c", linewidths=0.6)
    bright = np.asarray(detections["det_ml"]) >= det_ml_mark
    ax.scatter(detections["x"][bright], detections["y"][bright], s=60, facecolors="none",
               edgecolors="lime", linewidths=0.8, label=f"DET_ML $\\geq$ {det_ml_mark:g}")
    ax.scatter(detections["x"][~bright], detections["y"][~bright], s=6, marker="+",
               color="0.7", linewidths=0.5, label=f"DET_ML < {det_ml_mark:g}")
    ax.coords[0].set_axislabel("Right ascension (ICRS)")
    ax.coords[1].set_axislabel("Declination (ICRS)")
    ax.set_title(title)
    ax.legend(loc="upper right", fontsize=8, framealpha=0.6)
    fig.colorbar(im, ax=ax, label="counts per 20\" top-hat", shrink=0.8)
    return fig


# --------------------------------------------------------------------------- number counts (§10)
def _grid_axes(n, width=3.4, height=3.2, sharey=False):
    ncol = min(n, 3) if n else 1
    nrow = int(np.ceil(max(n, 1) / ncol))
    fig, axes = plt.subplots(nrow, ncol, figsize=(width * ncol, height * nrow), sharey=sharey,
                             squeeze=False)
    for ax in axes.ravel()[n:]:
        ax.set_visible(False)
    return fig, axes


def _model_values(model, flux, flux_max=None):
    m = np.asarray(model(flux), float)
    if flux_max is not None:
        m = m - float(np.asarray(model(float(flux_max))))
    return m


def _per_band(value, band):
    return value.get(band) if isinstance(value, dict) else value


def number_counts_curves(counts, models=None, flux_max=None, reference=None, title=""):
    """Cumulative number counts N(>S) per band with the 68% band and the models.

    Parameters
    ----------
    counts : dict
        ``band -> DataFrame`` with ``flux, n_gt_s, n_err_lo, n_err_hi``
        (:func:`xsurvey.lognlogs.number_counts`): a step curve and its 1-sigma
        (68%) band.
    models : dict, optional
        ``band -> callable`` (flux -> N(>S), deg^-2), e.g. the input model
        through :func:`xsurvey.lognlogs.band_model`; solid grey line. With
        ``flux_max`` the model truncated at it (what the estimator measures)
        is drawn too, dashed.
    flux_max : float or dict, optional
        Maximum flux of the counted sample (per band as a dict).
    reference : dict, optional
        ``band -> (label, callable)``: a literature curve (dotted).
    title : str
        Figure title.
    """
    bands = list(counts)
    fig, axes = _grid_axes(len(bands))
    for ax, band in zip(axes.ravel(), bands, strict=False):
        t = counts[band].sort_values("flux")
        f, n = t["flux"].to_numpy(float), t["n_gt_s"].to_numpy(float)
        if f.size:
            ax.fill_between(f, n - t["n_err_lo"].to_numpy(float),
                            n + t["n_err_hi"].to_numpy(float), step="pre", color="C0",
                            alpha=0.25, lw=0, label="68%")
            # N(>S) at source k holds for S in (S_{k-1}, S_k]: a "pre" step
            ax.step(f, n, where="pre", color="C0", lw=1.4, label=f"data ({f.size})")
            grid = np.geomspace(f.min(), f.max() * 1.5, 200)
        else:
            grid = np.geomspace(1e-15, 1e-12, 200)
        model = _per_band(models, band) if models is not None else None
        fmax = _per_band(flux_max, band) if flux_max is not None else None
        if model is not None:
            ax.plot(grid, _model_values(model, grid), color="0.3", lw=1.0, label="input model")
            if fmax is not None:
                g = grid[grid < fmax]
                ax.plot(g, _model_values(model, g, fmax), color="0.3", lw=1.0, ls="--",
                        label=f"model, S < {fmax:.2g}")
        if reference is not None and band in reference:
            label, fn = reference[band]
            ax.plot(grid, _model_values(fn, grid), color="C3", lw=1.0, ls=":", label=label)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(f"{band} keV flux [{_FLUX_LABEL}]")
        ax.set_ylabel(r"$N(>S)$ [deg$^{-2}$]")
        ax.set_title(f"{band} keV", fontsize=10)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(frameon=False, fontsize=7, loc="lower left")
    if title:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return fig


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
    ax.set_xlabel(f"flux [{_FLUX_LABEL}]")
    ax.set_ylabel(r"$N(>S)\,(S/10^{-14})^{1.5}$ [deg$^{-2}$]")
    ax.set_title(title or "source population (dashed: drawn range)", fontsize=10)
    ax.legend(frameon=False, fontsize=7)
    fig.tight_layout()
    return fig


def replica_counts_curves(replica_counts, models, flux_max=None, title=""):
    """Number counts recovered from the replicas versus the input model, per band.

    Top: mean N(>S) over replicas with the 16-84% range between replicas and
    the input model (truncated at ``flux_max`` like the estimator). Bottom:
    ratio recovered / input with the same range.

    Parameters
    ----------
    replica_counts : dict
        ``band -> DataFrame`` with ``flux, n_gt_s, p16, p84``
        (:func:`xsurvey.lognlogs.replica_number_counts`).
    models : dict
        ``band -> callable`` input N(>S) in the band.
    flux_max : float or dict, optional
        Maximum flux of the counted samples.
    title : str
        Figure title.
    """
    bands = list(replica_counts)
    n = max(1, len(bands))
    fig, axes = plt.subplots(2, n, figsize=(3.4 * n, 4.6), sharex="col", squeeze=False,
                             gridspec_kw={"height_ratios": [2.2, 1.0]})
    for j, band in enumerate(bands):
        t = replica_counts[band].sort_values("flux")
        t = t[t["n_gt_s"] > 0]                    # log axes; N = 0 at flux_max itself
        f = t["flux"].to_numpy(float)
        fmax = _per_band(flux_max, band) if flux_max is not None else None
        m = _model_values(models[band], f, fmax)
        top, bot = axes[0, j], axes[1, j]
        top.set_title(f"{band} keV", fontsize=10)
        if f.size == 0:     # too few replicas or detections: nothing on log axes
            top.text(0.5, 0.5, "no recovered counts", transform=top.transAxes, ha="center")
            continue
        top.fill_between(f, t["p16"], t["p84"], color="C0", alpha=0.25, lw=0,
                         label="16–84% of replicas")
        top.plot(f, t["n_gt_s"], color="C0", marker=".", lw=1.4, label="recovered (mean)")
        top.plot(f, m, color="0.2", ls="--", lw=1.0, label="input")
        with np.errstate(divide="ignore", invalid="ignore"):
            bot.fill_between(f, t["p16"] / m, t["p84"] / m, color="C0", alpha=0.25, lw=0)
            bot.plot(f, t["n_gt_s"] / m, color="C0", marker=".", lw=1.4)
        bot.axhline(1.0, color="0.2", ls="--", lw=0.8)
        top.set_yscale("log")
        top.set_xscale("log")
        bot.set_xlabel(f"Flux [{_FLUX_LABEL}]")
        bot.set_ylim(0.5, 1.5)
    axes[0, 0].set_ylabel(r"$N(>S)$ [deg$^{-2}$]")
    axes[1, 0].set_ylabel("recovered / input")
    axes[0, 0].legend(frameon=False, fontsize=7, loc="lower left")
    if title:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return fig


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
    fig, axes = _grid_axes(len(bands), width=3.2, height=2.8)
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
        ax.set_xlabel(rf"log$_{{10}}$ {band} keV flux [{_FLUX_LABEL}]")
        ax.set_ylabel("Sources")
        ax.set_title(f"{band} keV", fontsize=10)
        ax.legend(frameon=False, fontsize=7, loc="best")
    if title:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- counterparts (§11)
_CLASS_STYLE = {"secure": ("C0", "o"), "ambiguous": ("C1", "s"), "unidentified": ("0.6", "x"),
                "outside_coverage": ("0.8", "+")}


def counterpart_magnitude_distributions(magnitudes, title=""):
    """Background density n(m) and counterpart distribution q(m) of one catalogue.

    Parameters
    ----------
    magnitudes : astropy.table.Table
        ``LRResult.magnitudes`` (:func:`xsurvey.counterparts.likelihood_ratio_match`):
        ``mag_lo, mag_hi, n_arcsec2_mag, n_search, background_search, q_mag``;
        ``meta`` Q (and CATALOG).
    title : str
        Figure title (default: the catalogue name).
    """
    t = magnitudes
    edges = np.r_[np.asarray(t["mag_lo"], float), float(t["mag_hi"][-1])] if len(t) else \
        np.array([0.0, 1.0])
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(8.4, 3.5))
    n = np.asarray(t["n_arcsec2_mag"], float) * 3600.0**2
    ax1.stairs(n, edges, color="C0", lw=1.4, label="n(m), annuli")
    area = float(t.meta.get("AREA_ANN", np.nan))
    if np.isfinite(area) and area > 0:
        raw = np.asarray(t["n_annulus"], float)
        shown = raw > 0
        mid = 0.5 * (edges[:-1] + edges[1:])
        dens = raw / area / np.diff(edges) * 3600.0**2
        ax1.errorbar(mid[shown], dens[shown], yerr=dens[shown] / np.sqrt(raw[shown]),
                     fmt="o", ms=3, color="C0", lw=0.8, label="counts in annuli")
    ax1.set_yscale("log")
    ax1.set_xlabel("Magnitude")
    ax1.set_ylabel(r"n(m) [deg$^{-2}$ mag$^{-1}$]")
    ax1.legend(frameon=False, loc="upper left")
    width = np.diff(edges)
    ax2.stairs(np.asarray(t["n_search"], float) / width, edges, color="0.4", lw=1.0,
               label="within search radius")
    ax2.stairs(np.asarray(t["background_search"], float) / width, edges, color="C3", lw=1.0,
               ls="--", label="expected background")
    ax2.stairs(np.asarray(t["excess"], float) / width, edges, color="C0", lw=1.6,
               label="excess (smoothed)")
    ax2.set_xlabel("Magnitude")
    ax2.set_ylabel(r"Objects mag$^{-1}$")
    ax2b = ax2.twinx()
    ax2b.stairs(np.asarray(t["q_mag"], float), edges, color="C2", lw=1.2, ls=":",
                label=f"q(m), Q = {t.meta.get('Q', np.nan):.2f}")
    ax2b.set_ylabel(r"q(m) [mag$^{-1}$]", color="C2")
    h1, l1 = ax2.get_legend_handles_labels()
    h2, l2 = ax2b.get_legend_handles_labels()
    ax2.legend(h1 + h2, l1 + l2, frameon=False, fontsize=7, loc="upper left")
    fig.suptitle(title or str(t.meta.get("CATALOG", "")), fontsize=11)
    fig.tight_layout()
    return fig


def lr_reliability_completeness(curve, lr_threshold, title=""):
    """Sample reliability R and completeness C versus the LR threshold.

    Parameters
    ----------
    curve : astropy.table.Table
        ``lr_threshold, reliability, completeness, mean``
        (:func:`xsurvey.counterparts.reliability_completeness`).
    lr_threshold : float
        Chosen threshold (maximum of (R + C)/2), marked by a vertical line.
    title : str
    """
    fig, ax = plt.subplots(figsize=(5.0, 3.7))
    lr = np.asarray(curve["lr_threshold"], float)
    if lr.size:
        ax.step(lr, curve["reliability"], where="post", color="C0", label="reliability R")
        ax.step(lr, curve["completeness"], where="post", color="C1", label="completeness C")
        ax.step(lr, curve["mean"], where="post", color="0.5", ls=":", label="(R + C) / 2")
        ax.set_xscale("log")
    if np.isfinite(lr_threshold):
        ax.axvline(lr_threshold, color="k", lw=0.8, ls="--",
                   label=rf"LR$_{{\rm th}}$ = {lr_threshold:.3g}")
    ax.set_ylim(0.0, 1.05)
    ax.set_xlabel("Likelihood-ratio threshold")
    ax.set_ylabel("Fraction")
    ax.set_title(title)
    ax.legend(frameon=False, fontsize=8, loc="lower left")
    return fig


def xray_optical_plane(flux, mag, c_band, classes=None, xo_levels=(-1.0, 0.0, 1.0),
                       flux_label="X-ray flux", mag_label="Magnitude", title=""):
    """Counterpart magnitude versus X-ray flux with loci of constant X/O.

    Parameters
    ----------
    flux : array_like
        X-ray flux (erg cm^-2 s^-1).
    mag : array_like
        Counterpart magnitude (NaN: not plotted).
    c_band : float
        Constant of ``X/O = log10 f + m/2.5 + C`` (:func:`xsurvey.counterparts.xo_ratio`).
    classes : array_like of str, optional
        Identification class per source (colour/marker).
    xo_levels : sequence of float
        X/O values drawn as lines (default 0 and +/-1).
    flux_label, mag_label, title : str
    """
    flux = np.asarray(flux, float)
    mag = np.asarray(mag, float)
    ok = np.isfinite(flux) & (flux > 0) & np.isfinite(mag)
    fig, ax = plt.subplots(figsize=(5.0, 4.0))
    cls = np.asarray(classes).astype(str) if classes is not None else np.full(flux.size, "")
    for name in dict.fromkeys(cls[ok]):
        m = ok & (cls == name)
        color, marker = _CLASS_STYLE.get(name, ("C0", "o"))
        ax.scatter(flux[m], mag[m], s=14, color=color, marker=marker,
                   label=f"{name} ({m.sum()})" if name else None)
    if ok.any():
        fx = np.logspace(np.log10(flux[ok].min()) - 0.3, np.log10(flux[ok].max()) + 0.3, 200)
        m_faint, m_bright = mag[ok].max() + 1.0, mag[ok].min() - 1.0
    else:
        fx = np.logspace(-16, -12, 200)
        m_faint, m_bright = 26.0, 14.0
    for level in xo_levels:
        locus = 2.5 * (level - np.log10(fx) - c_band)
        ax.plot(fx, locus, color="k", lw=0.8, ls="-" if level == 0 else "--")
        seen = np.flatnonzero((locus < m_faint) & (locus > m_bright))
        if seen.size:  # label at the brightest visible end of the line
            k = seen[-1]
            ax.annotate(f"X/O = {level:+g}", (fx[k], locus[k]), fontsize=7, ha="right",
                        va="bottom", rotation=0)
    ax.set_xlim(fx[0], fx[-1])
    ax.set_ylim(m_faint, m_bright)
    ax.set_xscale("log")
    ax.set_xlabel(f"{flux_label} [{_FLUX_LABEL}]")
    ax.set_ylabel(mag_label)
    ax.set_title(title)
    if classes is not None:
        ax.legend(frameon=False, fontsize=8, loc="lower left")
    return fig


#: Fewest replica matches in a flux bin for its percentiles to be drawn.
_MIN_BIN_MATCHES = 20


def hard_soft_flux_comparison(flux_pred_soft, flux_soft, replica_scatter=None,
                              x_label="Hard flux converted to the soft band",
                              y_label="Soft flux", title=""):
    """Soft-X-ray flux of the primary counterpart versus the converted hard flux.

    Parameters
    ----------
    flux_pred_soft : array_like
        Hard-band flux times the spectral conversion to the soft band
        (``soft_flux_pred`` of :func:`xsurvey.counterparts.associate_soft`),
        erg cm^-2 s^-1.
    flux_soft : array_like
        Soft flux of the primary counterpart, erg cm^-2 s^-1.
    replica_scatter : pandas.DataFrame, optional
        The replicas' measured/input hard-flux distribution
        (:func:`xsurvey.calibrate.flux_accuracy` by input flux, ``x`` already
        converted to the soft band): drawn behind the points as the band of
        converted hard fluxes (16th-84th percentile) expected at each true
        soft flux if the spectral model holds (bins with at least
        ``_MIN_BIN_MATCHES`` matched detections).
    x_label, y_label, title : str
    """
    x = np.asarray(flux_pred_soft, float)
    y = np.asarray(flux_soft, float)
    ok = np.isfinite(x) & np.isfinite(y) & (x > 0) & (y > 0)
    fig, ax = plt.subplots(figsize=(4.6, 4.4))
    ax.scatter(x[ok], y[ok], s=14, color="C0", label=f"primary counterparts ({ok.sum()})",
               zorder=3)
    if ok.any():
        lo = min(x[ok].min(), y[ok].min()) / 2.0
        hi = max(x[ok].max(), y[ok].max()) * 2.0
    else:
        lo, hi = 1e-16, 1e-12
    line = np.array([lo, hi])
    ax.plot(line, line, color="k", lw=0.8, label="1:1")
    if replica_scatter is not None and len(replica_scatter):
        r = replica_scatter[replica_scatter["n"] >= _MIN_BIN_MATCHES]
        s = r["x"].to_numpy(float)
        ax.fill_betweenx(s, s * r["p16"].to_numpy(float), s * r["p84"].to_numpy(float),
                         color="0.85", zorder=0, label="replicas: 16-84% of measured/input")
        ax.plot(s * r["median_ratio"].to_numpy(float), s, color="0.5", lw=0.8, ls="--",
                zorder=1, label="replicas: median")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    ax.set_xlabel(f"{x_label} [{_FLUX_LABEL}]")
    ax.set_ylabel(f"{y_label} [{_FLUX_LABEL}]")
    ax.set_title(title)
    ax.legend(frameon=False, fontsize=8, loc="upper left")
    return fig


# --------------------------------------------------------------------------- spectral shape (§12)
def _nh_label(nh):
    return rf"$N_\mathrm{{H}}=10^{{{np.log10(nh):.3g}}}$"


def _hr_arrays(hr_table):
    from .hardness import first_column

    def get(*names):
        return first_column(hr_table, *names)

    return (get("hr", "mode").astype(float), get("hr_lo68", "lo68").astype(float),
            get("hr_hi68", "hi68").astype(float), get("hr_lo90", "lo90").astype(float),
            get("hr_hi90", "hi90").astype(float), get("hr_flag", "flag").astype(str))


def _draw_hr_points(ax, x, hr_table):
    """HR with 68% bars (two-sided), 90% limits as arrows, unconstrained in grey."""
    mode, lo, hi, lo90, hi90, flag = _hr_arrays(hr_table)
    x = np.asarray(x, float)
    ok = np.isfinite(x) & np.isfinite(mode)
    two = ok & (flag == "two-sided")
    ax.errorbar(x[two], mode[two], yerr=[mode[two] - lo[two], hi[two] - mode[two]], fmt="o",
                ms=3.5, color="C0", ecolor="C0", elinewidth=0.8, capsize=0,
                label=f"two-sided ({two.sum()})")
    arrow = 0.08
    low = ok & (flag == "lower_limit")
    if low.any():
        ax.errorbar(x[low], lo90[low], yerr=arrow, lolims=True, fmt="^", ms=4, color="C3",
                    elinewidth=0.8, label=f"lower limit, 90% ({low.sum()})")
    up = ok & (flag == "upper_limit")
    if up.any():
        ax.errorbar(x[up], hi90[up], yerr=arrow, uplims=True, fmt="v", ms=4, color="C2",
                    elinewidth=0.8, label=f"upper limit, 90% ({up.sum()})")
    unc = ok & (flag == "unconstrained")
    if unc.any():
        ax.plot(x[unc], mode[unc], "o", mfc="none", color="0.6", ms=3.5,
                label=f"unconstrained ({unc.sum()})")
    ax.set_ylim(-1.05, 1.05)


def hardness_ratios(hr_table, x, levels=None, xlabel="", xscale="log", title=""):
    """Hardness ratio per source with the N_H levels of the model tracks.

    Two-sided sources get their mode and 68% highest-density interval;
    ``lower_limit`` / ``upper_limit`` sources an arrow at the 90% limit;
    ``unconstrained`` ones an open grey marker at the mode.

    Parameters
    ----------
    hr_table : astropy.table.Table or dict
        :func:`xsurvey.hardness.hardness_table` (``hr, hr_lo68, hr_hi68,
        hr_lo90, hr_hi90, hr_flag``) or :func:`xsurvey.hardness.bayesian_hr`.
    x : array_like
        Abscissa per source, e.g. a band flux (erg cm^-2 s^-1) or the index.
    levels : pandas.DataFrame, optional
        ``z, nh, hr`` (:func:`xsurvey.hardness.hr_tracks_table` at a few N_H,
        e.g. 1e22, 1e23, 1e24, and z = 0 and the median z): horizontal
        lines, one colour per N_H, solid for the lowest z and dashed for
        the others.
    xlabel : str
        Abscissa label.
    xscale : {"log", "linear"}
    title : str
    """
    fig, ax = plt.subplots(figsize=(6.6, 4.0))
    _draw_hr_points(ax, x, hr_table)
    points = ax.legend(frameon=False, fontsize=7, loc="lower left")
    if levels is not None and len(levels):
        zs = sorted(set(np.asarray(levels["z"], float)))
        styles = ("-", "--", ":", "-.")
        handles = []
        for i, nh in enumerate(sorted(set(np.asarray(levels["nh"], float)))):
            rows = levels[np.asarray(levels["nh"], float) == nh]
            for _, r in rows.iterrows():
                ls = styles[zs.index(float(r["z"])) % len(styles)]
                handles.append(ax.axhline(float(r["hr"]), color=f"C{(i + 4) % 10}", ls=ls,
                                          lw=0.9, label=f"{_nh_label(nh)}, z = {r['z']:.2g}"))
        ax.legend(handles=handles, frameon=False, fontsize=7, loc="upper left",
                  bbox_to_anchor=(1.01, 1.0), title="tracks", title_fontsize=7)
        ax.add_artist(points)
    ax.set_xscale(xscale)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(r"HR = (H $-$ S) / (H + S)")
    ax.set_title(title)
    fig.tight_layout()
    return fig


def hardness_vs_redshift(hr_table, redshift, tracks=None, title=""):
    """Hardness ratio versus redshift with the model tracks HR(z) at fixed N_H.

    Parameters
    ----------
    hr_table : astropy.table.Table or dict
        As :func:`hardness_ratios`.
    redshift : array_like
        Per-source redshift; sources with NaN are not drawn.
    tracks : pandas.DataFrame, optional
        ``z, nh, hr`` (:func:`xsurvey.hardness.hr_tracks_table` on a redshift
        grid): one curve per N_H.
    title : str
    """
    fig, ax = plt.subplots(figsize=(5.6, 4.0))
    _draw_hr_points(ax, redshift, hr_table)
    if tracks is not None and len(tracks):
        for i, nh in enumerate(sorted(set(np.asarray(tracks["nh"], float)))):
            t = tracks[np.asarray(tracks["nh"], float) == nh].sort_values("z")
            ax.plot(t["z"], t["hr"], color=f"C{(i + 4) % 10}", lw=1.1, label=_nh_label(nh))
    ax.set_xlabel("Redshift")
    ax.set_ylabel(r"HR = (H $-$ S) / (H + S)")
    ax.set_xlim(left=0)
    ax.set_title(title)
    ax.legend(frameon=False, fontsize=7, loc="upper right", ncol=2)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- variability (§13)
def light_curves(lc_table, ids, variability=None, band=None, epochs=None, ncol=3, title=""):
    """Light curves: net rate per epoch with its 68% interval, one panel per source.

    Parameters
    ----------
    lc_table : astropy.table.Table
        :func:`xsurvey.variability.light_curve_table` (``id, epoch, rate,
        rate_lo, rate_hi``, optionally ``band``).
    ids : sequence
        Sources to draw (panel order).
    variability : astropy.table.Table, optional
        :func:`xsurvey.variability.variability_table` (``id, rate_all,
        p_value``, optionally ``band``): the stacked rate is drawn as a
        horizontal line and p is printed.
    band : str, optional
        Band to draw when the tables hold several.
    epochs : sequence of str, optional
        Epoch order on the abscissa (default: order of first appearance).
    ncol : int
        Panels per row.
    title : str
    """
    lc = lc_table
    var = variability
    if band is not None and "band" in lc.colnames:
        lc = lc[np.asarray(lc["band"]) == str(band)]
    if band is not None and var is not None and "band" in var.colnames:
        var = var[np.asarray(var["band"]) == str(band)]
    epochs = list(dict.fromkeys(np.asarray(lc["epoch"]).astype(str))) if epochs is None \
        else [str(e) for e in epochs]
    pos = {e: i for i, e in enumerate(epochs)}
    ids = list(ids)
    n = max(1, len(ids))
    ncol = min(ncol, n)
    nrow = int(np.ceil(n / ncol))
    fig, axes = plt.subplots(nrow, ncol, figsize=(2.9 * ncol, 2.3 * nrow), squeeze=False)
    for ax in axes.ravel()[len(ids):]:
        ax.set_visible(False)
    lc_ids = np.asarray(lc["id"])
    for ax, sid in zip(axes.ravel(), ids, strict=False):
        t = lc[lc_ids == sid]
        x = np.array([pos.get(str(e), np.nan) for e in np.asarray(t["epoch"]).astype(str)])
        r = np.asarray(t["rate"], float)
        lo, hi = np.asarray(t["rate_lo"], float), np.asarray(t["rate_hi"], float)
        ax.errorbar(x, r, yerr=[r - lo, hi - r], fmt="o", ms=4, color="C0", capsize=2,
                    elinewidth=0.9)
        text = f"id {sid}"
        if var is not None:
            v = var[np.asarray(var["id"]) == sid]
            if len(v):
                ax.axhline(float(v["rate_all"][0]), color="0.3", ls="--", lw=0.9)
                text += f"\np = {float(v['p_value'][0]):.2g}"
        ax.text(0.03, 0.95, text, transform=ax.transAxes, va="top", fontsize=7)
        ax.set_ylim(bottom=0)
    for ax in axes.ravel()[:len(ids)]:
        ax.set_xticks(range(len(epochs)))
        ax.set_xticklabels(epochs, fontsize=8)
        ax.set_xlim(-0.5, len(epochs) - 0.5)
    for ax in axes[-1]:
        ax.set_xlabel("Epoch")
    for ax in axes[:, 0]:
        ax.set_ylabel(r"Net rate [ct s$^{-1}$]")
    fig.suptitle(title or (f"{band} keV" if band else ""), fontsize=11)
    fig.tight_layout()
    return fig


def no_data(message: str, title: str = ""):
    """A placeholder figure saying why there is nothing to show (e.g. an empty catalogue)."""
    fig, ax = plt.subplots(figsize=(5.0, 2.0))
    ax.axis("off")
    ax.text(0.5, 0.5, message, ha="center", va="center", transform=ax.transAxes)
    ax.set_title(title)
    return fig
