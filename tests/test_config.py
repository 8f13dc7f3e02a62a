"""Bad input fails early with a message naming the culprit."""

import numpy as np
import pandas as pd
import pytest
from astropy.io import fits
from astropy.table import Table

from xsurvey import io
from xsurvey.config import (
    ConfigError,
    check_ancillary_catalogs,
    check_bands,
    check_demo_paths,
    check_grid_overlap,
    check_input_files,
    check_observation_table,
    check_stacks,
    read_observation_table,
)
from xsurvey.mosaic import make_grid

HEADER = "obs_id\tepoch\tmodule\tevents\texposure\tbackground\n"


def _table(tmp_path, rows, header=HEADER):
    p = tmp_path / "obs.tsv"
    p.write_text(header + "".join("\t".join(r) + "\n" for r in rows))
    return p, read_observation_table(p)


def _row(obs="001", epoch="e1", module="FPMA"):
    return [obs, epoch, module, f"{obs}_{module}.evt", f"{obs}_{module}_ex_{{band}}.fits",
            f"{obs}_{module}_bkg_{{band}}.fits"]


def test_unknown_band(nustar):
    with pytest.raises(ConfigError, match=r"'bands'.*unknown band '2-10'"):
        check_bands(["3-24", "2-10"], nustar)


def test_observation_listed_twice(tmp_path, nustar):
    p, df = _table(tmp_path, [_row(), _row("002"), _row()])
    with pytest.raises(ConfigError, match=r"observation 001 module FPMA is listed twice "
                                          r"\(lines 2, 4\)"):
        check_observation_table(df, nustar, p, demo=False)


def test_missing_column(tmp_path, nustar):
    row = _row()
    p, df = _table(tmp_path, [row[:4] + row[5:]], header=HEADER.replace("\texposure", ""))
    with pytest.raises(ConfigError, match="missing column 'exposure'"):
        check_observation_table(df, nustar, p, demo=False)


def test_empty_cell_is_named(tmp_path, nustar):
    row = _row("002")
    row[3] = ""
    p, df = _table(tmp_path, [_row(), _row("003"), row])
    with pytest.raises(ConfigError, match=r"obs.tsv, line 4: empty 'events'"):
        check_observation_table(df, nustar, p, demo=False)


def test_background_column_is_optional(tmp_path, nustar):
    p, df = _table(tmp_path, [_row()[:5]], header=HEADER.replace("\tbackground", ""))
    assert list(check_observation_table(df, nustar, p, demo=False).background) == [""]


def test_unknown_module(tmp_path, nustar):
    p, df = _table(tmp_path, [_row(), _row(module="pn")])
    with pytest.raises(ConfigError, match=r"line 3: unknown module 'pn'"):
        check_observation_table(df, nustar, p, demo=False)


def test_epoch_in_stack_without_observations(tmp_path):
    p, df = _table(tmp_path, [_row(), _row("002", "e2")])
    with pytest.raises(ConfigError, match=r"'stacks.deep': epoch 'e3' has no observations"):
        check_stacks({"all": ["e1", "e2"], "deep": ["e1", "e3"]}, df, p)


def test_missing_input_file_named_with_line(tmp_path):
    p, df = _table(tmp_path, [_row()])
    with pytest.raises(ConfigError, match=r"line 2 \(obs 001 FPMA\): events file not found"):
        check_input_files(df, ["3-24"], p)


def test_observation_responses_on_every_row_or_none(tmp_path, nustar, monkeypatch):
    """An RMF on some rows only, or ARFs without RMFs, stop the run naming the line; a
    named RMF that does not exist is named with its row."""
    header = HEADER.replace("\n", "\trmf\tarf\n")
    p, df = _table(tmp_path, [_row() + ["a.rmf", ""], _row("002") + ["", ""]], header)
    with pytest.raises(ConfigError, match=r"line 3: empty 'rmf' while other rows give one"):
        check_observation_table(df, nustar, p, demo=False)
    p, df = _table(tmp_path, [_row() + ["", "a.arf"], _row("002") + ["", "b.arf"]], header)
    with pytest.raises(ConfigError, match="column 'arf' needs column 'rmf'"):
        check_observation_table(df, nustar, p, demo=False)
    p, df = _table(tmp_path, [_row() + ["missing.rmf", ""]], header)
    for name in ("001_FPMA.evt", "001_FPMA_ex_3-24.fits", "001_FPMA_bkg_3-24.fits"):
        (tmp_path / name).write_text("")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match=r"line 2 \(obs 001 FPMA\): rmf file not found: "
                                          r"missing.rmf"):
        check_input_files(check_observation_table(df, nustar, p, demo=False), ["3-24"], p)


def test_demo_mode_requires_pointings_and_demo_paths(tmp_path, nustar):
    p, df = _table(tmp_path, [_row()])
    with pytest.raises(ConfigError, match="demo mode needs column 'ra_pnt'"):
        check_observation_table(df, nustar, p, demo=True)
    with pytest.raises(ConfigError, match=r"line 2: demo mode expects events"):
        check_demo_paths(df, "results/demo", p)


def test_missing_table(tmp_path):
    with pytest.raises(ConfigError, match="observation table not found"):
        read_observation_table(tmp_path / "nope.tsv")


@pytest.fixture
def image_wcs(nustar):
    return make_grid((150.0, 2.0), (2.0, 2.0), nustar.pixel_arcsec)[0]


def test_nan_exposure_is_rejected(tmp_path, image_wcs):
    data = np.full((49, 49), 1e4)
    data[3, 4] = np.nan
    io.write_image(tmp_path / "ex.fits", data, image_wcs, "s")
    with pytest.raises(io.InputError, match=r"exposure map file .*ex.fits: 1 NaN"):
        io.read_image(tmp_path / "ex.fits", "exposure map")


def test_negative_exposure_is_rejected(tmp_path, image_wcs):
    io.write_image(tmp_path / "ex.fits", np.full((49, 49), -1.0), image_wcs, "s")
    with pytest.raises(io.InputError, match="negative pixels"):
        io.read_image(tmp_path / "ex.fits", "exposure map", allow_negative=False)


def test_unreadable_and_truncated_fits(tmp_path, image_wcs):
    bad = tmp_path / "garbage.fits"
    bad.write_bytes(b"this is not FITS at all" * 10)
    with pytest.raises(io.InputError, match=r"garbage.fits is not a readable FITS file"):
        io.read_image(bad, "exposure map")
    good = tmp_path / "ex.fits"
    io.write_image(good, np.ones((200, 200)), image_wcs, "s")
    trunc = tmp_path / "trunc.fits"
    trunc.write_bytes(good.read_bytes()[:20000])
    with pytest.raises(io.InputError, match="trunc.fits"):
        io.read_image(trunc, "exposure map")


def test_missing_wcs(tmp_path):
    fits.PrimaryHDU(np.ones((10, 10))).writeto(tmp_path / "nowcs.fits")
    with pytest.raises(io.InputError, match="no celestial WCS"):
        io.read_image(tmp_path / "nowcs.fits", "background map")


def test_event_file_missing_column(tmp_path, image_wcs):
    t = Table({"X": [1.0], "Y": [2.0], "TIME": [0.0]})
    hdu = fits.BinTableHDU(t, name="EVENTS")
    hdu.header.update(io.events_wcs_keywords(image_wcs))
    gti = fits.BinTableHDU(Table({"START": [0.0], "STOP": [1.0]}), name="GTI")
    fits.HDUList([fits.PrimaryHDU(), hdu, gti]).writeto(tmp_path / "ev.fits")
    with pytest.raises(io.InputError, match="EVENTS lacks column.*PI"):
        io.read_events(tmp_path / "ev.fits")


def test_event_file_missing_sky_wcs(tmp_path):
    t = Table({"X": [1.0], "Y": [2.0], "PI": [100], "TIME": [0.0]})
    gti = fits.BinTableHDU(Table({"START": [0.0], "STOP": [1.0]}), name="GTI")
    fits.HDUList([fits.PrimaryHDU(), fits.BinTableHDU(t, name="EVENTS"), gti]).writeto(
        tmp_path / "ev.fits")
    with pytest.raises(io.InputError, match="missing sky WCS keyword TCTYP1"):
        io.read_events(tmp_path / "ev.fits")


def test_event_wcs_round_trip(tmp_path, image_wcs):
    t = Table({"X": [25.0], "Y": [25.0], "PI": [100], "TIME": [0.0]})
    hdu = fits.BinTableHDU(t, name="EVENTS")
    hdu.header.update(io.events_wcs_keywords(image_wcs))
    gti = fits.BinTableHDU(Table({"START": [0.0], "STOP": [1.0]}), name="GTI")
    fits.HDUList([fits.PrimaryHDU(), hdu, gti]).writeto(tmp_path / "ev.fits")
    ev, wcs, _ = io.read_events(tmp_path / "ev.fits")
    ra, dec = wcs.wcs_pix2world(ev["X"], ev["Y"], 1)
    ra0, dec0 = image_wcs.wcs_pix2world(24.0, 24.0, 0)
    assert np.allclose([ra[0], dec[0]], [ra0, dec0], atol=1e-9)


def test_observation_table_keeps_obs_id_as_text(tmp_path):
    p, df = _table(tmp_path, [_row("0060001")])
    assert df.obs_id.iloc[0] == "0060001"
    assert isinstance(df, pd.DataFrame)


def test_missing_ancillary_catalogue(tmp_path):

    with pytest.raises(ConfigError, match=r"'counterparts.catalogs\[0\]' \(xmm\): catalogue "
                                          r"file not found"):
        check_ancillary_catalogs([{"name": "xmm", "path": str(tmp_path / "none.fits")}])


GRID = {"center_deg": [150.0, 2.0], "size_arcmin": [30.0, 30.0]}


def test_observation_outside_the_grid_user_data(tmp_path, nustar):
    rows = [_row("001"), _row("002")]
    path, df = _table(tmp_path, rows)
    near = make_grid((150.05, 2.02), (12.0, 12.0), nustar.pixel_arcsec)
    far = make_grid((160.0, 2.0), (12.0, 12.0), nustar.pixel_arcsec)
    for obs, (wcs, shape) in (("001", near), ("002", far)):
        io.write_image(tmp_path / f"{obs}_FPMA_ex_3-8.fits", np.ones(shape), wcs, "s")
    df["exposure"] = [str(tmp_path / f"{o}_FPMA_ex_{{band}}.fits") for o in ("001", "002")]
    with pytest.raises(ConfigError, match=r"line 3 \(obs 002 FPMA\): does not overlap the "
                                          r"mosaic grid: its centre \(RA, Dec = 160.0000, "
                                          r"2.0000 deg\) is 9.99. deg from the grid centre"):
        check_grid_overlap(df, GRID, ["3-8"], path, nustar.field_of_view_arcmin, demo=False)
    check_grid_overlap(df.iloc[:1], GRID, ["3-8"], path, nustar.field_of_view_arcmin, demo=False)
    fits.PrimaryHDU(np.ones((10, 10))).writeto(tmp_path / "002_FPMA_ex_3-8.fits",
                                               overwrite=True)
    with pytest.raises(ConfigError, match=r"line 3 \(obs 002 FPMA\): exposure map \(3-8\) "
                                          r"file .*: no celestial WCS"):
        check_grid_overlap(df, GRID, ["3-8"], path, nustar.field_of_view_arcmin, demo=False)


def test_observation_outside_the_grid_demo(tmp_path, nustar):
    header = HEADER.rstrip("\n") + "\tra_pnt\tdec_pnt\troll_deg\texposure_ks\n"
    path, df = _table(tmp_path, [_row("001") + ["150.2", "2.1", "0", "50"],
                                 _row("002") + ["150.0", "2.4", "0", "50"]], header)
    # 0.4 deg north: 0.354 deg (grid half-diagonal) + 0.141 deg (FOV half-diagonal) > 0.4
    check_grid_overlap(df, GRID, ["3-8"], path, nustar.field_of_view_arcmin, demo=True)
    df.loc[3, "dec_pnt"] = 2.6
    with pytest.raises(ConfigError, match=r"line 3 \(obs 002 FPMA\): does not overlap"):
        check_grid_overlap(df, GRID, ["3-8"], path, nustar.field_of_view_arcmin, demo=True)


def test_observation_table_comments_and_hashes(tmp_path):
    """Only a line starting with # is a comment: a # inside a path is kept, and the line
    numbers of the messages are those of the file."""
    p = tmp_path / "obs.tsv"
    row = "\t".join(["001", "e1", "FPMA", "data/run#2/ev.fits", "exp_{band}.fits", ""])
    p.write_text("# my survey\n" + HEADER + "  # a note\n" + row + "\n\n" + row.replace(
        "001", "002") + "\n")
    df = read_observation_table(p)
    assert list(df.index) == [4, 6]
    assert df.events.iloc[0] == "data/run#2/ev.fits"
    p.write_text(HEADER + row + "\textra\tfields\n")
    with pytest.raises(ConfigError, match=r"obs.tsv, line 2: 8 fields for 6 columns"):
        read_observation_table(p)
    p.write_text(HEADER.replace("\t", "  ") + row.replace("\t", "  ") + "\n")
    with pytest.raises(ConfigError, match=r"obs.tsv, line 1: the header is not tab-separated "
                                          r"\(columns separated by spaces\)"):
        read_observation_table(p)
    p.write_text("# nothing\n")
    with pytest.raises(ConfigError, match=r"obs.tsv: empty"):
        read_observation_table(p)


def test_images_carry_their_unit_and_no_made_up_time_reference(tmp_path, image_wcs):
    """A mosaic has no time axis: no ``MJDREF = 0`` (1858-11-17) in its header."""
    io.write_image(tmp_path / "m.fits", np.ones((49, 49)), image_wcs, "count",
                   extra={"MJDREFI": (55197, "MJD of MET zero")})
    header = fits.getheader(tmp_path / "m.fits")
    assert header["BUNIT"] == "count" and header["CTYPE1"] == "RA---TAN"
    assert "MJDREF" not in header
    assert header["MJDREFI"] == 55197  # a real one given by the caller stays
