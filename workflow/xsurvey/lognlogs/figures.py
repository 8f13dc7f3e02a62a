"""Figures of the lognlogs stage. Functions take tables/arrays and return a Figure."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from xsurvey.plotting import FLUX_LABEL, grid_axes


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
        through :meth:`xsurvey.population.Population.band_counts`; solid grey line. With
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
    fig, axes = grid_axes(len(bands))
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
        ax.set_xlabel(f"{band} keV flux [{FLUX_LABEL}]")
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
        bot.set_xlabel(f"Flux [{FLUX_LABEL}]")
        bot.set_ylim(0.5, 1.5)
    axes[0, 0].set_ylabel(r"$N(>S)$ [deg$^{-2}$]")
    axes[1, 0].set_ylabel("recovered / input")
    axes[0, 0].legend(frameon=False, fontsize=7, loc="lower left")
    if title:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return fig
