"""One stage name per room: rule file, scripts, package subpackage and tests share a name;
scripts find their inputs by name; the package imports nothing inside functions."""

import ast
import importlib

import pytest
import yaml

from ..workflow_utils import REPO
from .test_envs import load_workflow

RULES = REPO / "workflow" / "rules"
SCRIPTS = REPO / "workflow" / "scripts"
PACKAGE = REPO / "workflow" / "xsurvey"
TESTS = REPO / "tests"
#: Rule files that are not a stage: shared input functions, report categories.
NOT_STAGES = {"common", "report"}


def stages():
    return sorted(p.stem for p in RULES.glob("*.smk") if p.stem not in NOT_STAGES)


@pytest.fixture(scope="module")
def rules(tmp_path_factory):
    return load_workflow(tmp_path_factory.mktemp("layout"))["rules"]


def test_each_rule_script_lives_in_the_folder_of_its_rule_file(rules):
    scripted = [r for r in rules if r["script"]]
    assert len(scripted) > 15
    for rule in scripted:
        stage = rule["snakefile"].rsplit("/", 1)[-1].removesuffix(".smk")
        script = rule["script_path"]
        assert script.parent == SCRIPTS / stage, (
            f"rule {rule['name']} ({stage}.smk) runs {script.relative_to(REPO)}: expected it "
            f"in workflow/scripts/{stage}/")
        assert rule["name"] == script.stem or rule["name"].startswith(script.stem + "_"), (
            f"rule {rule['name']}: script {script.name} should carry the rule's name")


@pytest.mark.parametrize("stage", stages())
def test_each_stage_has_its_subpackage_scripts_and_tests(stage):
    assert (PACKAGE / stage / "__init__.py").is_file(), f"no package xsurvey.{stage}"
    assert (SCRIPTS / stage).is_dir(), f"no workflow/scripts/{stage}/"
    link = SCRIPTS / stage / "xsurvey"
    assert link.is_symlink() and link.resolve() == PACKAGE, (
        f"{link.relative_to(REPO)} should link to the package (scripts import it from the repo)")
    assert list((TESTS / stage).glob("test_*.py")), f"no tests/{stage}/test_*.py"


def test_every_subpackage_is_a_stage_and_exports_its_api():
    subpackages = sorted(p.parent.name for p in PACKAGE.glob("*/__init__.py"))
    assert subpackages == stages(), "subpackages and rule files should pair one to one"
    for name in subpackages:
        module = importlib.import_module(f"xsurvey.{name}")
        exported = getattr(module, "__all__", None)
        assert exported, f"xsurvey.{name} has no __all__"
        missing = [n for n in exported if not hasattr(module, n)]
        assert not missing, f"xsurvey.{name}.__all__ names missing objects: {missing}"


def _python_files():
    files = [*PACKAGE.rglob("*.py"), *SCRIPTS.glob("*/*.py"), *TESTS.rglob("*.py")]
    return [f for f in files if "__pycache__" not in f.parts]


def test_no_imports_inside_functions():
    """Imports at module level only (none hidden in a function to dodge a cycle)."""
    found = []
    for path in _python_files():
        tree = ast.parse(path.read_text())
        for func in ast.walk(tree):
            if isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef):
                found += [f"{path.relative_to(REPO)}:{node.lineno}" for node in ast.walk(func)
                          if isinstance(node, ast.Import | ast.ImportFrom)]
    assert not found, f"function-level imports: {found}"


def _is_input(node) -> bool:
    """``snakemake.input`` or ``snakemake.input.<name>``."""
    if isinstance(node, ast.Attribute) and node.attr != "input":
        node = node.value
    return (isinstance(node, ast.Attribute) and node.attr == "input"
            and isinstance(node.value, ast.Name) and node.value.id == "snakemake")


def _is_whole_input(node) -> bool:
    return (isinstance(node, ast.Attribute) and node.attr == "input"
            and isinstance(node.value, ast.Name) and node.value.id == "snakemake")


def _taken_by_position(node) -> bool:
    """An index or slice of the inputs, a loop over all of them, or inputs paired with
    another list by ``zip``/``enumerate``."""
    if isinstance(node, ast.Subscript) and _is_input(node.value):  # only a name may index
        return not (isinstance(node.slice, ast.JoinedStr)
                    or isinstance(node.slice, ast.Constant) and isinstance(node.slice.value, str))
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        return node.func.id in ("zip", "enumerate") and any(map(_is_input, node.args))
    return isinstance(node, ast.For | ast.comprehension) and _is_whole_input(node.iter)


def test_scripts_look_inputs_up_by_name_not_position():
    """No ``snakemake.input[3]``, ``snakemake.input.maps[a:b]``, ``snakemake.input.null[b]``,
    loop over the whole ``snakemake.input`` or ``zip(bands, snakemake.input.x)``: the order
    of ``expand`` is not part of a rule's contract (a list of like files, e.g. all replica
    chunks, may be read whole)."""
    found = [f"{path.relative_to(REPO)}: {ast.unparse(node)[:60]}"
             for path in SCRIPTS.glob("*/*.py")
             for node in ast.walk(ast.parse(path.read_text())) if _taken_by_position(node)]
    assert not found, f"inputs taken by position: {found}"


#: Folders of run products and tool state, not part of the repository's text.
NOT_SOURCES = {".git", ".snakemake", "results", "logs", "__pycache__", ".pytest_cache"}
TEXT_SUFFIXES = {".py", ".smk", ".md", ".rst", ".yaml", ".yml", ".toml", ".cfg", ".tsv", ".txt"}


def _text_files():
    for path in REPO.rglob("*"):
        rel = path.relative_to(REPO)
        if (path.is_file() and not NOT_SOURCES & set(rel.parts)
                and not any(p.endswith(".egg-info") for p in rel.parts)
                and (path.suffix in TEXT_SUFFIXES or path.name in ("Snakefile", "run"))):
            yield path


def test_the_repository_documents_itself():
    """Nothing points outside the repository for its method or layout: no path into the
    specification's folder, no section numbers of the old specification."""
    outside = ["shared" + "/", "METHOD" + " §"]  # spelt in two pieces so this file passes
    found = [f"{path.relative_to(REPO)}: {needle}" for path in _text_files()
             for needle in outside if needle in path.read_text(errors="replace")]
    assert not found, "references outside the repository:\n" + "\n".join(found)


#: Rules whose cost grows with the survey: they write Snakemake benchmark files, from which
#: a cluster run is sized (docs/usage.md, "Sizing a cluster run").
HEAVY_RULES = {"detect", "simulate", "calibrate", "counterparts", "variability_null",
               "spectra_fit"}


def test_every_rule_has_cluster_resources_and_heavy_rules_benchmarks(rules):
    profile = yaml.safe_load((REPO / "profiles" / "slurm" / "config.yaml").read_text())
    jobs = {r["name"] for r in rules if not r["norun"]}
    assert set(profile["set-resources"]) == jobs, (
        "profiles/slurm set-resources should list exactly the rules: "
        f"missing {sorted(jobs - set(profile['set-resources']))}, "
        f"unknown {sorted(set(profile['set-resources']) - jobs)}")
    for rule in rules:
        if rule["name"] in HEAVY_RULES:
            assert (rule["benchmark"] or "").startswith(f"results/benchmarks/{rule['name']}/"), (
                rule["name"])

