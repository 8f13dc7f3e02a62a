"""Figures of the detect stage. Functions take tables/arrays and return a Figure."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from astropy.visualization import AsinhStretch, ImageNormalize, PercentileInterval

from xsurvey.detect.regions import DET_ML_MARK, MARKS


def detection_map(counts_smoothed, exposure, wcs, detections, title="",
                  det_ml_mark=DET_ML_MARK, exposure_levels_ks=(100.0, 300.0)):
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
        Detections above it are circled; fainter ones get a small cross (the marks of
        :data:`xsurvey.detect.regions.MARKS`, as in the detections' region files).
    """

    fig = plt.figure(figsize=(6.4, 5.6))
    ax = fig.add_subplot(projection=wcs)
    shown = np.where(exposure > 0, counts_smoothed, np.nan)
    norm = ImageNormalize(shown[np.isfinite(shown)], interval=PercentileInterval(99.7),
                          stretch=AsinhStretch(0.05))
    im = ax.imshow(shown, origin="lower", cmap="magma", norm=norm)
    ax.contour(exposure / 1e3, levels=list(exposure_levels_ks), colors="c", linewidths=0.6)
    bright = np.asarray(detections["det_ml"]) >= det_ml_mark
    ax.scatter(detections["x"][bright], detections["y"][bright], s=60, facecolors="none",
               edgecolors=MARKS["bright"]["color"], linewidths=0.8,
               label=f"DET_ML $\\geq$ {det_ml_mark:g}")
    ax.scatter(detections["x"][~bright], detections["y"][~bright], s=6,
               marker=MARKS["faint"]["marker"], color=MARKS["faint"]["color"], linewidths=0.5,
               label=f"DET_ML < {det_ml_mark:g}")
    ax.coords[0].set_axislabel("Right ascension (ICRS)")
    ax.coords[1].set_axislabel("Declination (ICRS)")
    ax.set_title(title)
    ax.legend(loc="upper right", fontsize=8, framealpha=0.6)
    fig.colorbar(im, ax=ax, label="counts per 20\" top-hat", shrink=0.8)
    return fig
