"""Tests of xsurvey.catalog: band merging, upper limits, names, combinations, FITS/CSV."""

import numpy as np
import pandas as pd
import pytest
from astropy import units as u
from astropy.io import fits
from astropy.table import Table

from xsurvey import calibrate as cal
from xsurvey import catalog as cat
from xsurvey import plotting
from xsurvey.catalog import figures
from xsurvey.detect import photometry as ph
from xsurvey.instrument import band_suffix
from xsurvey.mosaic import make_grid

RA0, DEC0 = 150.1, 2.2
BANDS = ("3-24", "3-8", "8-24")
LETTERS = {"3-24": "F", "3-8": "S", "8-24": "H"}
APERTURES = {b: ph.Aperture(radius_pix=20 / 2.4588, eef=0.32, cf=cf)
             for b, cf in zip(BANDS, (4.86e-11, 3.39e-11, 7.08e-11), strict=True)}


def offset(dx_arcsec, dy_arcsec=0.0):
    """(ra, dec) at an offset from (RA0, DEC0), arcsec east and north (small angles)."""
    dec = DEC0 + np.asarray(dy_arcsec, float) / 3600.0
    ra = RA0 + np.asarray(dx_arcsec, float) / 3600.0 / np.cos(np.radians(DEC0))
    return ra, dec


def det_table(rows, expo_ks=100.0):
    """Detection DataFrame from (dx, dy, det_ml, counts, bkg, bkg_deblended) tuples."""
    rows = list(rows)
    dx, dy, ml, n, b, bd = (np.array(c, float) for c in zip(*rows, strict=True)) if rows \
        else (np.zeros(0),) * 6
    ra, dec = offset(dx, dy)
    df = pd.DataFrame({"ra": ra, "dec": dec, "det_ml": ml, "det_ml_raw": ml + 1.0,
                       "exposure_ks": np.full(ml.size, expo_ks), "counts": n, "bkg": b,
                       "bkg_deblended": bd})
    return df.sort_values("det_ml", ascending=False, ignore_index=True)


# --------------------------------------------------------------------------- merging
@pytest.fixture
def geometry():
    """Three bands; passing = det_ml >= 10 in every band."""
    dets = {
        "3-24": det_table([
            (0, 0, 50, 120, 20, 22),        # A: F seed
            (200, 0, 30, 80, 20, 21),       # B2: F, 35" from the S detection at 235
            (510, 0, 10.5, 40, 20, 20),     # C1: nearest F to S@500 (weaker)
            (520, 0, 25, 70, 20, 20),       # C2: brighter F 20" from S@500, left for later
            (1000, 0, 12, 50, 20, 20),      # D: F passing, with a non-passing H of higher ML
        ]),
        "3-8": det_table([
            (10, 0, 20, 60, 10, 11),        # A: S 10" from F
            (235, 0, 40, 90, 10, 10),       # B1: S seed
            (500, 0, 60, 110, 10, 10),      # C: S seed, the brightest
        ]),
        "8-24": det_table([
            (25, 0, 8, 30, 12, 12),         # A: H below threshold, 25" from F
            (215, 0, 12, 45, 12, 12),       # B1: H passing, 20" from S@235, 15" from F@200
            (800, 0, 5, 20, 12, 12),        # isolated, below threshold: dropped
            (1005, 0, 100, 300, 12, 12),    # D: DET_ML 100 but not passing (forced False)
        ]),
    }
    passing = {b: d["det_ml"].to_numpy() >= 10 for b, d in dets.items()}
    passing["8-24"][dets["8-24"]["det_ml"].to_numpy() == 100] = False
    return dets, passing


def _source_at(master, dets, band, dx):
    """Index of the master source whose `band` detection sits at offset dx."""
    ra, _ = offset(dx)
    rows = np.flatnonzero(np.isclose(dets[band]["ra"].to_numpy(), ra, rtol=0, atol=1e-9))
    assert rows.size == 1
    src = np.flatnonzero(master.index[band] == rows[0])
    assert src.size == 1, f"{band} detection at {dx} in {src.size} sources"
    return int(src[0])


def test_merge_geometry(geometry):
    dets, passing = geometry
    m = cat.merge_bands(dets, passing, radius_arcsec=30.0, band_order=BANDS)
    assert len(m) == 6        # A, B1, B2, C, C2, D; the isolated H below threshold is dropped
    # greedy order: sources created by decreasing DET_ML of their seed
    seed_ml = [dets[b]["det_ml"].to_numpy()[m.index[b][i]] for i, b in enumerate(m.best_band)]
    assert seed_ml == sorted(seed_ml, reverse=True) == [60, 50, 40, 30, 25, 12]

    a = _source_at(m, dets, "3-24", 0)
    assert m.best_band[a] == "3-24"
    assert (m.ra[a], m.dec[a]) == pytest.approx(offset(0))          # position from F
    assert _source_at(m, dets, "3-8", 10) == a                       # 10" < 30": merged
    assert _source_at(m, dets, "8-24", 25) == a                      # non-passing H merged
    assert [bool(m.passing[b][a]) for b in BANDS] == [True, True, False]

    b1 = _source_at(m, dets, "3-8", 235)
    assert m.best_band[b1] == "3-8" and m.ra[b1] == pytest.approx(offset(235)[0])
    assert m.index["3-24"][b1] == -1                                 # F@200 is 35" away
    assert _source_at(m, dets, "8-24", 215) == b1                    # brighter seed takes H
    b2 = _source_at(m, dets, "3-24", 200)
    assert b2 != b1 and m.index["8-24"][b2] == -1 and m.index["3-8"][b2] == -1

    c = _source_at(m, dets, "3-8", 500)
    assert _source_at(m, dets, "3-24", 510) == c      # nearest, not the brighter F@520
    c2 = _source_at(m, dets, "3-24", 520)
    assert c2 != c and m.best_band[c2] == "3-24" and m.index["3-8"][c2] == -1

    d = _source_at(m, dets, "3-24", 1000)
    assert _source_at(m, dets, "8-24", 1005) == d
    assert m.best_band[d] == "3-24"                   # highest *passing* DET_ML gives the position
    assert m.ra[d] == pytest.approx(offset(1000)[0])

    combos = cat.band_combination(m, LETTERS)
    assert combos[a] == "F+S+h"
    assert combos[b1] == "S+H" and combos[b2] == "F"
    assert combos[c] == "F+S" and combos[c2] == "F" and combos[d] == "F+h"
    frame = m.to_frame()
    assert list(frame.columns) == ["ra", "dec", "best_band", "idx_3_24", "pass_3_24", "idx_3_8",
                                   "pass_3_8", "idx_8_24", "pass_8_24"]


def test_merge_radius_is_great_circle():
    # at Dec 60 deg, 40" of RA coordinate is 20" on the sky: merged
    dec = 60.0
    dets = {"3-24": pd.DataFrame({"ra": [10.0], "dec": [dec], "det_ml": [20.0]}),
            "3-8": pd.DataFrame({"ra": [10.0 + 40 / 3600], "dec": [dec], "det_ml": [15.0]})}
    passing = {b: np.array([True]) for b in dets}
    m = cat.merge_bands(dets, passing, 30.0)
    assert len(m) == 1
    m = cat.merge_bands(dets, passing, 19.0)
    assert len(m) == 2


def test_merge_empty_band():
    dets = {"3-24": det_table([(0, 0, 20, 50, 10, 10)]), "3-8": det_table([])}
    m = cat.merge_bands(dets, {"3-24": np.array([True]), "3-8": np.zeros(0, bool)})
    assert len(m) == 1 and m.index["3-8"][0] == -1


# --------------------------------------------------------------------------- combinations
@pytest.fixture(scope="module")
def random_survey():
    """Random detections in three bands with interval thresholds, and forced photometry."""
    rng = np.random.default_rng(3)
    thresholds = pd.concat([
        pd.DataFrame({"band": b, "exp_lo_ks": [20.0, 200.0, 20.0, 200.0],
                      "exp_hi_ks": [200.0, np.inf, 200.0, np.inf],
                      "reliability": [0.95, 0.95, 0.99, 0.99],
                      "det_ml_threshold": [t, t + 3.0, t + 4.0, np.nan]})
        for b, t in zip(BANDS, (8.0, 6.0, 10.0), strict=True)], ignore_index=True)
    dets = {}
    for k, b in enumerate(BANDS):
        n = 150
        ra = RA0 + rng.uniform(-0.15, 0.15, n)
        dec = DEC0 + rng.uniform(-0.15, 0.15, n)
        ml = rng.exponential(8.0, n) + 2.0
        bkg = rng.uniform(5, 30, n)
        counts = np.round(bkg + 3 * ml + k)
        dets[b] = pd.DataFrame({"ra": ra, "dec": dec, "det_ml": ml, "det_ml_raw": ml + 0.5,
                                "exposure_ks": rng.uniform(10.0, 900.0, n), "counts": counts,
                                "bkg": bkg, "bkg_deblended": bkg * 1.05})
    return dets, thresholds


def _build(dets, thresholds, level=0.95, **kwargs):
    passing = {b: cat.select_above_threshold(d, thresholds, level, band=b)
               for b, d in dets.items()}
    m = cat.merge_bands(dets, passing, 30.0, BANDS)
    rng = np.random.default_rng(11)
    forced = {b: {"counts": rng.poisson(8.0, len(m)).astype(float),
                  "bkg": np.full(len(m), 9.5), "exposure_ks": rng.uniform(50, 500, len(m))}
              for b in BANDS}
    return m, forced, cat.build_catalog(m, dets, LETTERS, forced, APERTURES, **kwargs)


def test_select_above_threshold(random_survey):
    dets, thr = random_survey
    d = dets["3-8"]
    ok = cat.select_above_threshold(d, thr, 0.95, band="3-8")
    expo, ml = d["exposure_ks"].to_numpy(), d["det_ml"].to_numpy()
    expect = ((expo >= 20) & (expo < 200) & (ml >= 6.0)) | ((expo >= 200) & (ml >= 9.0))
    np.testing.assert_array_equal(ok, expect)
    ok99 = cat.select_above_threshold(d, thr, 0.99, band="3-8")
    assert not ok99[expo >= 200].any()                # NaN threshold: nothing passes
    with pytest.raises(ValueError, match="band"):
        cat.select_above_threshold(d, thr, 0.95, band="16-24")


def test_band_combinations_agree_with_thresholds(random_survey):
    dets, thr = random_survey
    _, _, tab = _build(dets, thr)
    assert len(tab) > 50
    for b in BANDS:
        s, letter = band_suffix(b), LETTERS[b]
        ml = np.asarray(tab[f"det_ml_{s}"])
        limit = cal.threshold_at(np.asarray(tab[f"exposure_ks_{s}"]),
                                 thr[thr["band"] == b], 0.95)
        detected = ml != cat.UNDETECTED_DET_ML
        above = detected & (ml >= limit)
        parts = [c.split("+") for c in tab["band_combination"]]
        np.testing.assert_array_equal([letter in p for p in parts], above)
        np.testing.assert_array_equal([letter.lower() in p for p in parts], detected & ~above)
        np.testing.assert_array_equal(np.asarray(tab[f"above_{s}"]), above)
    n_pass = sum(np.asarray(tab[f"above_{band_suffix(b)}"], int) for b in BANDS)
    np.testing.assert_array_equal(tab["n_bands_passing"], n_pass)
    assert np.all(n_pass >= 1)
    # letters appear in instrument order
    order = {c: i for i, c in enumerate("FSH")}
    for c in tab["band_combination"]:
        idx = [order[p.upper()] for p in c.split("+")]
        assert idx == sorted(idx)
    # best band: the highest DET_ML among passing bands, and the position is its detection's
    for row in tab[:20]:
        passing_ml = {b: row[f"det_ml_{band_suffix(b)}"] for b in BANDS
                      if row[f"above_{band_suffix(b)}"]}
        assert row["best_band"] == max(passing_ml, key=passing_ml.get)


def test_band_combination_table(random_survey):
    dets, thr = random_survey
    _, _, tab = _build(dets, thr)
    t = cat.band_combination_table(tab, "FSH")
    assert t["n"].sum() == len(tab)
    assert t["percent"].sum() == pytest.approx(100.0)
    assert list(t["n"]) == sorted(t["n"], reverse=True)
    for combo, n in zip(t["band_combination"], t["n"], strict=True):
        assert n == int(np.sum(np.asarray(tab["band_combination"]) == combo))
    small = Table({"band_combination": ["F+S+h", "F", "F", "S", "F+S+h", "F"]})
    t = cat.band_combination_table(small, {"3-24": "F", "3-8": "S", "8-24": "H"})
    assert list(t["band_combination"]) == ["F", "F+S+h", "S"]
    assert list(t["n"]) == [3, 2, 1]
    np.testing.assert_allclose(t["percent"], [50.0, 100 / 3, 100 / 6])


# --------------------------------------------------------------------------- photometry
def test_photometry_and_upper_limits(random_survey):
    dets, thr = random_survey
    m, forced, tab = _build(dets, thr, sort_by=None)
    for b in BANDS:
        s, ap = band_suffix(b), APERTURES[b]
        d = dets[b]
        idx = m.index[b]
        ul = np.asarray(tab[f"ul_{s}"])
        n, bkg = np.asarray(tab[f"counts_{s}"]), np.asarray(tab[f"bkg_{s}"])
        t = np.asarray(tab[f"exposure_ks_{s}"]) * 1e3
        net = np.asarray(tab[f"net_{s}"])
        flux = np.asarray(tab[f"flux_{s}"])
        # undetected: forced photometry, DET_ML -99, B' NaN
        und = idx < 0
        assert und.any()
        np.testing.assert_array_equal(n[und], forced[b]["counts"][und])
        np.testing.assert_array_equal(bkg[und], forced[b]["bkg"][und])
        assert np.all(np.asarray(tab[f"det_ml_{s}"])[und] == -99)
        assert np.all(np.asarray(tab[f"det_ml_raw_{s}"])[und] == -99)
        assert np.all(np.isnan(np.asarray(tab[f"bkg_deblended_{s}"])[und]))
        # detected: the detection's photometry
        det = ~und
        np.testing.assert_array_equal(n[det], d["counts"].to_numpy()[idx[det]])
        np.testing.assert_array_equal(np.asarray(tab[f"det_ml_{s}"])[det],
                                      d["det_ml"].to_numpy()[idx[det]])
        # limits where undetected or below threshold: lambda_u(N; 1.645) - B, raw B
        np.testing.assert_array_equal(ul, ~m.passing[b])
        expect_ul = np.maximum(ph.gehrels_upper(n, 1.645) - bkg, 0.0)
        np.testing.assert_allclose(net[ul], expect_ul[ul], rtol=1e-12)
        assert np.all(np.isnan(np.asarray(tab[f"net_err_hi_{s}"])[ul]))
        assert np.all(np.isnan(np.asarray(tab[f"flux_err_lo_{s}"])[ul]))
        # detections above threshold: S = N - B', Gehrels 1-sigma errors on N
        ok = ~ul
        bd = np.asarray(tab[f"bkg_deblended_{s}"])
        np.testing.assert_allclose(net[ok], (n - bd)[ok])
        np.testing.assert_allclose(np.asarray(tab[f"net_err_hi_{s}"])[ok],
                                   (ph.gehrels_upper(n) - n)[ok])
        np.testing.assert_allclose(np.asarray(tab[f"net_err_lo_{s}"])[ok],
                                   (n - ph.gehrels_lower(n))[ok])
        np.testing.assert_allclose(np.asarray(tab[f"snr_{s}"])[ok],
                                   ((n - bd) / np.sqrt(n + bd))[ok])
        # rate and aperture-corrected flux (limits too); never a negative flux
        np.testing.assert_allclose(np.asarray(tab[f"rate_{s}"]), net / t)
        np.testing.assert_allclose(flux, net / t * ap.cf / ap.eef)
        np.testing.assert_allclose(np.asarray(tab[f"flux_err_hi_{s}"]),
                                   np.asarray(tab[f"net_err_hi_{s}"]) / t * ap.cf / ap.eef)
        assert np.all(flux >= 0)


def test_upper_limit_never_negative():
    # undetected in 3-8 with N = 2 and B = 30: lambda_u(2; 1.645) - 30 < 0 -> limit 0
    dets = {"3-24": det_table([(0, 0, 40, 100, 10, 10)]), "3-8": det_table([])}
    m = cat.merge_bands(dets, {"3-24": np.array([True]), "3-8": np.zeros(0, bool)},
                        band_order=["3-24", "3-8"])
    forced = {"3-8": {"counts": np.array([2.0]), "bkg": np.array([30.0]),
                      "exposure_ks": np.array([100.0])}}
    tab = cat.build_catalog(m, dets, LETTERS, forced, APERTURES)
    assert tab["ul_3_8"][0] and tab["net_3_8"][0] == 0.0 and tab["flux_3_8"][0] == 0.0
    assert not tab["ul_3_24"][0]
    assert tab["net_3_24"][0] == pytest.approx(90.0)
    # N = 5, B = 1: lambda_u(5; 1.645) = 10.51 (Gehrels table 1) -> 9.51
    forced["3-8"] = {"counts": np.array([5.0]), "bkg": np.array([1.0]),
                     "exposure_ks": np.array([50.0])}
    tab = cat.build_catalog(m, dets, LETTERS, forced, APERTURES)
    assert tab["net_3_8"][0] == pytest.approx(9.51, rel=0.01)
    assert tab["flux_3_8"][0] == pytest.approx(tab["net_3_8"][0] / 5e4 * 3.39e-11 / 0.32)
    with pytest.raises(ValueError, match="forced photometry"):
        cat.build_catalog(m, dets, LETTERS, None, APERTURES)


def test_apertures_from_detection_meta():
    t = Table.from_pandas(det_table([(0, 0, 40, 100, 10, 10)]))
    t.meta.update({"CF": (4.86e-11, "cf"), "EEF": (0.32, "eef"), "APERTURE": (20.0, "r")})
    m = cat.merge_bands({"3-24": t}, {"3-24": np.array([True])})
    tab = cat.build_catalog(m, {"3-24": t}, LETTERS)
    assert tab["flux_3_24"][0] == pytest.approx(90.0 / 1e5 * 4.86e-11 / 0.32)


def test_forced_at_positions(nustar):
    wcs, shape = make_grid((RA0, DEC0), (6.0, 6.0), nustar.pixel_arcsec)
    rng = np.random.default_rng(5)
    counts = rng.poisson(0.5, shape).astype(float)
    bkg = np.full(shape, 0.4)
    expo = np.full(shape, 8e4)
    ra, dec = offset([0.0, 30.0], [0.0, -40.0])
    ap = ph.Aperture.from_instrument(nustar, "3-24")
    got = cat.forced_at_positions(ra, dec, counts, bkg, expo, wcs, ap)
    x, y = wcs.wcs_world2pix(ra, dec, 0)
    ref = ph.forced_photometry(counts, bkg, expo, x, y, ap, as_table=False)
    for k in ("counts", "bkg", "exposure_ks", "net_ul"):
        np.testing.assert_allclose(got[k], ref[k])
    assert got["bkg"] == pytest.approx(0.4 * np.pi * ap.radius_pix**2, rel=1e-6)


# --------------------------------------------------------------------------- names
def test_iau_name_truncated():
    assert cat.iau_names([150.1], [2.2])[0] == "XS J100024.0+021200"
    # RA 10:00:24.09 and Dec +02:12:00.9 truncate (rounding would give 24.1 and 01)
    ra = (10 + 0 / 60 + 24.09 / 3600) * 15
    dec = 2 + 12 / 60 + 0.9 / 3600
    assert cat.iau_names([ra], [dec], "NuSTAR")[0] == "NuSTAR J100024.0+021200"
    # 23:59:59.99 does not round up to 24h; southern and tiny negative declinations
    assert cat.iau_names([359.99999], [-0.9 / 3600])[0] == "XS J235959.9-000000"
    assert cat.iau_names([53.1], [-27.8])[0] == "XS J033224.0-274800"
    assert cat.iau_names([0.0], [90.0])[0] == "XS J000000.0+900000"


def test_iau_names_unique_and_sorted():
    rng = np.random.default_rng(2)
    ra = RA0 + rng.uniform(-0.3, 0.3, 300)
    dec = DEC0 + rng.uniform(-0.3, 0.3, 300)
    names = cat.iau_names(ra, dec)
    assert len(set(names)) == names.size
    tenths = np.floor(ra * 2400 + 1e-6)
    arcsec = np.floor(dec * 3600 + 1e-6)
    np.testing.assert_array_equal(np.argsort(names, kind="stable"),
                                  np.lexsort((arcsec, tenths)))
    # a collision: two sources 0.3" apart in the same 0.1 s x 1" cell
    ra2 = np.array([150.1 + 0.2 / 3600, 150.1, 150.2])
    dec2 = np.array([2.2, 2.2 + 0.3 / 3600, 2.2])
    names = cat.iau_names(ra2, dec2)
    assert list(names) == ["XS J100024.0+021200b", "XS J100024.0+021200a",
                           "XS J100048.0+021200"]


# --------------------------------------------------------------------------- spurious
def _curve(n_bins=100):
    """Cumulative curve with differential reliability 0.5 below DET_ML 10 and 1 above."""
    x = np.arange(n_bins, dtype=float)
    m_bin = np.where(x < 10, 5, 10)
    n_bin = np.full(n_bins, 10)
    n_cum, m_cum = np.cumsum(n_bin[::-1])[::-1], np.cumsum(m_bin[::-1])[::-1]
    return pd.DataFrame({"exp_lo_ks": 20.0, "exp_hi_ks": np.inf, "det_ml": x,
                         "n_detected": n_cum, "n_matched": m_cum, "reliability": m_cum / n_cum})


def test_spurious_probability_and_expected():
    dets = {"3-24": det_table([(0, 0, 5.5, 40, 10, 10), (300, 0, 50, 100, 10, 10)]),
            "3-8": det_table([(600, 0, 7.0, 30, 10, 10), (900, 0, 30, 50, 10, 10)])}
    m = cat.merge_bands(dets, {b: np.ones(2, bool) for b in dets})
    forced = {b: {"counts": np.zeros(4), "bkg": np.ones(4), "exposure_ks": np.full(4, 50.0)}
              for b in dets}
    curves = pd.concat([_curve().assign(band=b) for b in dets], ignore_index=True)
    tab = cat.build_catalog(m, dets, LETTERS, forced, APERTURES, reliability=curves,
                            sort_by="det_ml")
    np.testing.assert_allclose(tab["p_spurious"], [0.0, 0.0, 0.5, 0.5])
    assert cat.expected_spurious_in_catalog(tab, curves) == pytest.approx(1.0)
    assert cat.expected_spurious_in_catalog(tab, None) == pytest.approx(1.0)
    per_band = {b: _curve() for b in dets}
    assert cat.expected_spurious_in_catalog(tab.to_pandas(), per_band) == pytest.approx(1.0)
    # equals the calibrate sum of the best-band DET_ML
    assert cal.expected_spurious([5.5, 7.0, 50, 30], [100.0] * 4, _curve()) == pytest.approx(1.0)


# --------------------------------------------------------------------------- output
def test_fits_and_csv_round_trip(random_survey, tmp_path):
    dets, thr = random_survey
    _, _, tab = _build(dets, thr, meta={"STACK": ("all", "stack"), "RELLEVEL": 0.95})
    fpath, cpath = tmp_path / "catalog_95.fits", tmp_path / "catalog_95.csv"
    cat.write_catalog(tab, fpath, cpath)
    assert not list(tmp_path.glob(".*tmp"))

    back = Table.read(fpath)
    assert back.colnames == tab.colnames
    for name in tab.colnames:
        assert back[name].unit == tab[name].unit, name
        assert back[name].description == tab[name].description, name
    assert back["flux_3_24"].unit == u.erg / u.cm**2 / u.s
    assert back["exposure_ks_3_8"].unit == u.ks and back["ra"].unit == u.deg
    assert back["ul_8_24"].dtype == bool
    np.testing.assert_array_equal(back["name"], tab["name"])
    np.testing.assert_allclose(back["flux_3_8"], tab["flux_3_8"])
    with fits.open(fpath) as hdul:
        h = hdul["CATALOG"].header
        assert h["STACK"] == "all" and h["RELLEVEL"] == 0.95 and h["BANDS"] == "3-24,3-8,8-24"
        for i, name in enumerate(tab.colnames, start=1):
            assert h[f"TTYPE{i}"] == name
            assert h[f"TCOMM{i}"] == tab[name].description
        i = tab.colnames.index("flux_3_24") + 1
        assert u.Unit(h[f"TUNIT{i}"]) == u.erg / u.cm**2 / u.s

    back = Table.read(cpath, format="ascii.ecsv")
    for name in tab.colnames:
        assert back[name].unit == tab[name].unit, name
        assert back[name].description == tab[name].description, name
    assert back.meta["STACK"] == "all"
    df = pd.read_csv(cpath, comment="#")
    assert list(df.columns) == tab.colnames
    np.testing.assert_allclose(df["flux_3_24"], tab["flux_3_24"], rtol=1e-15)
    assert list(df["name"]) == list(tab["name"])


def test_catalog_order_and_ids(random_survey):
    dets, thr = random_survey
    _, _, tab = _build(dets, thr)
    assert list(tab["name"]) == sorted(tab["name"])
    assert np.all(np.diff(np.floor(np.asarray(tab["ra"]) * 2400 + 1e-6)) >= 0)
    np.testing.assert_array_equal(tab["id"], np.arange(1, len(tab) + 1))
    for name in tab.colnames:
        assert tab[name].description, name


def test_flux_distribution_figure(random_survey, tmp_path):
    dets, thr = random_survey
    _, _, tab = _build(dets, thr)
    fig = figures.flux_distributions(tab, list(BANDS))
    plotting.save(fig, tmp_path / "flux.png")
    assert (tmp_path / "flux.png").stat().st_size > 0


def test_epoch_only_sources_are_those_without_a_stack_source_within_the_radius():
    def source_list(ra, dec, names):
        n = len(ra)
        return Table({"name": names, "ra": ra, "dec": dec, "best_band": ["3-24"] * n,
                      "band_combination": ["F"] * n})

    dec0 = 2.0
    stack = source_list([150.0, 150.1], [dec0, dec0], ["S1", "S2"])
    # 29" and 31" from S1 along Dec, and one far from both
    epoch = source_list([150.0, 150.0, 150.3], [dec0 + 29 / 3600, dec0 - 31 / 3600, dec0],
                ["E1", "E2", "E3"])
    only = cat.epoch_only_sources(epoch, stack, 30.0, "e2")
    assert list(only["name"]) == ["E2", "E3"]
    assert list(only.columns) == cat.EPOCH_ONLY_COLUMNS
    assert set(only["epoch"]) == {"e2"}
    assert list(cat.epoch_only_sources(epoch, stack[:0], 30.0, "e2")["name"]) == [
        "E1", "E2", "E3"]
    assert cat.epoch_only_sources(epoch[:0], stack, 30.0, "e2").empty
