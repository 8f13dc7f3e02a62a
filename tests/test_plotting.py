"""Figures: no two tick labels of an axis overlap, on log axes of any span."""

import ast

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg

from xsurvey import plotting
from xsurvey.lognlogs import figures as lognlogs_figures

from .conftest import REPO


def overlapping_labels(fig) -> list:
    """Pairs of tick labels of one axis whose drawn boxes intersect (after a fresh draw,
    as the saved file shows them)."""
    canvas = FigureCanvasAgg(fig)  # a saved figure is closed: draw it on a fresh canvas
    canvas.draw()
    renderer = canvas.get_renderer()
    pairs = []
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            lo, hi = sorted(axis.get_view_interval())
            labels = [lab for tick in axis.get_major_ticks() + axis.get_minor_ticks()
                      if tick.get_loc() is not None and lo <= tick.get_loc() <= hi
                      for lab in (tick.label1, tick.label2)
                      if lab.get_visible() and lab.get_text()]
            boxes = [lab.get_window_extent(renderer) for lab in labels]
            pairs += [(labels[i].get_text(), labels[j].get_text())
                      for i in range(len(boxes)) for j in range(i + 1, len(boxes))
                      if boxes[i].overlaps(boxes[j])]
    return pairs


def counts_table(lo, hi, n=40):
    flux = np.geomspace(lo, hi, n)
    n_gt = np.arange(n, 0, -1) * 3.0
    return pd.DataFrame({"flux": flux, "n_gt_s": n_gt, "n_err_lo": np.sqrt(n_gt),
                         "n_err_hi": np.sqrt(n_gt)})


def test_the_number_counts_figure_of_a_narrow_flux_range_has_no_overlapping_labels(tmp_path):
    """The case that ran together: 2x10^-14 ... 6x10^-14 on five small panels."""
    counts = {b: counts_table(2e-14, 6e-14) for b in ("3-24", "3-8", "8-24", "8-16", "16-24")}
    fig = lognlogs_figures.number_counts_curves(counts)
    assert overlapping_labels(fig), "the raw figure should have overlapping labels"
    plotting.save(fig, tmp_path / "lognlogs.png")
    assert overlapping_labels(fig) == []
    # the major (decade) labels stay; the axes still say what they show
    for ax in (ax for ax in fig.axes if ax.get_visible()):
        assert plotting.drawn_tick_labels(ax.xaxis) and plotting.drawn_tick_labels(ax.yaxis)


@pytest.mark.parametrize("xlim", [(2e-14, 5e-14), (1e-15, 1e-12), (3.0, 30.0), (0.9, 1.1e4)])
@pytest.mark.parametrize("width_in", [1.6, 3.0, 6.0])
def test_log_axes_of_any_span_and_width_have_no_overlapping_labels(tmp_path, xlim, width_in):
    fig, ax = plt.subplots(figsize=(width_in, width_in * 0.8))
    x = np.geomspace(*xlim, 50)
    ax.plot(x, x ** -1.5)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(*xlim)
    plotting.save(fig, tmp_path / "f.png")
    assert overlapping_labels(fig) == []
    assert plotting.drawn_tick_labels(ax.xaxis), "at least one x label is kept"


def test_labels_that_fit_are_all_kept(tmp_path):
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot([1e-15, 1e-11], [1, 10])
    ax.set_xscale("log")
    assert plotting.thin_tick_labels(fig) == 0


def test_every_figure_is_saved_through_plotting_save():
    """The thinning applies to all figures only if no script or module saves on its own."""
    files = [*(REPO / "workflow" / "xsurvey").rglob("*.py"),
             *(REPO / "workflow" / "scripts").glob("*/*.py")]
    direct = [f"{f.relative_to(REPO)}:{node.lineno}" for f in files
              if f.name != "plotting.py"
              for node in ast.walk(ast.parse(f.read_text()))
              if isinstance(node, ast.Attribute) and node.attr == "savefig"]
    assert not direct, f"figures saved without plotting.save: {direct}"
