"""docs/outputs.md lists every product of every rule and every catalogue column with its
unit, so the page cannot drift from the code."""

import re

import pytest
import yaml

from xsurvey.catalog import band_columns
from xsurvey.catalog.columns import CATALOG_COLUMNS
from xsurvey.characterise.hardness import HR_COLUMNS
from xsurvey.characterise.variability import LC_COLUMNS, VARIABILITY_COLUMNS
from xsurvey.counterparts.identify import CTP_COLUMNS
from xsurvey.detect.columns import DETECTION_COLUMNS

from ..workflow_utils import REPO
from .test_envs import load_workflow

OUTPUTS = REPO / "docs" / "outputs.md"


def documented_patterns() -> list[re.Pattern]:
    """The ``results/...`` paths of docs/outputs.md as regexes: ``<name>`` is one path
    component, ``{a,b}`` one of the alternatives."""
    patterns = []
    for path in re.findall(r"`(results/[^`]+)`", OUTPUTS.read_text()):
        rx = re.escape(path)
        rx = re.sub(r"<[a-z_]+>", "[^/]+", rx)
        rx = re.sub(r"\\\{([^}]*)\\\}", lambda m: "(" + m.group(1).replace(",", "|") + ")", rx)
        patterns.append(re.compile(rx + "$"))
    return patterns


def test_every_rule_output_is_documented(tmp_path):
    patterns = documented_patterns()
    assert len(patterns) > 40
    missing = []
    for rule in load_workflow(tmp_path)["rules"]:
        for out in rule["output"]:
            # wildcards ({stack} or {band,3\-8|...}) stand for any one path component
            path = re.sub(r"\{[^{}]*\}", "w", out["path"])
            if not any(p.match(path) for p in patterns):
                missing.append(f"{rule['name']}: {out['path']}")
    assert not missing, "outputs missing from docs/outputs.md:\n" + "\n".join(missing)


def documented_columns() -> dict:
    """``{column: unit}`` of the column tables of docs/outputs.md ('' for '—')."""
    rows = re.findall(r"^\| `([a-z0-9_<>]+)` \| ([^|]+) \|", OUTPUTS.read_text(), re.M)
    return {name: "" if unit.strip() == "—" else unit.strip() for name, unit in rows}


@pytest.mark.parametrize("columns", [
    DETECTION_COLUMNS, CATALOG_COLUMNS,
    {k.replace("_3_24", "_<b>"): v for k, v in band_columns("3-24").items()},
    CTP_COLUMNS, HR_COLUMNS, VARIABILITY_COLUMNS, LC_COLUMNS,
], ids=["detections", "catalogue", "per-band", "counterparts", "hardness", "variability",
        "light-curves"])
def test_every_column_is_documented_with_its_unit(columns):
    documented = documented_columns()
    for name, (unit, _) in columns.items():
        assert name in documented, f"column {name} missing from docs/outputs.md"
        assert documented[name] == unit, (
            f"column {name}: docs/outputs.md says unit {documented[name]!r}, the code {unit!r}")


def test_the_method_describes_every_stage():
    """docs/method.md's stage table names every rule file's stage and sections that exist."""
    text = (REPO / "docs" / "method.md").read_text()
    table = dict(re.findall(r"^\| `([a-z]+)` \| (§[^|]+) \|", text, re.M))
    stages = sorted(p.stem for p in (REPO / "workflow" / "rules").glob("*.smk")
                    if p.stem not in ("common", "report"))
    assert sorted(table) == stages
    headings = set(re.findall(r"^#{2,3} (\d+(?:\.\d+)?)\.? ", text, re.M))
    for stage, sections in table.items():
        for number in re.findall(r"§(\d+(?:\.\d+)?)", sections):
            assert number in headings, f"{stage}: method.md has no section {number}"


def test_every_configuration_key_is_described():
    """config/README.md has a row for every key of the schema (two levels deep) and no row
    for a key the schema does not have."""
    schema = yaml.safe_load((REPO / "config" / "schemas" / "config.schema.yaml").read_text())
    keys = set()
    for key, node in schema["properties"].items():
        keys.add(key)
        keys |= {f"{key}.{sub}" for sub in node.get("properties", {})}
    rows = re.findall(r"^\| `([a-z_0-9.]+)` \| [^|]* \| [^|]* \| (.+) \|$",
                      (REPO / "config" / "README.md").read_text(), re.M)
    described = {key for key, meaning in rows if meaning.strip()}
    assert keys - described == set(), f"keys without a description: {sorted(keys - described)}"
    assert {k for k, _ in rows} <= keys, "config/README.md lists keys the schema lacks"
