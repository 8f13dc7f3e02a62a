"""Per-rule conda environments (envs/*.yaml) against the workflow and pyproject.toml.

The rule -> script -> environment mapping comes from the workflow itself: the Snakefile is
loaded through the Snakemake API (in a subprocess, on a tiny demo configuration) and every
rule's script, conda environment, inputs and outputs are read from the parsed rules.
"""

import ast
import json
import re
import subprocess
import sys
import tomllib
from functools import cache
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

from xsurvey.provenance import file_imports, script_closure, third_party

from ..workflow_utils import REPO, make_workdir, tiny_config, tiny_observations

PACKAGE = REPO / "workflow" / "xsurvey"
ENVS = REPO / "envs"

#: top-level import name -> conda-forge package names that provide it (any one will do)
IMPORT_TO_CONDA = {
    "numpy": ("numpy",),
    "scipy": ("scipy",),
    "astropy": ("astropy", "astropy-base"),
    "pandas": ("pandas",),
    "pyarrow": ("pyarrow",),
    "matplotlib": ("matplotlib-base", "matplotlib"),
    "sep": ("sep",),
    "numba": ("numba",),
    "yaml": ("pyyaml",),
    "jsonschema": ("jsonschema",),
    "regions": ("regions",),
}
#: conda-forge package -> PyPI distribution (only where the names differ)
CONDA_TO_PYPI = {"matplotlib-base": "matplotlib", "astropy-base": "astropy"}
#: provided to every script by Snakemake itself (the `snakemake` object and its module)
PROVIDED = {"snakemake"}
#: calls that need a file-format engine the import graph does not show
ENGINE_CALLS = {"read_parquet": "pyarrow", "to_parquet": "pyarrow"}
ENGINE_SUFFIXES = {".parquet": "pyarrow"}

# Loads the workflow with the Snakemake API and dumps every rule as JSON.
INTROSPECT = r"""
import json, sys
from pathlib import Path
from snakemake.api import SnakemakeApi
from snakemake.io import get_flag_value, is_flagged
from snakemake.settings.types import (ConfigSettings, OutputSettings, ResourceSettings,
                                      StorageSettings)

def source_path(src):
    try:
        return src.get_path_or_uri(secret_free=True)
    except TypeError:  # older snakemake
        return src.get_path_or_uri()

def report_flag(f):
    if not is_flagged(f, "report"):
        return None
    r = get_flag_value(f, "report")
    caption = source_path(r.caption) if r.caption is not None else None
    return {"category": r.category, "subcategory": r.subcategory, "labels": r.labels,
            "caption": caption}

def files(io):
    return [{"path": str(f), "report": report_flag(f)}
            for f in io if isinstance(f, str)]

with SnakemakeApi(OutputSettings(quiet=True)) as api:
    wf = api.workflow(resource_settings=ResourceSettings(), config_settings=ConfigSettings(),
                      storage_settings=StorageSettings(), snakefile=Path("Snakefile"),
                      workdir=Path.cwd())
    workflow = wf._workflow
    rules = [{"name": r.name, "snakefile": str(r.snakefile), "script": r.script,
              "shellcmd": r.shellcmd, "norun": r.norun, "conda": r.conda_env,
              "input": files(r.input), "output": files(r.output),
              "code": r.params.get("code"), "container": r.container_img,
              "benchmark": str(r.benchmark) if r.benchmark else None}
             for r in workflow.rules]
    report = workflow.report_text
    report = source_path(report) if report is not None else None
Path(sys.argv[1]).write_text(json.dumps({"rules": rules, "report": report}))
"""


def _resolve(path) -> Path:
    return Path(path).resolve()


def load_workflow(tmp_dir: Path, cfg: dict | None = None) -> dict:
    """Rules of the real Snakefile (the tiny demo configuration, or ``cfg``) with paths
    resolved into the repo."""
    work = make_workdir(tmp_dir, cfg or tiny_config(), tiny_observations())
    out = tmp_dir / "rules.json"
    proc = subprocess.run([sys.executable, "-c", INTROSPECT, str(out)], cwd=work,
                          capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        raise AssertionError(f"loading the workflow failed:\n{proc.stderr[-4000:]}")
    data = json.loads(out.read_text())
    for rule in data["rules"]:
        rule_dir = _resolve(rule["snakefile"]).parent
        for key in ("script", "conda"):
            if rule[key] is not None and not re.match(r"^\w+://", rule[key]):
                rule[f"{key}_path"] = _resolve(rule_dir / rule[key])
        for f in rule["input"] + rule["output"]:
            if f["report"] and f["report"]["caption"]:
                f["report"]["caption"] = _resolve(work / f["report"]["caption"])
    if data["report"]:
        data["report"] = _resolve(work / data["report"])
    return data


@pytest.fixture(scope="module")
def workflow_rules(tmp_path_factory):
    rules = load_workflow(tmp_path_factory.mktemp("envs"))["rules"]
    assert len(rules) > 10, "the workflow has suspiciously few rules"
    return rules


# --- imports of a script and, transitively, of the xsurvey package ---------------------------


def _third_party(names) -> set:
    """Outside the standard library, the package and what Snakemake provides."""
    return third_party(names) - PROVIDED


def _calls(path: Path) -> set:
    """Names of the functions and methods a file calls."""
    return {node.func.attr if isinstance(node.func, ast.Attribute) else node.func.id
            for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute | ast.Name)}


@cache
def script_requirements(script: Path) -> tuple[frozenset, tuple, frozenset]:
    """(third-party imports of a script and of the package files it runs, those xsurvey
    modules, file-format engines its own calls need). The import graph is
    :func:`xsurvey.provenance.script_closure`, the one the rules' code digests follow."""
    external, files = script_closure(script)
    engines = frozenset(ENGINE_CALLS[c] for c in _calls(script) if c in ENGINE_CALLS)
    modules = (".".join(p.relative_to(PACKAGE).with_suffix("").parts) for p in files)
    return (frozenset(_third_party(external)),
            tuple(sorted(m.removesuffix(".__init__") for m in modules)), engines)


# --- environment files and pyproject --------------------------------------------------------

_SPEC = re.compile(r"^\s*([A-Za-z0-9_.\-]+)\s*(==|=|>=|<=|>|<|!=)?\s*([^\s=<>!]\S*)?\s*$")


@cache
def read_env(path: Path) -> dict:
    """{package: (operator, version)} of a conda environment file (pip sections rejected)."""
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict) and "dependencies" in data, f"{path}: no dependencies"
    channels = data.get("channels", [])
    assert channels and channels[0] == "conda-forge", f"{path}: channels {channels}"
    assert set(channels) <= {"conda-forge", "nodefaults"}, f"{path}: channels {channels}"
    pkgs = {}
    for dep in data["dependencies"]:
        assert isinstance(dep, str), f"{path}: only conda-forge packages, found {dep!r}"
        m = _SPEC.match(dep)
        assert m, f"{path}: cannot parse dependency {dep!r}"
        name, op, version = m.groups()
        assert name not in pkgs, f"{path}: {name} listed twice"
        pkgs[name.lower()] = (op, version)
    return pkgs


def pyproject():
    return tomllib.loads((REPO / "pyproject.toml").read_text())["project"]


def env_files():
    return sorted(ENVS.glob("*.yaml")) + sorted(ENVS.glob("*.yml"))


def script_rules(rules):
    return [r for r in rules if not r["norun"]]


# --- tests ----------------------------------------------------------------------------------


def test_every_rule_has_an_environment_and_every_environment_is_used(workflow_rules):
    used = set()
    for rule in script_rules(workflow_rules):
        assert rule["conda"], f"rule {rule['name']} has no conda: directive"
        assert not Path(rule["conda"]).is_absolute(), (
            f"rule {rule['name']}: conda path {rule['conda']} should be relative to the rule file")
        env = rule["conda_path"]
        assert env.parent == ENVS.resolve() and env.is_file(), (
            f"rule {rule['name']}: conda: {rule['conda']} -> {env} is not a file in envs/")
        used.add(env)
    unused = {p.resolve() for p in env_files()} - used
    assert not unused, f"environment files used by no rule: {sorted(p.name for p in unused)}"


def test_environments_are_pinned_conda_forge():
    assert env_files(), "no environment files in envs/"
    for path in env_files():
        pkgs = read_env(path)
        assert "python" in pkgs, f"{path.name}: python not pinned"
        for name, (op, version) in pkgs.items():
            assert op in ("=", "==") and version and re.match(r"^\d+(\.\d+)+$", version), (
                f"{path.name}: {name} is not pinned to a version ({op}{version})")


def test_environment_pins_satisfy_pyproject():
    project = pyproject()
    requirements = {canonicalize_name(r.name): r.specifier
                    for r in map(Requirement, project["dependencies"])}
    requires_python = SpecifierSet(project["requires-python"])
    for path in env_files():
        for name, (_, version) in read_env(path).items():
            # conda `=X.Y` means X.Y.*: its lowest member X.Y must satisfy the lower bound
            v = Version(version)
            if name == "python":
                # aligned: the package's oldest Python is the one the rules run with
                assert requires_python == SpecifierSet(f">={version}"), (
                    f"{path.name}: python={version}, pyproject requires-python "
                    f"{requires_python}")
                continue
            pypi = canonicalize_name(CONDA_TO_PYPI.get(name, name))
            assert pypi in requirements, (
                f"{path.name}: {name} is not a dependency in pyproject.toml")
            assert requirements[pypi].contains(v), (
                f"{path.name}: {name}={version} does not satisfy pyproject's "
                f"{pypi}{requirements[pypi]}")


def test_package_imports_are_known_and_declared():
    """Every third-party import of the package and scripts maps to a conda package and a
    pyproject dependency (so the environment checks below cannot miss one)."""
    declared = {canonicalize_name(Requirement(r).name) for r in pyproject()["dependencies"]}
    files = sorted(PACKAGE.rglob("*.py")) + sorted((REPO / "workflow" / "scripts").glob("*/*.py"))
    for f in files:
        for name in _third_party(file_imports(f)[0]):
            assert name in IMPORT_TO_CONDA, (
                f"{f.relative_to(REPO)} imports {name!r}: add it to IMPORT_TO_CONDA")
            pypi = {canonicalize_name(CONDA_TO_PYPI.get(c, c)) for c in IMPORT_TO_CONDA[name]}
            assert pypi & declared, f"{name} (imported by {f.name}) is not in pyproject.toml"


def rule_needs(rule) -> tuple[set, set]:
    """(import names, conda packages) a rule's script needs, with format engines."""
    names, _, engines = script_requirements(rule["script_path"])
    engines = set(engines) | {pkg for f in rule["input"] + rule["output"]
                              for suffix, pkg in ENGINE_SUFFIXES.items()
                              if f["path"].endswith(suffix)}
    return set(names), engines


def test_each_rule_environment_provides_its_imports(workflow_rules):
    checked = 0
    for rule in script_rules(workflow_rules):
        assert rule["script"], f"rule {rule['name']}: expected a script: directive"
        assert rule["script_path"].is_file(), f"rule {rule['name']}: {rule['script']} missing"
        provided = set(read_env(rule["conda_path"]))
        names, engines = rule_needs(rule)
        for name in sorted(names):
            choices = IMPORT_TO_CONDA.get(name)
            assert choices, f"rule {rule['name']}: import {name!r} not in IMPORT_TO_CONDA"
            assert provided & set(choices), (
                f"rule {rule['name']} ({rule['script']}) imports {name!r} but "
                f"{rule['conda_path'].name} provides none of {choices}")
        for pkg in sorted(engines):
            assert pkg in provided, (
                f"rule {rule['name']} reads or writes files that need {pkg} but "
                f"{rule['conda_path'].name} lacks it")
        checked += 1
    assert checked == len(script_rules(workflow_rules))


def test_environments_are_minimal(workflow_rules):
    """Every package of an environment is needed by at least one rule that uses it."""
    needed = {}
    for rule in script_rules(workflow_rules):
        names, engines = rule_needs(rule)
        pkgs = set(engines)
        for name in names:
            pkgs |= set(IMPORT_TO_CONDA.get(name, ()))
        needed.setdefault(rule["conda_path"], set()).update(pkgs)
    for env, pkgs in needed.items():
        extra = set(read_env(env)) - pkgs - {"python"}
        assert not extra, f"{env.name}: {sorted(extra)} needed by none of its rules"


def test_script_requirements_follow_package_imports():
    """The AST walk follows `from xsurvey import module`, stage subpackages and their
    relative imports."""
    scripts = REPO / "workflow" / "scripts"
    names, modules, _ = script_requirements(scripts / "detect" / "detection_figure.py")
    assert {"detect.figures", "detect", "detect.detector", "plotting", "io"} <= set(modules)
    assert {"matplotlib", "numpy", "astropy", "scipy"} <= names
    names, _, engines = script_requirements(scripts / "simulate" / "simulate.py")
    assert "yaml" in names  # via xsurvey.instrument
    assert engines == {"pyarrow"}  # DataFrame.to_parquet


def test_a_configured_container_image_runs_every_script_rule(tmp_path, workflow_rules):
    """``container:`` in the configuration is the image of every job under
    ``--sdm apptainer``; without it the jobs run on the host."""
    image = "docker://condaforge/miniforge3:24.11.3-0"
    rules = load_workflow(tmp_path, {**tiny_config(), "container": image})["rules"]
    assert {r["container"] for r in rules if r["script"]} == {image}
    assert {r["container"] for r in workflow_rules} == {None}


# --- lock files (snakedeploy pin-conda-envs) ------------------------------------------------

#: Snakemake's pin file of an environment: envs/<name>.<platform>.pin.txt
PIN_SUFFIX = ".linux-64.pin.txt"


def read_pin_file(text: str, where: str = "pin file") -> dict:
    """``{package: version}`` of a conda explicit list (``@EXPLICIT`` then one package URL
    per line, ``<channel>/<subdir>/<name>-<version>-<build>.conda[#hash]``), the format
    ``snakedeploy pin-conda-envs`` writes and ``conda create --file`` reads."""
    lines = [ln.strip() for ln in text.splitlines()
             if ln.strip() and not ln.lstrip().startswith("#")]
    assert lines and lines[0] == "@EXPLICIT", f"{where}: does not start with @EXPLICIT"
    pinned = {}
    for url in lines[1:]:
        m = re.fullmatch(r"https://\S+/(?:noarch|linux-64)/([^/#]+?)(?:\.conda|\.tar\.bz2)"
                         r"(?:#[0-9a-f]{32,64})?", url)
        assert m, f"{where}: not a package URL: {url}"
        name, version, _build = m[1].rsplit("-", 2)
        pinned[name.lower()] = version
    return pinned


def pin_mismatches(env: dict, pinned: dict) -> list[str]:
    """Packages of an environment file whose locked version is not in its ``=X.Y`` pin."""
    out = []
    for name, (_, version) in env.items():
        locked = pinned.get(name)
        if locked is None:
            out.append(f"{name}: not in the lock file")
        elif not (locked == version or locked.startswith(f"{version}.")):
            out.append(f"{name}: locked {locked}, the environment pins {version}")
    return out


def test_the_lock_file_reader_finds_versions_outside_the_pins():
    text = ("# created by snakedeploy\n@EXPLICIT\n"
            "https://conda.anaconda.org/conda-forge/linux-64/python-3.11.11-h9e4cc4f_1_cpython"
            ".conda#a1b2c3d4e5f60718293a4b5c6d7e8f90\n"
            "https://conda.anaconda.org/conda-forge/linux-64/numpy-2.3.5-py311h519dc76_0.conda\n"
            "https://conda.anaconda.org/conda-forge/noarch/pyyaml-6.0.2-pyh29332c3_2.tar.bz2\n")
    pinned = read_pin_file(text)
    assert pinned == {"python": "3.11.11", "numpy": "2.3.5", "pyyaml": "6.0.2"}
    env = {"python": ("=", "3.11"), "numpy": ("=", "2.4"), "pyyaml": ("=", "6.0"),
           "scipy": ("=", "1.17")}
    assert pin_mismatches(env, pinned) == ["numpy: locked 2.3.5, the environment pins 2.4",
                                           "scipy: not in the lock file"]
    with pytest.raises(AssertionError, match="not a package URL"):
        read_pin_file("@EXPLICIT\nnumpy=2.4\n")


def test_lock_files_name_the_environments_versions():
    """Every lock file belongs to an environment file and locks each of its packages within
    the pin; Snakemake installs from it (``--sdm conda``) when it is there."""
    locks = sorted(ENVS.glob(f"*{PIN_SUFFIX}"))
    if not locks:
        pytest.skip("no lock files in envs/ (snakedeploy pin-conda-envs needs conda and "
                    "conda-forge, docs/usage.md)")
    for lock in locks:
        env = ENVS / lock.name.replace(PIN_SUFFIX, ".yaml")
        assert env.is_file(), f"{lock.name}: no environment file {env.name}"
        assert not pin_mismatches(read_env(env), read_pin_file(lock.read_text(), lock.name))
