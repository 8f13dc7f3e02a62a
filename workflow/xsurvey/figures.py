"""Publication-quality figures. Functions take tables/arrays and return a Figure."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

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
def _suffix(band):
    return str(band).replace("-", "_").replace(".", "p")


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
        top.set_title(f"{band} keV", fontsize=10)
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
        s = _suffix(band)
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
