"""The package files a rule script runs, their digest, and the provenance cards of a job's
products (xsurvey.provenance)."""

import os
from datetime import UTC, datetime

import astropy.units as u
import numpy as np
from astropy.io import fits
from astropy.table import Table
from astropy.wcs import WCS

from xsurvey import __version__, io, provenance
from xsurvey.catalog import write_catalog

from .conftest import REPO

SCRIPTS = REPO / "workflow" / "scripts"
PACKAGE = REPO / "workflow" / "xsurvey"


def closure(script):
    return {str(f.relative_to(PACKAGE)) for f in provenance.script_closure(script)[1]}


def test_a_script_runs_the_modules_it_imports_and_their_packages():
    files = closure(SCRIPTS / "detect" / "detection_figure.py")
    # `from xsurvey.detect import figures` runs the figures module and the detect package,
    # whose __init__ imports the detection modules, which import the instrument
    assert {"__init__.py", "detect/__init__.py", "detect/figures.py", "detect/poisson.py",
            "instrument/psf.py", "plotting.py", "io.py"} <= files
    assert not any(f.startswith(("counterparts/", "calibrate/", "catalog/")) for f in files)


def test_relative_imports_of_a_subpackage_resolve_inside_it():
    _, internal = provenance.file_imports(PACKAGE / "counterparts" / "__init__.py")
    assert "xsurvey.counterparts.likelihood_ratio" in internal


def test_third_party_names_leave_out_the_standard_library_and_the_package():
    external, _ = provenance.script_closure(SCRIPTS / "simulate" / "simulate.py")
    assert {"numpy", "sep", "astropy"} <= provenance.third_party(external)
    assert not {"json", "pathlib", "xsurvey"} & provenance.third_party(external)


def test_the_digest_is_of_the_code_not_of_the_checkout(tmp_path):
    """Same bytes give the same digest from another path; a script that runs other
    modules gets another digest."""
    script = SCRIPTS / "detect" / "detection_figure.py"
    copy = tmp_path / script.name
    copy.write_bytes(script.read_bytes())
    assert provenance.code_digest(copy) == provenance.code_digest(script)
    copy.write_bytes(script.read_bytes() + b"\nfrom xsurvey import counterparts\n")
    assert provenance.code_digest(copy) != provenance.code_digest(script)


def test_job_cards_name_the_telescope_software_date_code_and_configuration(nustar,
                                                                          monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1000000000")
    params = {"code": "0123456789abcdef", "bands": ["3-24"], "detection": {"snr": 3.0}}
    cards = provenance.job_cards(params, nustar)
    assert cards["TELESCOP"][0] == "NuSTAR" and cards["INSTRUME"][0] == "FPMA+FPMB"
    assert cards["CREATOR"][0] == f"xsurvey {__version__}"
    assert cards["DATE"][0] == "2001-09-09T01:46:40"  # 10^9 s after 1970-01-01 UTC
    assert cards["CODEHASH"][0] == "0123456789abcdef"
    # the configuration digest follows the configuration, not the code or the key order
    same = provenance.job_cards({"detection": {"snr": 3.0}, "bands": ["3-24"],
                                 "code": "ffffffffffffffff"}, nustar)
    other = provenance.job_cards({**params, "detection": {"snr": 4.0}}, nustar)
    assert same["CONFHASH"] == cards["CONFHASH"] != other["CONFHASH"]
    assert len(cards["CONFHASH"][0]) == 16
    assert "TELESCOP" not in provenance.job_cards(params)
    monkeypatch.delenv("SOURCE_DATE_EPOCH")
    now = datetime.now(UTC)
    written = datetime.fromisoformat(provenance.job_cards(params)["DATE"][0] + "+00:00")
    assert abs((written - now).total_seconds()) < 60


def test_every_fits_product_of_a_job_carries_its_cards(nustar, monkeypatch, tmp_path):
    """Images, tables and catalogues get the job's cards. A descriptive card a writer is
    given wins (the epoch mosaic's INSTRUME copied into the stack); the writing cards of a
    product a table was read from do not (the counterparts' catalogue is not the catalogue
    job's). The CSV catalogue leaves out the date and digests: it stays byte-stable."""
    monkeypatch.setattr(io, "PRODUCT_CARDS", {})
    cards = provenance.job_cards({"code": "abc"}, nustar)
    io.PRODUCT_CARDS.update(cards)
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    io.write_image(tmp_path / "map.fits", np.zeros((4, 4)), wcs, "s",
                   extra={"INSTRUME": "FPMA", "CODEHASH": "of another job"})
    table = Table({"ra": [1.0] * u.deg}, meta={"BAND": "3-24", "DATE": "2001-01-01T00:00:00",
                                               "CODEHASH": "of another job"})
    io.write_table(table, tmp_path / "det.fits")
    write_catalog(table, tmp_path / "cat.fits", tmp_path / "cat.csv")
    image = fits.getheader(tmp_path / "map.fits")
    assert image["INSTRUME"] == "FPMA" and image["TELESCOP"] == "NuSTAR"
    for name in ("det.fits", "cat.fits"):
        meta = Table.read(tmp_path / name).meta
        assert meta["BAND"] == "3-24", name
        for key, (value, _) in cards.items():
            assert meta[key] == value, (name, key)
            assert image[key] == value or key == "INSTRUME"
    csv = Table.read(tmp_path / "cat.csv", format="ascii.ecsv").meta
    assert csv["TELESCOP"] == "NuSTAR" and csv["BAND"] == "3-24"
    assert not set(io.WRITING_CARDS) & set(csv)
    assert table.meta["CODEHASH"] == "of another job"  # the caller's table is left as it was


def test_jobs_import_the_workflows_package_first(tmp_path):
    env = {"PYTHONPATH": os.pathsep.join(["/site/lib", "", "/other"])}
    provenance.jobs_import_from(tmp_path / "workflow", environ=env)
    assert env["PYTHONPATH"].split(os.pathsep) == [str(tmp_path / "workflow"), "/site/lib",
                                                   "/other"]
    assert "PYTHONNOUSERSITE" not in env  # host runs may rely on `pip install --user`
    fresh = {}
    provenance.jobs_import_from("/wf", conda=True, environ=fresh)
    assert fresh == {"PYTHONPATH": "/wf", "PYTHONNOUSERSITE": "1"}
