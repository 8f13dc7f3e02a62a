"""The Snakemake HTML report: report flags of the rules, and a real report of a tiny demo run
rendered in headless Chromium."""

import html
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image, ImageStat

from ..workflow_utils import REPO, run_snakemake
from .test_envs import load_workflow

CAPTIONS = REPO / "workflow" / "report"
CATEGORIES = (
    "1 Mosaics & background",
    "2 Detection",
    "3 Calibration",
    "4 Catalogue & number counts",
    "5 Counterparts",
    "6 Spectral shape & variability",
)
LABELS = {"stack", "band", "product"}
#: key tables that must be in the report (output patterns)
KEY_TABLES = (
    r"results/calibration/\{stack[^}]*\}/thresholds\.csv",
    r"results/calibration/\{stack[^}]*\}/sensitivity\.csv",
    r"results/catalog/\{stack[^}]*\}/catalog_\d+\.csv",
    r"results/catalog/\{stack[^}]*\}/band_combinations_\d+\.csv",
    r"results/lognlogs/\{stack[^}]*\}/[\d.]+-[\d.]+\.csv",
)
FIGURE_SUFFIXES = (".png", ".pdf", ".svg", ".jpg")


# --- report flags in the rules (no run) -----------------------------------------------------


@pytest.fixture(scope="module")
def parsed_workflow(tmp_path_factory):
    return load_workflow(tmp_path_factory.mktemp("report"))


def _outputs(data):
    return [(rule["name"], f) for rule in data["rules"] for f in rule["output"]]


def test_every_figure_and_key_table_is_in_the_report(parsed_workflow):
    outputs = _outputs(parsed_workflow)
    for rule, f in outputs:
        if f["path"].endswith(FIGURE_SUFFIXES):
            assert f["report"], f"rule {rule}: figure {f['path']} is not marked report(...)"
    flagged = [f["path"] for _, f in outputs if f["report"]]
    for pattern in KEY_TABLES:
        assert any(re.fullmatch(pattern, p) for p in flagged), f"no report table {pattern}"


def test_report_flags_have_categories_captions_and_labels(parsed_workflow):
    used_categories, used_captions = set(), set()
    for rule, f in _outputs(parsed_workflow):
        flag = f["report"]
        if not flag:
            continue
        where = f"rule {rule}, {f['path']}"
        assert flag["category"] in CATEGORIES, f"{where}: category {flag['category']!r}"
        assert flag["subcategory"], f"{where}: no subcategory"
        caption = flag["caption"]
        assert caption and caption.parent == CAPTIONS.resolve() and caption.suffix == ".rst", (
            f"{where}: caption {caption} not in workflow/report/")
        assert caption.is_file() and caption.read_text().strip(), f"{where}: {caption} empty"
        assert set(flag["labels"] or {}) == LABELS, f"{where}: labels {flag['labels']}"
        used_categories.add(flag["category"])
        used_captions.add(caption)
    assert used_categories == set(CATEGORIES)
    description = parsed_workflow["report"]
    assert description == (CAPTIONS / "workflow.rst").resolve(), description
    unused = {p.resolve() for p in CAPTIONS.glob("*.rst")} - used_captions - {description}
    assert not unused, f"caption files used by no output: {sorted(p.name for p in unused)}"


# --- a real report of a tiny demo run -------------------------------------------------------


def _find_chromium():
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        if path := shutil.which(name):
            return path
    return None


@pytest.fixture(scope="session")
def chromium():
    path = _find_chromium()
    if path is None:
        pytest.skip("chromium is not installed (Debian: apt-get install chromium)")
    return path


@pytest.fixture(scope="module")
def tiny_report(tiny_run):
    """`snakemake --report results/report.html` of the shared tiny demo run."""
    proc = run_snakemake(tiny_run, "--report", "results/report.html")
    assert "Report created" in proc.stdout + proc.stderr
    return tiny_run / "results" / "report.html"


def _report_data(report: Path, name: str):
    """A JSON variable of the report's embedded data (`results`, `categories`)."""
    text = report.read_text()
    m = re.search(rf'<script id="{name}">\s*var {name} = (.*?);?\s*</script>', text, re.S)
    assert m, f"no {name} data in {report}"
    return json.loads(m.group(1))


@pytest.mark.workflow
def test_report_of_a_tiny_run(tiny_report):
    assert tiny_report.stat().st_size > 100_000
    categories = _report_data(tiny_report, "categories")
    results = _report_data(tiny_report, "results")
    assert set(categories) == set(CATEGORIES)
    run = tiny_report.parent
    figures = {f"results/figures/all/{p.name}" for p in (run / "figures" / "all").glob("*.png")}
    assert figures and figures <= set(results), f"missing: {figures - set(results)}"
    for table in ("calibration/all/thresholds.csv", "calibration/all/sensitivity.csv",
                  "catalog/all/catalog_95.csv", "catalog/all/band_combinations_95.csv",
                  "lognlogs/all/8-24.csv"):
        assert f"results/{table}" in results, table
    for path, entry in results.items():
        assert entry["caption"].startswith("<p>") and "{{" not in entry["caption"], path
        assert set(entry["labels"]) == LABELS and entry["labels"]["stack"] == "all", path
        assert entry["data_uri"].startswith("data:"), path
    n_items = sum(len(files) for subs in categories.values() for files in subs.values())
    assert n_items == len(results)
    detection = results["results/figures/all/detections_8-24.png"]
    assert "8-24 keV" in detection["caption"] and detection["labels"]["band"] == "8-24"


def _chromium(exe, url, tmp_path, *args, timeout=180):
    cmd = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
           "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}",
           "--window-size=1280,1024", "--virtual-time-budget=5000", *args, url]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


def _screenshot(exe, page: Path, tmp_path, name):
    shot = tmp_path / f"{name}.png"
    proc = _chromium(exe, page.as_uri(), tmp_path, f"--screenshot={shot}")
    assert shot.is_file(), f"no screenshot ({proc.returncode}):\n{proc.stderr[-3000:]}"
    return shot


def _n_colours_and_spread(png: Path, box=None):

    img = Image.open(png).convert("RGB")
    if box is not None:
        w, h = img.size
        img = img.crop((int(box[0] * w), int(box[1] * h), int(box[2] * w), int(box[3] * h)))
    colours = img.getcolors(maxcolors=1 << 24)
    return len(colours), ImageStat.Stat(img.convert("L")).stddev[0]


def _visible_text(dom: str) -> str:
    """Text of the rendered DOM without scripts and styles (the data blobs)."""
    dom = re.sub(r"<(script|style)\b.*?</\1>", " ", dom, flags=re.S | re.I)
    return html.unescape(re.sub(r"<[^>]+>", " ", dom))


#: Opens one figure of the report the way a click in the result list does.
SHOW_FIGURE = """<script>
setTimeout(() => {{
  const path = Object.keys(results).find(p => p.endsWith({name!r}));
  app.setView({{navbarMode: "subcategory", category: {category!r},
               subcategory: {subcategory!r}, content: "img",
               contentPath: results[path].data_uri, resultPath: path}});
}}, 200);
</script>
"""


@pytest.mark.workflow
def test_report_renders_in_chromium(chromium, tiny_report, tmp_path):
    # the landing page: menu with the six categories, workflow description, rule graph
    dom = _chromium(chromium, tiny_report.as_uri(), tmp_path, "--dump-dom").stdout
    text = _visible_text(dom)
    for category in CATEGORIES:
        assert category in text, f"{category!r} not rendered"
    assert "synthetic demo survey" in text  # workflow.rst, rendered with the config
    shot = _screenshot(chromium, tiny_report, tmp_path, "landing")
    n_colours, spread = _n_colours_and_spread(shot)
    assert n_colours > 50 and spread > 10, f"blank page? {n_colours} colours, std {spread:.1f}"

    # one figure opened in the result view (a copy of the report with a click scripted in)
    page = tmp_path / "figure.html"
    script = SHOW_FIGURE.format(name="reliability_8-24.png", category="3 Calibration",
                                subcategory="Reliability & thresholds")
    source = tiny_report.read_text()
    cut = source.rindex("</body>")
    page.write_text(source[:cut] + script + source[cut:])
    dom = _chromium(chromium, page.as_uri(), tmp_path, "--dump-dom").stdout
    assert re.search(r'<img[^>]+src="data:image/png', dom), "figure not shown"
    text = _visible_text(dom)
    assert "Reliability & thresholds" in text and "reliability vs DET_ML" in text
    shot = _screenshot(chromium, page, tmp_path, "figure")
    n_colours, spread = _n_colours_and_spread(shot, box=(0.45, 0.2, 1.0, 0.8))
    assert n_colours > 50 and spread > 10, f"figure blank? {n_colours} colours, std {spread:.1f}"
