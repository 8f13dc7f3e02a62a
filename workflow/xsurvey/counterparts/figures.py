"""Figures of the counterparts stage. Functions take tables/arrays and return a Figure."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from xsurvey.plotting import FLUX_LABEL

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
    ax.set_xlabel(f"{flux_label} [{FLUX_LABEL}]")
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
    ax.set_xlabel(f"{x_label} [{FLUX_LABEL}]")
    ax.set_ylabel(f"{y_label} [{FLUX_LABEL}]")
    ax.set_title(title)
    ax.legend(frameon=False, fontsize=8, loc="upper left")
    return fig
