"""DS9 region files of detections and catalogue sources, marked as in the detection figures.

The regions are built and written with astropy-regions; this module only chooses the marks
(:data:`MARKS`), which the detection figures (:mod:`xsurvey.detect.figures`) use too.
"""

from __future__ import annotations

import astropy.units as u
import numpy as np
from astropy.coordinates import SkyCoord
from regions import CircleSkyRegion, PointSkyRegion, Regions

from xsurvey.io import atomic_path

#: Sources with DET_ML at or above this are circled, fainter ones get a small cross.
DET_ML_MARK = 10.0
#: The marks of the detection figures and region files: colour (matplotlib and DS9 both
#: read these names) and the DS9/matplotlib point marker of faint detections.
MARKS = {"bright": {"color": "lime"}, "faint": {"color": "#b3b3b3", "marker": "+"}}


def source_regions(ra_deg, dec_deg, radius_arcsec: float, bright, labels=None) -> Regions:
    """One region per source: a circle for a bright source, a cross for a faint one.

    Parameters
    ----------
    ra_deg, dec_deg : array_like
        ICRS position (deg).
    radius_arcsec : float
        Circle radius (arcsec), e.g. the photometry aperture.
    bright : array_like of bool
        Which sources are circled (the others get a point marked by a cross).
    labels : sequence of str, optional
        Text shown next to each circle (e.g. the source name).

    Returns
    -------
    regions.Regions
        In the sources' order.
    """
    centres = SkyCoord(np.asarray(ra_deg, float), np.asarray(dec_deg, float), unit="deg",
                       frame="icrs")
    bright = np.broadcast_to(np.asarray(bright, bool), centres.shape)
    labels = [None] * len(centres) if labels is None else [str(t) for t in labels]
    radius = radius_arcsec * u.arcsec
    out = []
    for centre, is_bright, text in zip(centres, bright, labels, strict=True):
        if is_bright:
            out.append(CircleSkyRegion(centre, radius, visual=dict(MARKS["bright"]),
                                       meta={"text": text} if text else {}))
        else:
            out.append(PointSkyRegion(centre, visual=dict(MARKS["faint"])))
    return Regions(out)


def write_regions(regions: Regions, path) -> None:
    """Write regions as a DS9 region file (ICRS, degrees), atomically."""
    with atomic_path(path) as tmp:
        regions.write(str(tmp), format="ds9", overwrite=True)
