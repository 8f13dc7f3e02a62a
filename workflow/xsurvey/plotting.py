"""Figure style and helpers shared by the stages' figures (matplotlib, Agg)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # before pyplot: figures are files, never windows

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

plt.rcParams.update({
    "figure.dpi": 120, "savefig.dpi": 150, "font.size": 10, "axes.labelsize": 11,
    "legend.fontsize": 9, "xtick.direction": "in", "ytick.direction": "in",
    "xtick.top": True, "ytick.right": True,
})


#: Smallest gap between two tick labels of one axis, in points.
LABEL_GAP_PT = 2.0


def drawn_tick_labels(axis) -> list:
    """The tick labels an axis draws: visible, not empty, at a tick inside the view limits;
    major ticks first, in increasing position."""
    lo, hi = sorted(axis.get_view_interval())
    labels = []
    for ticks in (axis.get_major_ticks(), axis.get_minor_ticks()):
        for tick in sorted(ticks, key=lambda t: t.get_loc()):
            if tick.get_loc() is None or not lo <= tick.get_loc() <= hi:
                continue
            labels += [lab for lab in (tick.label1, tick.label2)
                       if lab.get_visible() and lab.get_text()]
    return labels


def thin_tick_labels(fig) -> int:
    """Hide every tick label that would touch one already kept on its axis.

    Log axes label minor ticks (2, 3, 4 x 10^n) when they span less than about a decade,
    and these run together on narrow panels; long linear labels can too. Labels are kept
    greedily, major ticks first, each only if it stays :data:`LABEL_GAP_PT` clear of all
    kept labels. (Matplotlib has no such option: its formatters decide per label, without
    knowing the label sizes.)

    Returns
    -------
    int
        Number of labels hidden.
    """
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    gap = LABEL_GAP_PT * fig.dpi / 72.0
    hidden = 0
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            kept = []
            for label in drawn_tick_labels(axis):
                box = label.get_window_extent(renderer).padded(gap / 2)
                if any(box.overlaps(k) for k in kept):
                    label.set_visible(False)
                    hidden += 1
                else:
                    kept.append(box)
    return hidden


def save(fig, path):
    """Save and close a figure (PNG, or PDF from the extension), with no overlapping tick
    labels (:func:`thin_tick_labels`)."""
    thin_tick_labels(fig)
    fig.savefig(path, bbox_inches="tight", metadata={"Software": None} if str(path).endswith(
        ".png") else None)
    plt.close(fig)


# --------------------------------------------------------------------------- calibration (§8)
FLUX_LABEL = r"erg cm$^{-2}$ s$^{-1}$"


LEVEL_MARKERS = ("o", "s", "D", "^", "v")


def interval_label(lo, hi):
    """'20-200 ks' or '>= 500 ks' for an exposure interval in ks."""
    return rf"$\geq${lo:g} ks" if np.isinf(hi) else f"{lo:g}–{hi:g} ks"


def band_title(table, title):
    if title or "band" not in table.columns:
        return title
    bands = list(dict.fromkeys(table["band"]))
    return f"{bands[0]} keV" if len(bands) == 1 else ""


def intervals_of(table):
    pairs = table[["exp_lo_ks", "exp_hi_ks"]].drop_duplicates().sort_values("exp_lo_ks")
    return list(pairs.itertuples(index=False, name=None))


def level_text(level):
    return f"{100 * level:g}%"


# --------------------------------------------------------------------------- number counts (§10)
def grid_axes(n, width=3.4, height=3.2, sharey=False):
    ncol = min(n, 3) if n else 1
    nrow = int(np.ceil(max(n, 1) / ncol))
    fig, axes = plt.subplots(nrow, ncol, figsize=(width * ncol, height * nrow), sharey=sharey,
                             squeeze=False)
    for ax in axes.ravel()[n:]:
        ax.set_visible(False)
    return fig, axes


def no_data(message: str, title: str = ""):
    """A placeholder figure saying why there is nothing to show (e.g. an empty catalogue)."""
    fig, ax = plt.subplots(figsize=(5.0, 2.0))
    ax.axis("off")
    ax.text(0.5, 0.5, message, ha="center", va="center", transform=ax.transAxes)
    ax.set_title(title)
    return fig
