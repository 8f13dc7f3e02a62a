"""Figures of the characterise stage. Functions take tables/arrays and return a Figure."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from xsurvey.characterise.hardness import first_column


# --------------------------------------------------------------------------- spectral shape (§12)
def _nh_label(nh):
    return rf"$N_\mathrm{{H}}=10^{{{np.log10(nh):.3g}}}$"


def _hr_arrays(hr_table):

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
        :func:`xsurvey.characterise.hardness_table` (``hr, hr_lo68, hr_hi68,
        hr_lo90, hr_hi90, hr_flag``) or :func:`xsurvey.characterise.bayesian_hr`.
    x : array_like
        Abscissa per source, e.g. a band flux (erg cm^-2 s^-1) or the index.
    levels : pandas.DataFrame, optional
        ``z, nh, hr`` (:func:`xsurvey.characterise.hr_tracks_table` at a few N_H,
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
        ``z, nh, hr`` (:func:`xsurvey.characterise.hr_tracks_table` on a redshift
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
        :func:`xsurvey.characterise.light_curve_table` (``id, epoch, rate,
        rate_lo, rate_hi``, optionally ``band``).
    ids : sequence
        Sources to draw (panel order).
    variability : astropy.table.Table, optional
        :func:`xsurvey.characterise.variability_table` (``id, rate_all,
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
