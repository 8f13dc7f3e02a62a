"""The package files a rule script runs, and their digest (xsurvey.provenance)."""

from xsurvey import provenance

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
