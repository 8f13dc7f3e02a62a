"""Cross-checks of one observation's files (xsurvey.checks): each bad case names its file."""

import numpy as np
import pytest
from astropy.io import fits

from xsurvey import checks, demo
from xsurvey.config import default_config
from xsurvey.io import InputError

from ..conftest import REPO
from ..demo.test_demo import ON_AXIS, make_truth

BANDS = ["3-8", "8-24"]


@pytest.fixture(scope="module")
def files(nustar, tmp_path_factory):
    """One simulated observation written as real files (events, exposure, background)."""
    cfg = {**default_config(REPO)["demo"], "image_npix": 301}
    cfg.pop("background_fit_flux")
    obs = demo.simulate_observation(nustar, make_truth([150.1, 150.12], [2.25, 2.26], 3e-13),
                                    {**ON_AXIS, "exposure_ks": 30.0}, cfg)
    d = tmp_path_factory.mktemp("obs")
    paths = {"events": d / "events.fits", "exposure": {b: d / f"exp_{b}.fits" for b in BANDS},
             "background": {b: d / f"bkg_{b}.fits" for b in BANDS}}
    demo.write_observation(obs, paths["events"], paths["exposure"], paths["background"])
    return paths


def _row(files, **changes):
    row = {"obs_id": "609010001002", "module": "FPMA", "events": str(files["events"]),
           "exposure": {b: str(p) for b, p in files["exposure"].items()},
           "background": {b: str(p) for b, p in files["background"].items()}}
    return {**row, **changes}


def _copy(src, dst, edit):
    """Copy a FITS file, applying ``edit(hdul)`` to the copy."""
    with fits.open(src) as hdul:
        hdul = fits.HDUList([h.copy() for h in hdul])
    edit(hdul)
    hdul.writeto(dst, overwrite=True)
    return str(dst)


def test_good_observation_summary(files, nustar):
    summary, warnings = checks.check_observation(_row(files), nustar, BANDS)
    assert warnings == []
    assert summary["gti_s"] == pytest.approx(30e3)
    assert summary["exposure_max_s"]["3-8"] == pytest.approx(30e3)
    assert abs(summary["ra_pnt"] - 150.1) < 0.02 and abs(summary["dec_pnt"] - 2.25) < 0.02
    assert summary["counts"]["3-8"] > 0 and summary["n_events"] == sum(summary["counts"].values())
    assert len(summary["events_sha1"]) == 40


def _events(edit):
    def apply(hdul):
        edit(hdul["EVENTS"].data)
    return apply


@pytest.mark.parametrize("edit, message", [
    (lambda d: d["PI"].__setitem__(slice(None), 0), "none in the bands 3-8, 8-24 keV"),
    (lambda d: d["PI"].__setitem__(slice(0, 5), 9000), r"5 events with PI outside 0-4095"),
])
def test_bad_events(files, nustar, tmp_path, edit, message):
    path = _copy(files["events"], tmp_path / "bad_events.fits", _events(edit))
    with pytest.raises(InputError, match=rf"bad_events.fits.*{message}|{message}"):
        checks.check_observation(_row(files, events=path), nustar, BANDS)


def test_events_file_without_events(files, nustar, tmp_path):
    def empty(hdul):
        hdul["EVENTS"] = fits.BinTableHDU(hdul["EVENTS"].data[:0], header=hdul["EVENTS"].header,
                                          name="EVENTS")
    path = _copy(files["events"], tmp_path / "empty.fits", empty)
    with pytest.raises(InputError, match=r"event file .*empty.fits has no events"):
        checks.check_observation(_row(files, events=path), nustar, BANDS)


def test_band_without_events_is_a_warning(files, nustar, tmp_path):
    def soft_only(hdul):
        d = hdul["EVENTS"].data
        d["PI"] = np.where(d["PI"] >= nustar.pi_range("8-24")[0], 50, d["PI"])
    path = _copy(files["events"], tmp_path / "soft.fits", soft_only)
    _, warnings = checks.check_observation(_row(files, events=path), nustar, BANDS)
    assert warnings == [f"observation 609010001002 FPMA: event file {path} has no events in "
                        "band 8-24 keV"]


@pytest.mark.parametrize("factor, message", [
    (1e-3, r"peaks at 30 s for 30000 s of good time .* expected 0.4-1.05 times the good time "
           r"\(in ks\?\)"),
    (3e4, r"peaks at 9e\+08 s for 30000 s of good time"),
    (0.0, r"exp_bad.fits is zero everywhere"),
])
def test_exposure_against_gti(files, nustar, tmp_path, factor, message):
    def scale(hdul):
        hdul[0].data = hdul[0].data * factor
    bad = _copy(files["exposure"]["3-8"], tmp_path / "exp_bad.fits", scale)
    row = _row(files, exposure={**{b: str(p) for b, p in files["exposure"].items()},
                                "3-8": bad})
    with pytest.raises(InputError, match=message):
        checks.check_observation(row, nustar, BANDS)


def test_exposure_map_of_another_pointing(files, nustar, tmp_path):
    def shift(hdul):
        hdul[0].header["CRVAL1"] += 10.0 / 60.0      # 10' east
    bad = _copy(files["exposure"]["8-24"], tmp_path / "exp_other.fits", shift)
    row = _row(files, exposure={**{b: str(p) for b, p in files["exposure"].items()},
                                "8-24": bad})
    with pytest.raises(InputError, match=r"exp_other.fits is centred (9|10)\.\d' from the events"):
        checks.check_observation(row, nustar, BANDS)


@pytest.mark.parametrize("value, message", [(-1.0, "FCXB extension has negative pixels"),
                                            (np.nan, "FCXB extension has 1 NaN")])
def test_bad_fcxb(files, nustar, tmp_path, value, message):
    def poison(hdul):
        hdul["FCXB"].data[10, 10] = value
    bad = _copy(files["background"]["3-8"], tmp_path / "bkg_bad.fits", poison)
    row = _row(files, background={**{b: str(p) for b, p in files["background"].items()},
                                  "3-8": bad})
    with pytest.raises(InputError, match=rf"background map .*bkg_bad.fits: {message}"):
        checks.check_observation(row, nustar, BANDS)


def test_same_events_under_two_observations(files, nustar):
    a, _ = checks.check_observation(_row(files), nustar, BANDS)
    b, _ = checks.check_observation(_row(files, obs_id="609010009002"), nustar, BANDS)
    assert checks.duplicate_events([a, b]) == [("609010001002 FPMA", "609010009002 FPMA")]
    assert checks.duplicate_events([a]) == []
