"""Acceptance on the default demo survey, run end to end as README command (a) does.

Checks the calibrated products against the demo's known truth: spurious sources in the
catalogues against the calibration's expectation, band combinations against DET_MLs and
thresholds, catalogue FITS units and names, sky coverage and completeness limits, and the
number counts recovered from independent replicas against the input model.
"""

import numpy as np
import pandas as pd
import pytest
import yaml
from astropy import units as u
from astropy.table import Table

from xsurvey.calibrate import threshold_at
from xsurvey.catalog import band_suffix

from .workflow_utils import REPO, make_workdir, run_snakemake

pytestmark = pytest.mark.workflow

LETTERS = {"3-24": "F", "3-8": "S", "8-24": "H", "8-16": "M", "16-24": "U"}


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    cfg = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    observations = (REPO / "config" / "observations.tsv").read_text()
    work = make_workdir(tmp_path_factory.mktemp("demo"), cfg, observations)
    run_snakemake(work)
    return work / "results"


def test_spurious_sources_match_the_calibration(demo_run):
    check = pd.read_csv(demo_run / "catalog" / "all" / "truth_check.csv")
    assert set(check.reliability) == {0.95, 0.99}
    for row in check.itertuples():
        assert row.n_sources > 30
        # Poisson consistency of the unmatched sources with sum(1 - R)
        assert row.poisson_p > 0.01, row
        assert row.n_spurious <= row.expected_spurious + 4 * np.sqrt(row.expected_spurious) + 2


def test_catalogue_columns_units_names(demo_run):
    cat = Table.read(demo_run / "catalog" / "all" / "catalog_95.fits")
    assert cat["ra"].unit == u.deg and cat["dec"].unit == u.deg
    assert u.Unit(cat["flux_3_24"].unit) == u.Unit("erg / (cm2 s)")
    names = np.asarray(cat["name"]).astype(str)
    assert len(set(names)) == len(names)
    assert all(n.startswith("XSDEMO J") for n in names)
    assert list(names) == sorted(names)
    assert np.all(np.diff(np.asarray(cat["ra"])) >= -1e-4)  # names sort like positions
    for band in LETTERS:
        s = band_suffix(band)
        flux = np.asarray(cat[f"flux_{s}"], float)
        assert np.all(flux[np.isfinite(flux)] >= 0), band
        undetected = np.asarray(cat[f"det_ml_{s}"]) == -99
        assert np.all(np.asarray(cat[f"ul_{s}"])[undetected])


def test_band_combinations_agree_with_thresholds(demo_run):
    cat = Table.read(demo_run / "catalog" / "all" / "catalog_95.fits")
    thr = pd.read_csv(demo_run / "calibration" / "all" / "thresholds.csv")
    for row in cat:
        expected = []
        for band, letter in LETTERS.items():
            s = band_suffix(band)
            ml = row[f"det_ml_{s}"]
            if ml == -99:
                continue
            t = threshold_at([row[f"exposure_ks_{s}"]], thr[thr.band == band], 0.95)[0]
            expected.append(letter if np.isfinite(t) and ml >= t else letter.lower())
        assert row["band_combination"] == "+".join(expected), row["name"]


def test_calibration_limits(demo_run):
    cal = demo_run / "calibration" / "all"
    thr = pd.read_csv(cal / "thresholds.csv")
    full = thr[(thr.band == "3-24") & (thr.exp_hi_ks <= 500)]
    assert np.all(np.isfinite(full.det_ml_threshold))
    # deeper exposure -> lower (or equal) threshold for the same reliability
    for level in (0.95, 0.99):
        t = full[full.reliability == level].sort_values("exp_lo_ks").det_ml_threshold.to_numpy()
        assert np.all(np.diff(t) <= 0.5)
    area = pd.read_csv(demo_run / "quality" / "all" / "area_exposure.csv")
    total = area[area.band == "3-24"].area_deg2.max()
    cov = pd.read_csv(cal / "skycoverage.csv")
    assert cov.area_deg2.max() <= total * (1 + 1e-6)
    comp = pd.read_csv(cal / "completeness.csv").dropna()
    c = comp[(comp.band == "3-24") & (comp.reliability == 0.95) & (comp.n_input >= 20)]
    assert c[c.flux > 3e-13].completeness.min() > 0.9
    assert c[c.flux < 5e-15].completeness.max() < 0.05
    pos = pd.read_csv(cal / "positions.csv")
    p = pos[pos.band == "3-24"].set_index("subset").sigma_arcsec
    assert p["bright"] < p["above95"] < p["all"]


def test_number_counts_recovered_from_replicas(demo_run):
    for band in ("3-24", "3-8", "8-24"):
        t = pd.read_csv(demo_run / "lognlogs" / "all" / f"replicas_{band}.csv")
        fitted = t[(t.n_sources > 1) & np.isfinite(t.pull)]
        assert len(fitted) >= 4, band
        assert np.all(np.abs(fitted.pull) < 1.0), (band, fitted[["flux", "ratio", "pull"]])
        real = pd.read_csv(demo_run / "lognlogs" / "all" / f"{band}.csv")
        assert len(real) > 5 and np.all(np.diff(real.n_gt_s) <= 0)


def test_counterpart_chain_is_as_reliable_as_estimated(demo_run):
    """Hard -> soft -> optical: secure identifications are true as often as R says (-3 pts)."""
    cat = Table.read(demo_run / "catalog" / "all" / "catalog_95.fits")
    names = pd.DataFrame({"id": np.asarray(cat["id"], dtype=np.int64),
                          "name": np.asarray(cat["name"]).astype(str)})
    truth = names.merge(pd.read_csv(demo_run / "catalog" / "all" / "truth_match_95.csv"),
                        on="name")[["id", "truth_id"]]
    optical = Table.read(demo_run / "demo" / "truth" / "optical_truth.fits")
    optical = pd.DataFrame({"ctp_id": np.asarray(optical["id"]).astype(str),
                            "ctp_truth": np.asarray(optical["truth_id"], dtype=np.int64)})
    best = pd.read_csv(demo_run / "counterparts" / "all" / "best.csv", dtype={"ctp_id": str})
    summary = pd.read_csv(demo_run / "counterparts" / "all" / "lr_summary.csv").iloc[0]
    secure = best[best.ctp_class == "secure"].merge(truth, on="id").merge(optical, on="ctp_id")
    assert len(secure) == summary.n_secure > 30
    accuracy = float(np.mean(secure.ctp_truth == secure.truth_id))
    print(f"\nchain: {len(secure)} secure, {accuracy:.3f} true, R = {summary.reliability:.3f}")
    assert accuracy >= summary.reliability - 0.03
