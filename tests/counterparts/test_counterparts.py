"""Tests of xsurvey.counterparts: loading, coverage, hard-to-soft association, likelihood ratio.

Synthetic catalogues are built here with a known truth: field objects of known
surface density and magnitude distribution, and true counterparts with
Gaussian offsets. The demo test builds a small demo sky and its ancillary
catalogues with xsurvey.demo.
"""

import copy
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from astropy.table import Table, vstack

from xsurvey import counterparts as cp
from xsurvey import demo, plotting
from xsurvey.config import default_config
from xsurvey.counterparts import figures
from xsurvey.io import InputError

ROOT = Path(__file__).resolve().parents[2]
RA0, DEC0 = 150.0, 2.0
ARCSEC2_PER_DEG2 = 3600.0**2


# --------------------------------------------------------------------------- synthetic sky
def _square(rng, n, size_deg):
    """Uniform positions in a small square (deg) centred on (RA0, DEC0)."""
    x = (rng.random(n) - 0.5) * size_deg
    y = (rng.random(n) - 0.5) * size_deg
    return RA0 + x / np.cos(np.radians(DEC0)), DEC0 + y


def _shift(rng, ra, dec, sigma_arcsec):
    """Gaussian offsets of sigma (arcsec) per coordinate."""
    n = np.size(ra)
    s = np.broadcast_to(np.asarray(sigma_arcsec, float), (n,)) / 3600.0
    return (ra + rng.standard_normal(n) * s / np.cos(np.radians(dec)),
            dec + rng.standard_normal(n) * s)


def _field_mags(rng, n, mag_limit, slope=0.33):
    """Magnitudes with N(<m) proportional to 10**(slope m), below mag_limit."""
    return mag_limit + np.log10(1.0 - rng.random(n)) / slope


@dataclass
class Field:
    xray: Table          # id, ra, dec, pos_err
    optical: Table       # standard ancillary table
    truth: np.ndarray    # per X-ray source: optical id of its counterpart or ""
    cp_mags: np.ndarray  # magnitudes of the counterparts in the catalogue
    field_mags: np.ndarray
    area_deg2: float     # optical catalogue (field objects)
    x_area_deg2: float   # X-ray sources and their counterparts


def make_field(seed=1, n_x=2500, size_deg=1.0, x_size_deg=0.9, density_deg2=1.0e5,
               has_cp=0.8, cp_mag=(21.5, 1.5), mag_limit=25.5, x_err=(0.8, 2.0),
               opt_err=0.2):
    """X-ray sources (inner square) and an optical catalogue (whole square) with truth."""
    rng = np.random.default_rng(seed)
    xr_true, xd_true = _square(rng, n_x, x_size_deg)
    x_err = rng.uniform(*x_err, n_x)
    xr, xd = _shift(rng, xr_true, xd_true, x_err)
    n_field = int(rng.poisson(density_deg2 * size_deg**2))
    fr, fd = _square(rng, n_field, size_deg)
    fm = _field_mags(rng, n_field, mag_limit)
    m_cp = rng.normal(*cp_mag, n_x)
    cp_rows = np.flatnonzero((rng.random(n_x) < has_cp) & (m_cp < mag_limit))
    cr, cd = _shift(rng, xr_true[cp_rows], xd_true[cp_rows], opt_err)
    ra = np.concatenate([fr, cr])
    dec = np.concatenate([fd, cd])
    mag = np.concatenate([fm, m_cp[cp_rows]])
    order = rng.permutation(ra.size)
    ids = np.array([f"o{k}" for k in range(ra.size)])
    optical = Table({"id": ids, "ra": ra[order], "dec": dec[order],
                     "pos_err": np.full(ra.size, opt_err), "mag": mag[order],
                     "redshift": np.full(ra.size, np.nan)})
    optical.meta.update({"NAME": "opt", "KIND": "optical", "PRIORITY": 0})
    inverse = np.argsort(order)
    truth = np.full(n_x, "", dtype=object)
    truth[cp_rows] = ids[inverse[n_field + np.arange(cp_rows.size)]]
    xray = Table({"id": np.arange(1, n_x + 1), "ra": xr, "dec": xd, "pos_err": x_err})
    return Field(xray, optical, truth.astype(str), m_cp[cp_rows], fm, size_deg**2,
                 x_size_deg**2)


@pytest.fixture(scope="module")
def field():
    return make_field()


@pytest.fixture(scope="module")
def lr_result(field):
    return cp.likelihood_ratio_match(field.xray, field.optical)


# --------------------------------------------------------------------------- loading
def _raw_optical(n=50, seed=3):
    rng = np.random.default_rng(seed)
    ra, dec = _square(rng, n, 0.1)
    return Table({"OBJID": np.arange(100, 100 + n), "RA_DEG": ra, "DEC_DEG": dec,
                  "ERR": np.full(n, 0.3), "IMAG": rng.uniform(18, 25, n),
                  "ZPHOT": rng.uniform(0.1, 3, n)})


SPEC_COLUMNS = {"ra": "RA_DEG", "dec": "DEC_DEG", "pos_err": "ERR", "mag": "IMAG",
                "redshift": "ZPHOT", "id": "OBJID"}


@pytest.mark.parametrize("ext,fmt", [("fits", None), ("csv", None), ("ecsv", None),
                                     ("xml", "votable")])
def test_load_ancillary_formats(tmp_path, ext, fmt):
    raw = _raw_optical()
    path = tmp_path / f"opt.{ext}"
    raw.write(path, format=fmt or {"csv": "ascii.csv", "ecsv": "ascii.ecsv"}.get(ext))
    spec = {"name": "deep", "path": str(path), "kind": "optical", "priority": 2,
            "columns": SPEC_COLUMNS}
    if fmt:
        spec["format"] = fmt
    t = cp.load_ancillary(spec)
    assert t.colnames == ["id", "ra", "dec", "pos_err", "mag", "redshift"]
    assert list(t["id"]) == [str(i) for i in raw["OBJID"]]
    np.testing.assert_allclose(t["ra"], raw["RA_DEG"], rtol=0, atol=1e-12)
    np.testing.assert_allclose(t["mag"], raw["IMAG"])
    np.testing.assert_allclose(t["redshift"], raw["ZPHOT"])
    assert t.meta["NAME"] == "deep" and t.meta["PRIORITY"] == 2 and t.meta["KIND"] == "optical"


def test_load_ancillary_fixed_error_units_and_defaults(tmp_path):
    raw = _raw_optical()
    raw["ERR_MAS"] = raw["ERR"] * 1000.0
    raw["ERR_MAS"].unit = "mas"
    raw["FLUX"] = 3631.0 * 10 ** (-0.4 * raw["IMAG"])  # Jy for AB magnitudes
    raw["FLUX"].unit = "Jy"
    raw.write(tmp_path / "o.fits")
    base = {"name": "o", "path": "o.fits", "kind": "optical"}
    t = cp.load_ancillary({**base, "columns": {"ra": "RA_DEG", "dec": "DEC_DEG",
                                               "pos_err": "ERR_MAS", "flux": "FLUX"}},
                          base_dir=tmp_path)
    np.testing.assert_allclose(t["pos_err"], 0.3)
    np.testing.assert_allclose(t["mag"], raw["IMAG"], atol=1e-9)  # flux in Jy -> AB mag
    assert list(t["id"][:2]) == ["1", "2"]  # row numbers when no id column
    t = cp.load_ancillary({**base, "pos_err_arcsec": 0.5, "pos_err_scale": 2.0,
                           "columns": {"ra": "RA_DEG", "dec": "DEC_DEG", "mag": "IMAG"}},
                          base_dir=tmp_path)
    np.testing.assert_allclose(t["pos_err"], 1.0)
    assert np.all(np.isnan(t["redshift"]))


def test_load_softx(tmp_path):
    raw = Table({"ra": [150.0, 150.01], "dec": [2.0, 2.01], "pos_err": [1.0, 2.0],
                 "F052": [1e-15, -1.0]})
    raw.write(tmp_path / "s.csv", format="ascii.csv")
    t = cp.load_ancillary({"name": "xmm", "path": str(tmp_path / "s.csv"), "kind": "softx",
                           "columns": {"flux": "F052"}, "band_kev": [0.5, 2.0]})
    assert t["flux"][0] == 1e-15 and np.isnan(t["flux"][1])  # non-positive flux -> NaN
    assert (t.meta["E_MIN"], t.meta["E_MAX"]) == (0.5, 2.0)


def test_load_ancillary_errors(tmp_path):
    raw = _raw_optical()
    good = tmp_path / "o.fits"
    raw.write(good)
    spec = {"name": "deep", "path": str(good), "kind": "optical", "columns": SPEC_COLUMNS}
    with pytest.raises(InputError, match=r"'deep'.*file not found"):
        cp.load_ancillary({**spec, "path": str(tmp_path / "nope.fits")})
    (tmp_path / "garbage.fits").write_bytes(b"this is not a catalogue")
    with pytest.raises(InputError, match=r"cannot read .*garbage.fits"):
        cp.load_ancillary({**spec, "path": str(tmp_path / "garbage.fits")})
    raw[:0].write(tmp_path / "empty.fits")
    with pytest.raises(InputError, match=r"empty.fits.*empty \(0 rows\)"):
        cp.load_ancillary({**spec, "path": str(tmp_path / "empty.fits")})
    with pytest.raises(InputError, match=r"column 'MAG_Z' \(mapped to 'mag'\) not found"):
        cp.load_ancillary({**spec, "columns": {**SPEC_COLUMNS, "mag": "MAG_Z"}})
    no_mag = {k: v for k, v in SPEC_COLUMNS.items() if k != "mag"}
    with pytest.raises(InputError, match=r"needs a magnitude column: map columns.mag"):
        cp.load_ancillary({**spec, "columns": no_mag})
    with pytest.raises(InputError, match=r"softx catalogue needs a flux column"):
        cp.load_ancillary({**spec, "kind": "softx"})
    with pytest.raises(ValueError, match=r"kind must be one of"):
        cp.load_ancillary({**spec, "kind": "radio"})
    bad = raw.copy()
    bad["RA_DEG"][3] = np.nan
    bad.write(tmp_path / "nan.fits")
    with pytest.raises(InputError, match=r"non-finite coordinates in 1 row\(s\), e.g. id 103"):
        cp.load_ancillary({**spec, "path": str(tmp_path / "nan.fits")})
    bad = raw.copy()
    bad["ERR"][0] = 0.0
    bad.write(tmp_path / "zero.fits")
    with pytest.raises(InputError, match=r"positional errors must be finite and > 0"):
        cp.load_ancillary({**spec, "path": str(tmp_path / "zero.fits")})


# --------------------------------------------------------------------------- coverage
def test_surface_density_recovers_input():
    rng = np.random.default_rng(5)
    n = 3000
    ra, dec = _square(rng, n, 0.5)
    density = cp.surface_density(ra, dec)
    assert density * 0.25 * ARCSEC2_PER_DEG2 / n == pytest.approx(1.0, abs=0.03)


def test_coverage_footprints(field):
    opt = field.optical
    half = opt[opt["ra"] < RA0]  # west half only
    x = field.xray
    west = x["ra"] < RA0 - 60 / 3600
    east = x["ra"] > RA0 + 60 / 3600
    for fp in (None, {"type": "hull"}):
        inside = cp.coverage_mask(x["ra"], x["dec"], half, fp)
        assert inside[west].mean() > 0.999
        assert not inside[east].any()
    circle = cp.coverage_mask([RA0, RA0 + 1.0], [DEC0, DEC0], None,
                              {"type": "circle", "center_deg": [RA0, DEC0], "radius_arcmin": 5})
    assert circle.tolist() == [True, False]
    box = cp.coverage_mask([359.9, 0.2, 10.0], [0.0, 0.0, 0.0], None,
                           [{"type": "box", "ra_deg": [359.5, 0.5], "dec_deg": [-1, 1]}])
    assert box.tolist() == [True, True, False]  # RA range wrapping through 0


def test_sources_outside_coverage_flagged_not_unidentified(field):
    half = field.optical[field.optical["ra"] < RA0]
    half.meta.update(field.optical.meta)
    res = cp.likelihood_ratio_match(field.xray, half)
    cls = np.asarray(res.sources["ctp_class"])
    east = np.asarray(field.xray["ra"]) > RA0 + 60 / 3600
    west = np.asarray(field.xray["ra"]) < RA0 - 60 / 3600
    assert np.all(cls[east] == "outside_coverage")
    assert np.all(cls[west] != "outside_coverage")
    assert (cls[west] == "unidentified").any() and (cls[west] == "secure").any()
    assert res.n_covered == int(np.count_nonzero(cls != "outside_coverage"))
    best = cp.combine_identifications([res])
    assert np.all(np.asarray(best["ctp_class"])[east] == "outside_coverage")
    assert np.all(np.asarray(best["ctp_covered_by"])[east] == "")


def test_catalogue_not_covering_the_field(field):
    far = field.optical.copy()
    far["dec"] = far["dec"] + 5.0
    far.meta["NAME"] = "elsewhere"
    with pytest.raises(InputError, match=r"'elsewhere'.*does not cover the X-ray field"):
        cp.likelihood_ratio_match(field.xray, far)


def test_soft_catalogue_not_covering_the_field():
    hard, soft, _, _ = make_soft_field(n_hard=20)
    soft["dec"] = soft["dec"] - 3.0
    with pytest.raises(InputError, match=r"'xmm'.*does not cover the X-ray field"):
        cp.associate_soft(hard, soft, 8.0)


def test_lr_needs_magnitudes(field):
    no_mag = field.optical.copy()
    no_mag.remove_column("mag")
    with pytest.raises(InputError, match=r"no 'mag' column"):
        cp.likelihood_ratio_match(field.xray, no_mag)


# --------------------------------------------------------------------------- likelihood ratio
def test_n_of_m_recovers_input_density(field, lr_result):
    t = lr_result.magnitudes
    area = t.meta["AREA_ANN"]
    # input: field objects over the whole square plus counterparts (of the other X-ray
    # sources) over the X-ray square
    edges = np.r_[t["mag_lo"], t["mag_hi"][-1]]
    density = (np.histogram(field.field_mags, edges)[0] / field.area_deg2
               + np.histogram(field.cp_mags, edges)[0] / field.x_area_deg2) / ARCSEC2_PER_DEG2
    assert np.sum(t["n_annulus"]) / area == pytest.approx(density.sum(), rel=0.01)
    expected = density * area
    ok = expected > 100
    assert ok.sum() >= 8
    z = (t["n_annulus"][ok] - expected[ok]) / np.sqrt(expected[ok])
    assert np.all(np.abs(z) < 4.5)


def test_q_of_m_recovers_counterpart_distribution_and_Q(field, lr_result):
    q_true = field.cp_mags.size / len(field.xray)
    t = lr_result.magnitudes
    sigma_q = np.sqrt(t["n_search"].sum()) / t.meta["C_SUM"]  # Poisson error of the excess
    assert sigma_q < 0.025
    assert lr_result.q_estimated == pytest.approx(q_true, abs=3 * sigma_q)
    q = np.asarray(t["q"])
    assert q.sum() == pytest.approx(lr_result.q_total)
    mean_q = np.sum(q * t["mag"]) / q.sum()
    assert mean_q == pytest.approx(np.mean(field.cp_mags), abs=0.25)
    cdf_q = np.cumsum(q) / q.sum()
    cdf_true = np.searchsorted(np.sort(field.cp_mags), t["mag_hi"], side="right") / \
        field.cp_mags.size
    assert np.max(np.abs(cdf_q - cdf_true)) < 0.08


def test_poorly_localised_sources_get_their_own_q(field):
    """A poorly localised population with few, faint counterparts gets its own q(m) and Q.

    2000 sources with 5-8" errors, 20% of them with a counterpart of m ~ 24 in the
    catalogue, added to the well-localised field (80%, m ~ 21.5). Q of each group is
    recovered, and the poorly localised secure identifications are as reliable as
    their reliabilities say.
    """
    rng = np.random.default_rng(21)
    n = 2000
    ra_true, dec_true = _square(rng, n, 0.9)
    err = rng.uniform(5.0, 8.0, n)
    ra, dec = _shift(rng, ra_true, dec_true, err)
    mag = rng.normal(24.0, 0.6, n)
    rows = np.flatnonzero((rng.random(n) < 0.2) & (mag < 25.5))
    c_ra, c_dec = _shift(rng, ra_true[rows], dec_true[rows], 0.2)
    extra = Table({"id": [f"p{k}" for k in rows], "ra": c_ra, "dec": c_dec,
                   "pos_err": np.full(rows.size, 0.2), "mag": mag[rows],
                   "redshift": np.full(rows.size, np.nan)})
    optical = vstack([field.optical, extra])
    optical.meta.update(field.optical.meta)
    xray = vstack([field.xray, Table({"id": np.arange(10_001, 10_001 + n), "ra": ra,
                                      "dec": dec, "pos_err": err})])
    res = cp.likelihood_ratio_match(xray, optical)
    meta = res.magnitudes.meta
    assert meta["N_POOR"] == n and meta["N_QSRC"] == len(field.xray)
    # Q of each group against the truth; the poor group's Poisson error from its background
    assert res.q_estimated == pytest.approx(field.cp_mags.size / len(field.xray), abs=0.05)
    r_cand = 3.0 * np.sqrt(err**2 + 0.2**2)
    density = len(optical) / (field.area_deg2 * ARCSEC2_PER_DEG2)
    sigma_q = np.sqrt(np.sum(np.pi * r_cand**2) * density) / n
    assert meta["Q_POOR"] == pytest.approx(rows.size / n, abs=3 * sigma_q)
    # calibrated reliabilities of the poorly localised identifications
    s = res.sources[len(field.xray):]
    truth = np.full(n, "", dtype=object)
    truth[rows] = extra["id"]
    secure = np.asarray(s["ctp_class"]) == "secure"
    wrong = int(np.sum(np.asarray(s["ctp_id"])[secure] != truth[secure].astype(str)))
    expected = float(np.sum(1.0 - np.asarray(s["ctp_rel"])[secure]))
    assert wrong <= expected + 3 * np.sqrt(expected) + 2, (wrong, expected, secure.sum())


def test_fixed_q_total(field):
    res = cp.likelihood_ratio_match(field.xray, field.optical, q_total=0.5)
    assert res.q_total == 0.5 and np.sum(res.magnitudes["q"]) == pytest.approx(0.5)


def test_secure_identifications_are_as_reliable_as_estimated(field, lr_result):
    s = lr_result.sources
    secure = np.asarray(s["ctp_class"]) == "secure"
    assert secure.sum() > 1000
    frac_true = np.mean(np.asarray(s["ctp_id"])[secure] == field.truth[secure])
    assert frac_true >= np.mean(s["ctp_rel"][secure]) - 0.03
    # sample reliability at the threshold versus the truth of the candidates above it
    c = lr_result.candidates
    above = np.asarray(c["above_threshold"])
    truth = dict(zip(field.xray["id"], field.truth, strict=True))
    true_above = np.mean([truth[x] == o for x, o in zip(c["xray_id"][above],
                                                         c["ctp_id"][above], strict=True)])
    assert true_above == pytest.approx(lr_result.reliability, abs=0.03)
    assert 0.0 < lr_result.completeness <= 1.0
    assert lr_result.lr_threshold == pytest.approx(
        lr_result.curve["lr_threshold"][np.argmax(lr_result.curve["mean"])])
    summary = cp.lr_summary([lr_result])
    assert summary["n_secure"][0] == secure.sum()
    assert summary["n_covered"][0] == len(field.xray) == sum(
        summary[f"n_{c}"][0] for c in cp.CLASSES)


def test_lr_at_least_as_accurate_as_nearest_neighbour(field, lr_result):
    s = lr_result.sources
    ided = np.isin(np.asarray(s["ctp_class"]), ["secure", "ambiguous"])
    n_id = int(ided.sum())
    lr_correct = int(np.sum(np.asarray(s["ctp_id"])[ided] == field.truth[ided]))
    # nearest neighbour: closest candidate per source, the n_id smallest normalised separations
    c = lr_result.candidates
    c = c[np.lexsort((c["sep_arcsec"], c["xray_id"]))]
    first = np.r_[True, c["xray_id"][1:] != c["xray_id"][:-1]]
    nn = c[first]
    nn = nn[np.argsort(nn["sep_arcsec"] / nn["sigma_arcsec"], kind="stable")][:n_id]
    truth = dict(zip(field.xray["id"], field.truth, strict=True))
    nn_correct = sum(truth[x] == o for x, o in zip(nn["xray_id"], nn["ctp_id"], strict=True))
    assert lr_correct >= nn_correct
    assert lr_correct / n_id > 0.85


def test_classify_sources_rules():
    # source: 0 one above; 1 two above within 4x; 2 two above, best > 4x; 3 none above;
    # 4 no candidate; 5 not covered
    src = np.array([0, 0, 1, 1, 2, 2, 3, 5])
    lr = np.array([10.0, 1.0, 10.0, 3.0, 10.0, 2.0, 0.5, 50.0])
    covered = np.array([True] * 5 + [False])
    cls, best, n_above = cp.classify_sources(src, lr, 6, 2.0, covered)
    assert cls.tolist() == ["secure", "ambiguous", "secure", "unidentified", "unidentified",
                            "outside_coverage"]
    assert best.tolist() == [0, 2, 4, 6, -1, 7]
    assert n_above.tolist() == [1, 2, 2, 0, 0, 1]


def test_reliability_completeness_known_answer():
    lr = np.array([5.0, 3.0, 3.0, 0.5, 0.0])
    rel = np.array([0.9, 0.8, 0.6, 0.2, 0.0])
    curve, th = cp.reliability_completeness(lr, rel, n_xray=4)
    np.testing.assert_allclose(curve["lr_threshold"], [5.0, 3.0, 0.5])
    np.testing.assert_allclose(curve["reliability"], [0.9, 2.3 / 3, 2.5 / 4])
    np.testing.assert_allclose(curve["completeness"], [0.9 / 4, 2.3 / 4, 2.5 / 4])
    assert th == 3.0  # (R + C)/2 = 0.5625, 0.6708, 0.625
    assert cp.reliability_completeness([], [], 3)[1] == np.inf


def test_likelihood_ratio_formula():
    lr = cp.likelihood_ratio(1.0, 1.0, 0.2, 0.01)
    assert lr == pytest.approx(0.2 * np.exp(-0.5) / (2 * np.pi) / 0.01)


def test_combine_identifications_priority():
    def result(name, priority, classes, covered):
        n = len(classes)
        src = Table({"id": np.arange(n), "covered": covered, "n_candidates": np.ones(n, int),
                     "ctp_class": classes, "ctp_id": [f"{name}{k}" for k in range(n)]})
        for c in ("ctp_ra", "ctp_dec", "ctp_sep_arcsec", "ctp_mag", "ctp_lr", "ctp_rel",
                  "ctp_redshift"):
            src[c] = np.arange(n, dtype=float) + priority
        return cp.LRResult(name, priority, src, Table(), Table(), Table(), 1.0, 0.8, 0.8,
                           0.9, 0.7, n, int(np.sum(covered)))

    a = result("A", 1, ["ambiguous", "secure", "unidentified", "outside_coverage"],
               [True, True, True, False])
    b = result("B", 2, ["secure", "secure", "outside_coverage", "outside_coverage"],
               [True, True, False, False])
    best = cp.combine_identifications([b, a])  # list order does not matter, priority does
    assert best["ctp_catalog"].tolist() == ["B", "A", "", ""]
    assert best["ctp_class"].tolist() == ["secure", "secure", "unidentified",
                                          "outside_coverage"]
    assert best["ctp_id"].tolist() == ["B0", "A1", "", ""]
    assert best["ctp_covered_by"].tolist() == ["A,B", "A,B", "A", ""]
    assert np.isnan(best["ctp_ra"][2])
    literal = cp.combine_identifications([a, b], prefer_secure=False)
    assert literal["ctp_catalog"].tolist()[:2] == ["A", "A"]
    assert literal["ctp_class"][0] == "ambiguous"


# --------------------------------------------------------------------------- hard -> soft
def make_soft_field(seed=7, n_hard=400, size_deg=1.0, x_size_deg=0.9, soft_density=3000.0,
                    soft_limit=2e-16, sigma95=8.0, conv=0.39, scatter_dex=0.3, has_soft=0.9):
    """Hard sources with Rayleigh(sigma95) positions and a soft list with their counterparts."""
    rng = np.random.default_rng(seed)
    hr, hd = _square(rng, n_hard, x_size_deg)
    hard_flux = 5e-15 * (1.0 - rng.random(n_hard)) ** (-1 / 1.5)
    xr, xd = _shift(rng, hr, hd, sigma95)
    cp_rows = np.flatnonzero(rng.random(n_hard) < has_soft)
    c_flux = hard_flux[cp_rows] * conv * 10 ** (scatter_dex * rng.standard_normal(cp_rows.size))
    c_err = rng.uniform(0.8, 2.5, cp_rows.size)
    cr, cd = _shift(rng, hr[cp_rows], hd[cp_rows], c_err)
    n_f = int(rng.poisson(soft_density * size_deg**2))
    fr, fd = _square(rng, n_f, size_deg)
    f_flux = soft_limit * (1.0 - rng.random(n_f)) ** (-1 / 1.5)  # Euclidean counts
    soft = Table({"id": np.array([f"s{k}" for k in range(cp_rows.size + n_f)]),
                  "ra": np.r_[cr, fr], "dec": np.r_[cd, fd],
                  "pos_err": np.r_[c_err, rng.uniform(0.8, 2.5, n_f)],
                  "flux": np.r_[c_flux, f_flux]})
    soft.meta.update({"NAME": "xmm", "KIND": "softx", "E_MIN": 0.5, "E_MAX": 2.0})
    truth = np.full(n_hard, "", dtype=object)
    truth[cp_rows] = soft["id"][:cp_rows.size]
    hard = Table({"id": np.arange(1, n_hard + 1), "ra": xr, "dec": xd, "flux_3_24": hard_flux})
    return hard, soft, truth.astype(str), n_f / (size_deg**2 * ARCSEC2_PER_DEG2)


def test_hard_to_soft_association_finds_true_counterparts():
    hard, soft, truth, _ = make_soft_field()
    conv = cp.band_flux_conversion((3.0, 24.0), (0.5, 2.0), 1.8)
    cand, prim = cp.associate_soft(hard, soft, 8.0, hard_flux=hard["flux_3_24"],
                                   flux_conversion=conv)
    has = truth != ""
    # every candidate within its radius, radius = sqrt((3 sigma)^2 + err^2 + sys^2)
    np.testing.assert_allclose(cand["radius_arcsec"],
                               np.sqrt(24.0**2 + cand["soft_pos_err"] ** 2 + 1.0))
    assert np.all(cand["sep_arcsec"] <= cand["radius_arcsec"])
    assert np.all(cand["rank"][cand["primary"]] == 1)
    found = np.asarray(prim["soft_id"]) == truth
    assert found[has].mean() > 0.9
    # the primary score does at least as well as "closest" and as "brightest"
    t = dict(zip(hard["id"], truth, strict=True))
    by_sep = cand[np.lexsort((cand["sep_arcsec"], cand["xray_id"]))]
    by_flux = cand[np.lexsort((-cand["soft_flux"], cand["xray_id"]))]
    for other in (by_sep, by_flux):
        first = np.r_[True, other["xray_id"][1:] != other["xray_id"][:-1]]
        ok = sum(t[x] == s for x, s in zip(other["xray_id"][first], other["soft_id"][first],
                                           strict=True))
        assert found.sum() >= ok
    # flux ratio of true pairs scatters around 1 (model conversion 0.39 vs 0.39 drawn)
    ratio = np.asarray(prim["soft_flux_ratio"])[found & has]
    assert np.median(np.log10(ratio)) == pytest.approx(np.log10(0.39 / conv), abs=0.08)
    classes = set(prim["soft_class"])
    assert classes <= {"matched", "no_candidate", "outside_coverage"}


def test_chance_probability_matches_soft_density():
    _, soft, _, density = make_soft_field(n_hard=10, has_soft=0.0)
    rng = np.random.default_rng(11)
    n = 3000
    ra, dec = _square(rng, n, 0.85)  # random positions: every candidate is a chance match
    xray = Table({"id": np.arange(n), "ra": ra, "dec": dec})
    cand, prim = cp.associate_soft(xray, soft, 8.0, sys_arcsec=1.0)
    assert prim.meta["SOFTDENS"] == pytest.approx(density, rel=0.04)
    p_any = np.asarray(prim["soft_p_chance_any"])
    observed = np.mean(np.asarray(prim["soft_n_candidates"]) > 0)
    assert observed == pytest.approx(p_any.mean(), abs=3 * np.sqrt(p_any.mean() / n))
    expected_pairs = np.sum(prim["soft_expected_chance"])
    assert len(cand) == pytest.approx(expected_pairs, rel=0.06)
    np.testing.assert_allclose(cp.chance_probability(10.0, 1e-3), 1 - np.exp(-np.pi * 0.1))


def test_band_flux_conversion(nustar):
    # Gamma = 2, no absorption: energy flux per band proportional to ln(E_hi / E_lo)
    ratio = cp.band_flux_conversion((3.0, 24.0), (0.5, 2.0), 2.0)
    assert ratio == pytest.approx(np.log(4.0) / np.log(8.0), rel=1e-4)
    assert cp.band_flux_conversion((3, 8), (3, 8), 1.7, 1e22, 1.0) == pytest.approx(1.0)
    same = cp.band_flux_conversion((3.0, 24.0), (3.0, 8.0), nustar.photon_index,
                                   nh_galactic_cm2=nustar.nh_galactic_cm2)
    assert same == pytest.approx(nustar.band_flux_ratio("3-8"), rel=1e-3)
    # absorption lowers the soft flux
    assert cp.band_flux_conversion((3, 24), (0.5, 2), 1.8, 1e22) < ratio


def test_sigma_for_sources():
    positions = Table({"band": ["3-24", "3-24", "3-8"], "subset": ["all", "above95", "above95"],
                       "sigma_arcsec": [11.0, 8.0, 8.1]})
    np.testing.assert_allclose(cp.sigma_for_sources(["3-8", "3-24"], positions), [8.1, 8.0])
    with pytest.raises(InputError, match=r"band\(s\) \['8-24'\]"):
        cp.sigma_for_sources(["8-24"], positions)


def test_xray_positions_use_soft_when_matched():
    hard, soft, _, _ = make_soft_field(n_hard=50)
    _, prim = cp.associate_soft(hard, soft, 8.0)
    pos = cp.xray_positions(hard, prim, 8.0)
    soft_rows = np.asarray(prim["soft_class"]) == "matched"
    assert np.all(np.asarray(pos["pos_origin"])[soft_rows] == "soft")
    np.testing.assert_allclose(pos["pos_err"][soft_rows], prim["soft_pos_err"][soft_rows])
    np.testing.assert_allclose(pos["pos_err"][~soft_rows], 8.0)
    np.testing.assert_allclose(pos["ra"][~soft_rows], hard["ra"][~soft_rows])


def test_xo_ratio():
    assert cp.xo_ratio(1e-14, 20.0, 5.6) == pytest.approx(-14 + 8 + 5.6)
    assert cp.xo_magnitude(1e-14, -0.4, 5.6) == pytest.approx(20.0)
    assert np.isnan(cp.xo_ratio(0.0, 20.0, 5.6))
    # SDSS i (AB): f0 = 3631 Jy at 7480 A, width 1300 A -> C = 5.6
    f0 = 3631e-23 * 2.99792458e18 / 7480.0**2
    assert cp.xo_constant(f0, 1300.0) == pytest.approx(5.6, abs=0.01)


# --------------------------------------------------------------------------- demo catalogues
@pytest.fixture(scope="module")
def demo_sky(nustar, population):
    cfg = copy.deepcopy(default_config(ROOT)["demo"])
    cfg["sky_size_arcmin"] = 30.0
    truth = demo.make_demo_sky(nustar, cfg, population)
    softx, softx_truth, optical, optical_truth = demo.make_ancillary_catalogs(nustar, truth, cfg)
    return cfg, truth, softx, softx_truth, optical, optical_truth


def _demo_standard(softx, optical):
    soft = Table({"id": softx["id"].astype(str), "ra": softx["ra"], "dec": softx["dec"],
                  "pos_err": softx["pos_err"], "flux": softx["flux_soft"]})
    soft.meta.update({"NAME": "softx", "KIND": "softx"})
    opt = Table({"id": optical["id"].astype(str), "ra": optical["ra"], "dec": optical["dec"],
                 "pos_err": optical["pos_err"], "mag": optical["mag_i"],
                 "redshift": np.full(len(optical), np.nan)})
    opt.meta.update({"NAME": "optical", "KIND": "optical", "PRIORITY": 1})
    return soft, opt


def test_demo_catalogues(demo_sky, tmp_path):
    cfg, truth, softx, softx_truth, optical, optical_truth = demo_sky
    # the loader reads the demo files as the workflow would
    softx.write(tmp_path / "softx.fits")
    optical.write(tmp_path / "optical.fits")
    soft = cp.load_ancillary({"name": "softx", "path": str(tmp_path / "softx.fits"),
                              "kind": "softx", "columns": {"flux": "flux_soft"}})
    opt = cp.load_ancillary({"name": "optical", "path": str(tmp_path / "optical.fits"),
                             "kind": "optical", "columns": {"mag": "mag_i"}, "priority": 1})
    ref_soft, ref_opt = _demo_standard(softx, optical)
    np.testing.assert_array_equal(soft["flux"], ref_soft["flux"])
    np.testing.assert_array_equal(opt["mag"], ref_opt["mag"])

    # soft X -> optical: Q, and the secure identifications against the truth
    xs = Table({"id": soft["id"], "ra": soft["ra"], "dec": soft["dec"],
                "pos_err": soft["pos_err"]})
    res = cp.likelihood_ratio_match(xs, opt)
    true_opt = {str(s): str(o) for o, s in zip(optical_truth["id"], optical_truth["softx_id"],
                                               strict=True) if s >= 0}
    t_soft = np.array([true_opt.get(i, "") for i in soft["id"]])
    assert res.q_estimated == pytest.approx(np.mean(t_soft != ""), abs=0.08)
    s = res.sources
    secure = np.asarray(s["ctp_class"]) == "secure"
    acc = np.mean(np.asarray(s["ctp_id"])[secure] == t_soft[secure])
    rel = np.mean(s["ctp_rel"][secure])
    # the secure identifications are as right as their estimated reliability says
    assert acc > 0.8
    assert acc == pytest.approx(rel, abs=3 * np.sqrt(rel * (1 - rel) / secure.sum()))

    # hard positions (truth scattered by the Rayleigh scale) -> soft -> optical
    bright = truth[truth["flux_3-24"] > 1e-14]
    rng = np.random.default_rng(2)
    ra, dec = _shift(rng, np.asarray(bright["ra"]), np.asarray(bright["dec"]), 8.0)
    hard = Table({"id": bright["id"], "ra": ra, "dec": dec, "flux": bright["flux_3-24"]})
    conv = cp.band_flux_conversion((3.0, 24.0), tuple(cfg["softx"]["band_kev"]), 1.8,
                                   nh_galactic_cm2=3.4e20)
    cand, prim = cp.associate_soft(hard, soft, 8.0, hard_flux=hard["flux"],
                                   flux_conversion=conv)
    t2s = {int(t): str(i) for i, t in zip(softx_truth["id"], softx_truth["truth_id"],
                                          strict=True) if t >= 0}
    t_hard_soft = np.array([t2s.get(int(i), "") for i in hard["id"]])
    has = t_hard_soft != ""
    assert has.sum() > 50
    assert np.mean(np.asarray(prim["soft_id"])[has] == t_hard_soft[has]) > 0.85
    best, cands, results = cp.identify(cp.xray_positions(hard, prim, 8.0), [opt])
    t2o = {int(t): str(i) for i, t in zip(optical_truth["id"], optical_truth["truth_id"],
                                          strict=True) if t >= 0}
    t_hard_opt = np.array([t2o.get(int(i), "") for i in hard["id"]])
    sec = np.asarray(best["ctp_class"]) == "secure"
    assert sec.sum() > 30
    right = np.asarray(best["ctp_id"]) == t_hard_opt
    # the chain is limited by the hard-to-soft step: given the right soft source, the
    # optical identification is as good as for the soft list itself
    soft_ok = np.asarray(prim["soft_id"]) == t_hard_soft
    assert right[sec].mean() > 0.7
    assert right[sec & soft_ok].mean() > 0.85
    assert set(best["ctp_catalog"][sec]) == {"optical"}
    assert len(cands) == len(results[0].candidates)

    # the four figures render
    figs = {
        "nm": figures.counterpart_magnitude_distributions(res.magnitudes),
        "rc": figures.lr_reliability_completeness(res.curve, res.lr_threshold, "optical"),
        "xo": figures.xray_optical_plane(prim["soft_flux"], best["ctp_mag"], 5.6,
                                         best["ctp_class"], flux_label="0.5-2 keV flux"),
        "hs": figures.hard_soft_flux_comparison(
            prim["soft_flux_pred"], prim["soft_flux"],
            pd.DataFrame({"x": [1e-15, 1e-14, 1e-13], "median_ratio": [1.3, 1.05, 1.0],
                          "p16": [0.7, 0.8, 0.9], "p84": [2.0, 1.3, 1.1], "n": [50, 80, 20]})),
    }
    for name, fig in figs.items():
        plotting.save(fig, tmp_path / f"{name}.png")
        assert (tmp_path / f"{name}.png").stat().st_size > 5000
