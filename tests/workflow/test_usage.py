"""The bad-input table of docs/usage.md is what the pipeline says.

Every row of the table (``| id | input | message |``) has a trigger here that makes the
input go wrong and returns the message the check raises; the documented message (``…``
stands for anything) must match it, and every trigger must be documented.
"""

import ast
import copy
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from astropy.io import fits
from astropy.table import Table
from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from xsurvey import checks, config, counterparts, io, population
from xsurvey.instrument import load_instrument
from xsurvey.simulate.chunks import check_parquet

from ..checks.test_observation import BANDS, _copy, _row
from ..checks.test_observation import files as files  # noqa: F401  (the fixture)
from ..conftest import NUSTAR, REPO

USAGE = REPO / "docs" / "usage.md"
HEADER = "obs_id\tepoch\tmodule\tevents\texposure\tbackground\n"
ROW = "001\te1\tFPMA\tev.fits\tex_{band}.fits\t\n"


def _message(fn):
    """The message of the exception ``fn`` raises, with those it was raised from."""
    try:
        fn()
    except WorkflowError as exc:
        return "\n".join(map(str, exc.args))
    except ValueError as exc:
        return str(exc)
    raise AssertionError(f"{fn} raised nothing")


def _table(tmp, text):
    p = tmp / "obs.tsv"
    p.write_text(text)
    return p


def _obs(tmp, text, nustar):
    p = _table(tmp, text)
    return config.check_observation_table(config.read_observation_table(p), nustar, p,
                                          demo=False)


def _image(tmp, name, data, wcs=True):
    hdu = fits.PrimaryHDU(np.asarray(data, float))
    if wcs:
        hdu.header.update({"CTYPE1": "RA---TAN", "CTYPE2": "DEC--TAN", "CRVAL1": 150.0,
                           "CRVAL2": 2.0, "CRPIX1": 2, "CRPIX2": 2, "CDELT1": -6.8e-4,
                           "CDELT2": 6.8e-4})
    hdu.writeto(tmp / name, overwrite=True)
    return tmp / name


def _schema(cfg):
    return lambda: validate(cfg, str(REPO / "config" / "schemas" / "config.schema.yaml"))


def _default():
    return config.default_config(REPO)


def _ancillary(tmp, name, rows, spec):
    Table(rows).write(tmp / name, overwrite=True)
    return lambda: counterparts.load_ancillary({"name": "xmm", "path": str(tmp / name), **spec})


def triggers(tmp: Path, nustar, files):
    """id -> function raising the documented error."""
    def garbage():
        (tmp / "garbage.fits").write_text("not a FITS file")
        return io.read_image(tmp / "garbage.fits", "exposure map")

    def truncated():
        path = _image(tmp, "full.fits", np.ones((50, 50)))
        (tmp / "trunc.fits").write_bytes(path.read_bytes()[:4000])
        return io.read_image(tmp / "trunc.fits", "exposure map")

    def no_pi():
        def drop(hdul):
            cols = [c for c in hdul["EVENTS"].columns if c.name != "PI"]
            hdul["EVENTS"] = fits.BinTableHDU.from_columns(cols, header=hdul["EVENTS"].header,
                                                           name="EVENTS")
        return io.read_events(_copy(files["events"], tmp / "nopi.fits", drop))

    def instrument_key():
        text = NUSTAR.read_text().replace("aperture_radius_arcsec", "aperture_radius_arcsek")
        (tmp / "inst.yaml").write_text(text)
        return load_instrument(tmp / "inst.yaml")

    def duplicate_events():
        a, _ = checks.check_observation(_row(files), nustar, BANDS)
        b, _ = checks.check_observation(_row(files, obs_id="002"), nustar, BANDS)
        return checks.check_duplicates([a, b], "stack all")

    def exposure(name, factor=None, shift=None):
        def edit(hdul):
            if factor is not None:
                hdul[0].data = hdul[0].data * factor
            if shift is not None:
                hdul[0].header["CRVAL1"] += shift
        bad = _copy(files["exposure"]["3-8"], tmp / name, edit)
        return lambda: checks.check_observation(
            _row(files, exposure={**{b: str(p) for b, p in files["exposure"].items()},
                                  "3-8": bad}), nustar, BANDS)

    def events(name, edit):
        path = _copy(files["events"], tmp / name, edit)
        return lambda: checks.check_observation(_row(files, events=path), nustar, BANDS)

    def fcxb(name, value):
        def edit(hdul):
            hdul["FCXB"].data[5, 5] = value
        bad = _copy(files["background"]["3-8"], tmp / name, edit)
        return lambda: checks.check_observation(
            _row(files, background={**{b: str(p) for b, p in files["background"].items()},
                                    "3-8": bad}), nustar, BANDS)

    def set_pi(value):
        def edit(hdul):
            hdul["EVENTS"].data["PI"][:3] = value
        return edit

    def all_pi_zero(hdul):
        hdul["EVENTS"].data["PI"] = 0

    def no_events(hdul):
        hdul["EVENTS"] = fits.BinTableHDU(hdul["EVENTS"].data[:0], header=hdul["EVENTS"].header,
                                          name="EVENTS")

    def population_cfg(**change):
        return lambda: population.population_from_config(
            {**copy.deepcopy(_default()["population"]), **change}, nustar)

    def counts_table(name, text):
        (tmp / name).write_text(text)
        return population_cfg(counts={"band_kev": [2, 10], "table": str(tmp / name)})

    def chunk():
        (tmp / "chunk3.parquet").write_bytes(b"PAR1 cut short")
        return check_parquet(tmp / "chunk3.parquet", ": remove it and run again")

    ok_rows = HEADER + ROW
    return {
        "malformed-fits": garbage,
        "truncated-fits": truncated,
        "image-without-wcs": lambda: io.read_image(_image(tmp, "nowcs.fits", np.ones((3, 3)),
                                                          wcs=False), "background map"),
        "event-column": no_pi,
        "nan-exposure": lambda: io.read_image(_image(tmp, "ex.fits", [[1, np.nan], [1, 1]]),
                                              "exposure map"),
        "negative-exposure": lambda: io.read_image(_image(tmp, "ex.fits", [[1, -1], [1, 1]]),
                                                   "exposure map", allow_negative=False),
        "unknown-band": lambda: config.check_bands(["3-8", "2-7"], nustar),
        "unknown-instrument-key": instrument_key,
        "unknown-config-key": _schema({**_default(), "mosiac": {}}),
        "wrong-type": _schema({**_default(), "seed": "abc"}),
        "no-stacks": lambda: config.check_stacks({}, pd.DataFrame({"epoch": ["e1"]}), "obs.tsv"),
        "empty-epoch": lambda: config.check_stacks({"deep": ["e1", "e3"]},
                                                   pd.DataFrame({"epoch": ["e1", "e2"]}),
                                                   "obs.tsv"),
        "unsafe-stack": lambda: config.check_stacks({"../up": ["e1"]},
                                                    pd.DataFrame({"epoch": ["e1"]}), "obs.tsv"),
        "not-tab-separated": lambda: config.read_observation_table(
            _table(tmp, ok_rows.replace("\t", ","))),
        "too-many-fields": lambda: config.read_observation_table(
            _table(tmp, HEADER + ROW.replace("\n", "\tx\ty\n"))),
        "missing-column": lambda: _obs(tmp, "obs_id\tepoch\tmodule\tevents\n001\te1\tFPMA\t"
                                            "ev.fits\n", nustar),
        "empty-cell": lambda: _obs(tmp, ok_rows + "# x\n002\te1\tFPMA\t\tex_{band}.fits\t\n",
                                   nustar),
        "unsafe-name": lambda: _obs(tmp, HEADER + ROW.replace("\te1\t", "\t..\t"), nustar),
        "listed-twice": lambda: _obs(tmp, ok_rows + ROW, nustar),
        "same-event-file": lambda: _obs(tmp, ok_rows + ROW.replace("001", "002"), nustar),
        "unknown-module": lambda: _obs(tmp, HEADER + ROW.replace("FPMA", "pn"), nustar),
        "missing-file": lambda: config.check_input_files(_obs(tmp, ok_rows, nustar), BANDS,
                                                         "obs.tsv"),
        "band-not-processed": lambda: config.check_band_keys(
            {"spectral": {"soft_band": "3-24"}}, BANDS),
        "no-events": events("ev_empty.fits", no_events),
        "pi-out-of-range": events("ev_pi.fits", set_pi(9000)),
        "no-events-in-bands": events("ev_zero.fits", all_pi_zero),
        "exposure-in-ks": exposure("ex_ks.fits", factor=1e-3),
        "exposure-zero": exposure("ex_zero.fits", factor=0.0),
        "exposure-other-pointing": exposure("ex_other.fits", shift=10.0 / 60.0),
        "fcxb-negative": fcxb("bkg_neg.fits", -1.0),
        "fcxb-nan": fcxb("bkg_nan.fits", np.nan),
        "duplicate-events": duplicate_events,
        "ancillary-missing": lambda: counterparts.load_ancillary(
            {"name": "xmm", "path": str(tmp / "none.fits"), "kind": "softx"}),
        "ancillary-empty": _ancillary(tmp, "empty.fits", {"ra": np.zeros(0), "dec": np.zeros(0)},
                                      {"kind": "softx"}),
        "ancillary-no-magnitude": _ancillary(
            tmp, "nomag.fits", {"ra": [150.0], "dec": [2.0], "pos_err": [1.0]},
            {"kind": "optical"}),
        "ancillary-nan-coordinates": _ancillary(
            tmp, "nan.fits",
            {"id": [103], "ra": [np.nan], "dec": [2.0], "pos_err": [1.0], "flux": [1e-15]},
            {"kind": "softx"}),
        "population-parameter": population_cfg(photon_index={"mean": 4.0, "sigma": 0.2}),
        "population-table": counts_table("up.csv", "flux,n_gt_s\n1e-15,1000\n1e-14,2000\n"),
        "population-table-flux": counts_table("ks.csv", "flux,n_gt_s\n1e-15,1000\n3.0,100\n"),
        "corrupt-chunk": chunk,
    }


def documented():
    """(id, input, message pattern) of each row of the docs/usage.md bad-input table."""
    rows = []
    for line in USAGE.read_text().splitlines():
        m = re.match(r"^\| `([a-z0-9-]+)` \| (.*?) \| `(.*)` \|$", line)
        if m:
            rows.append(m.groups())
    return rows


@pytest.mark.filterwarnings("ignore:File may have been truncated")  # the truncated-fits row
def test_every_bad_input_is_documented_with_its_message(tmp_path, nustar, files):  # noqa: F811
    rows = documented()
    table = triggers(tmp_path, nustar, files)
    assert {r[0] for r in rows} == set(table), "docs/usage.md and the triggers differ"
    for key, _, message in rows:
        text = _message(table[key])
        pattern = ".*".join(re.escape(part) for part in re.split(r"\s*…\s*", message))
        assert re.search(pattern, text, re.S), f"{key}: documented `{message}`, got `{text}`"


def test_a_failing_script_leaves_its_error_in_the_rule_log(tmp_path):
    """Every rule script logs to its ``log:`` file first thing (``start_job`` starts with
    ``setup_logging``), and an exception that ends it lands there with its traceback (not
    only on Snakemake's stderr)."""
    scripts = sorted((REPO / "workflow" / "scripts").glob("*/*.py"))
    assert scripts
    for script in scripts:
        body = [node for node in ast.parse(script.read_text()).body
                if not isinstance(node, (ast.Import, ast.ImportFrom, ast.Expr))]
        assert ast.unparse(body[0]) == "log = start_job(snakemake)", script.name
    log = tmp_path / "logs" / "rule.log"
    job = ("from xsurvey.io import InputError, setup_logging\n"
           f"setup_logging({str(log)!r}).info('reading')\n"
           "raise InputError('exposure map ex.fits: maximum 60.0 s')\n")
    proc = subprocess.run([sys.executable, "-c", job], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(REPO / "workflow")})
    assert proc.returncode != 0
    text = log.read_text()
    assert "reading" in text and "Traceback" in text
    assert "job failed: InputError: exposure map ex.fits: maximum 60.0 s" in text
