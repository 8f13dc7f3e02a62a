"""DS9 region files of detections and catalogue sources (xsurvey.detect.regions)."""

import matplotlib.colors as mcolors
import numpy as np
from astropy.table import Table
from astropy.wcs import WCS
from regions import CircleSkyRegion, PointSkyRegion, Regions

from xsurvey.detect import figures, regions


def test_one_region_per_source_circles_bright_crosses_faint(tmp_path):
    ra, dec = np.array([150.1, 150.2, 150.3]), np.array([2.1, 2.2, 2.3])
    det_ml = np.array([25.0, 4.0, 10.0])
    path = tmp_path / "det.reg"
    regions.write_regions(regions.source_regions(ra, dec, 20.0, det_ml >= regions.DET_ML_MARK,
                                                 ["A", "B", "C"]), path)
    back = Regions.read(path, format="ds9")
    assert len(back) == 3
    assert [type(r) for r in back] == [CircleSkyRegion, PointSkyRegion, CircleSkyRegion]
    for r, a, d in zip(back, ra, dec, strict=True):
        assert abs(r.center.ra.deg - a) < 1e-7 and abs(r.center.dec.deg - d) < 1e-7
    assert abs(back[0].radius.to_value("arcsec") - 20.0) < 1e-3
    assert back[0].meta["text"] == "A" and back[2].meta["text"] == "C"
    assert back[0].visual["edgecolor"] == regions.MARKS["bright"]["color"]
    assert back[1].visual["color"] == regions.MARKS["faint"]["color"]
    assert back[1].visual["marker"] == regions.MARKS["faint"]["marker"]
    assert path.read_text().count("point=cross") == 1


def test_an_empty_list_gives_a_valid_empty_region_file(tmp_path):
    path = tmp_path / "none.reg"
    regions.write_regions(regions.source_regions([], [], 20.0, True), path)
    assert len(Regions.read(path, format="ds9")) == 0


def test_the_detection_figure_marks_sources_in_the_region_files_colours():
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.cdelt = [-1e-3, 1e-3]
    det = Table({"x": [10.0, 20.0], "y": [10.0, 20.0], "det_ml": [30.0, 3.0]})
    image = np.random.default_rng(1).poisson(1.0, (40, 40)).astype(float)
    fig = figures.detection_map(image, np.full((40, 40), 5e5), wcs, det)
    bright, faint = fig.axes[0].collections[-2:]
    assert np.allclose(bright.get_edgecolor()[0],
                       mcolors.to_rgba(regions.MARKS["bright"]["color"]))
    assert np.allclose(faint.get_facecolor()[0],
                       mcolors.to_rgba(regions.MARKS["faint"]["color"]))
