"""Configuration, observation table and input functions shared by all rules."""

import itertools
import re
import sys
from pathlib import Path

# The package directory of this workflow: the Snakefile imports xsurvey from it, and so do
# the jobs (xsurvey.provenance.jobs_import_from, docs/usage.md).
PACKAGE_ROOT = Path(workflow.basedir) / "workflow"
sys.path.insert(0, str(PACKAGE_ROOT))

from xsurvey.provenance import code_digest, jobs_import_from  # noqa: E402

SDM = {m.name.lower() for m in workflow.deployment_settings.deployment_method}
jobs_import_from(PACKAGE_ROOT, "conda" in SDM)

from xsurvey.config import (  # noqa: E402
    BAND_TEMPLATES,
    POINTING_COLUMNS,
    RESPONSE_COLUMNS,
    check_ancillary_catalogs,
    check_band_keys,
    check_bands,
    check_demo_paths,
    check_grid_overlap,
    check_input_files,
    check_observation_table,
    check_stacks,
    demo_paths,
    read_observation_table,
)
from xsurvey.instrument import band_suffix, load_instrument  # noqa: E402
from xsurvey.io import input_key  # noqa: E402
from xsurvey.detect import DetectionParameters  # noqa: E402
from xsurvey.simulate.chunks import check_parquet  # noqa: E402
from xsurvey.mosaic import MAP_KINDS  # noqa: E402

INSTRUMENT_FILE = config["instrument"]
INSTRUMENT = load_instrument(INSTRUMENT_FILE)
BANDS = check_bands(config["bands"], INSTRUMENT)
check_band_keys(config, BANDS)
DEMO = config.get("demo", {}).get("enabled", False)
OBS_FILE = config["observations"]
OBS = read_observation_table(OBS_FILE)
# the project's messages (file, line, column) first, the schema's after
check_observation_table(OBS, INSTRUMENT, OBS_FILE, demo=DEMO)
validate(OBS, "../../config/schemas/observations.schema.yaml")
if DEMO:
    check_demo_paths(OBS, config["demo"]["outdir"], OBS_FILE)
else:
    check_input_files(OBS, BANDS, OBS_FILE)
    check_ancillary_catalogs(config.get("counterparts", {}).get("catalogs", []))
check_grid_overlap(
    OBS,
    config["mosaic"],
    BANDS,
    OBS_FILE,
    INSTRUMENT.field_of_view_arcmin,
    demo=DEMO,
)
STACKS = check_stacks(config["stacks"], OBS, OBS_FILE)
EPOCHS = sorted(set(OBS.epoch))
GRID = dict(config["mosaic"])
QUALITY = config["quality"]
# the detection settings the detector reads (not figure_bands: a figure setting re-draws a
# figure, it does not re-run the detection)
DETECTION = {
    k: v
    for k, v in config["detection"].items()
    if k in DetectionParameters.__dataclass_fields__
}
# catalogue reliability levels, by percent: {95: 0.95, 99: 0.99}
LEVELS = {int(round(100 * r)): r for r in config["calibration"]["reliability_levels"]}


wildcard_constraints:
    band="|".join(re.escape(b) for b in BANDS),
    epoch="|".join(re.escape(e) for e in EPOCHS),
    stack="|".join(re.escape(s) for s in STACKS),
    kind="|".join(MAP_KINDS),


def band_key(band):
    """Name of a band in named inputs: '3-24' -> '3_24' (xsurvey.instrument.band_suffix)."""
    return band_suffix(band)


def observation_rows(epoch):
    """Rows of one epoch as plain dicts (params of the epoch mosaic rule)."""
    rows = OBS[OBS.epoch == epoch]
    return [
        {
            c: str(v)
            for c, v in row.items()
            if c in ("obs_id", "module", "events", *BAND_TEMPLATES)
        }
        for _, row in rows.iterrows()
    ]


def epoch_inputs(wildcards):
    """Only this epoch's observation files for this band."""
    files = []
    for row in observation_rows(wildcards.epoch):
        files += [row["events"]] + [
            row[c].format(band=wildcards.band) for c in BAND_TEMPLATES if row[c]
        ]
    return files


def band_params(wildcards):
    """Per-observation files of an epoch with the band substituted."""
    return [
        {**row, **{c: row[c].format(band=wildcards.band) for c in BAND_TEMPLATES}}
        for row in observation_rows(wildcards.epoch)
    ]


def observation_row(obs_id, module):
    """Files of one observation, per band (params of rule check_observation)."""
    row = OBS[(OBS.obs_id == obs_id) & (OBS.module == module)].iloc[0]
    return {
        "obs_id": obs_id,
        "module": module,
        "events": str(row.events),
        **{
            c: {b: str(row[c]).format(band=b) if row[c] else "" for b in BANDS}
            for c in BAND_TEMPLATES
        },
    }


def observation_files(wildcards):
    """Input files of one observation, named (rule check_observation)."""
    row = observation_row(wildcards.obs_id, wildcards.module)
    files = {"events": row["events"]}
    for c in BAND_TEMPLATES:
        files.update({f"{c}_{band_key(b)}": f for b, f in row[c].items() if f})
    return files


def epoch_checks(wildcards):
    """The checks of one epoch's observations (every epoch mosaic waits for them)."""
    rows = OBS[OBS.epoch == wildcards.epoch]
    return [f"results/checks/{r.obs_id}_{r.module}.json" for r in rows.itertuples()]


def stack_checks(wildcards):
    """The checks of all observations of a stack (duplicates across its epochs)."""
    rows = OBS[OBS.epoch.isin(STACKS[wildcards.stack])]
    return [f"results/checks/{r.obs_id}_{r.module}.json" for r in rows.itertuples()]


def replica_chunks(wildcards):
    """The replica chunks of a stack; existing ones must be readable (checked first).

    A truncated chunk (a crash, a full disk) stops the run before any job starts, so the
    previous calibration is kept; the message says how to make the chunk again.
    """
    chunks = {
        "detections": expand(
            "results/sims/{stack}/chunk{chunk}.parquet",
            stack=wildcards.stack,
            chunk=CHUNKS,
        ),
        "inputs": expand(
            "results/sims/{stack}/chunk{chunk}.inputs.parquet",
            stack=wildcards.stack,
            chunk=CHUNKS,
        ),
    }
    for det, inp in zip(chunks["detections"], chunks["inputs"]):
        for path in (det, inp):
            if Path(path).exists():
                check_parquet(
                    path,
                    f": remove it and run again to simulate it anew "
                    f"(rm {det} {inp})",
                )
    return chunks


def demo_row(obs_id, module):
    """Pointing of one demo observation (params of rule demo_observation)."""
    sel = OBS[(OBS.obs_id == obs_id) & (OBS.module == module)]
    row = sel.iloc[0]
    return {
        "obs_id": obs_id,
        "module": module,
        "epoch": row.epoch,
        **{c: float(row[c]) for c in POINTING_COLUMNS},
    }


STACK_MAPS = ("counts", "background", "exposure")


def named_inputs(prefix, pattern, **axes):
    """Input function: one file per combination of ``axes``, named ``prefix/<v1>/<v2>...``.

    Each axis is a list or a function of the wildcards; ``pattern`` is formatted with the
    wildcards and the axis values. Scripts read the files back by name with
    ``xsurvey.io.nested_inputs`` (``{v1: {v2: path}}``), never by position.
    """

    def inputs(wildcards):
        values = {k: v(wildcards) if callable(v) else v for k, v in axes.items()}
        fields = dict(wildcards.items())
        return {
            input_key(prefix, *combo): pattern.format(
                **fields, **dict(zip(values, combo))
            )
            for combo in itertools.product(*values.values())
        }

    return inputs


def stack_epochs(wildcards):
    """The epochs of the stack in the wildcards."""
    return STACKS[wildcards.stack]


def stack_events(wildcards):
    """The event files of a stack's observations, named ``events/<obs_id>_<module>``, and
    their own RMFs and ARFs when the table gives them (``rmf/...``, ``arf/...``)."""
    rows = OBS[OBS.epoch.isin(STACKS[wildcards.stack])]
    columns = [
        "events",
        *(c for c in RESPONSE_COLUMNS if c in OBS and OBS[c].notna().all()),
    ]
    return {
        input_key(col, f"{row.obs_id}_{row.module}"): str(getattr(row, col))
        for row in rows.itertuples()
        for col in columns
    }


def code(script):
    """Digest of a rule's script and of the package files it runs (a ``params`` value), so
    that editing that code re-runs the rule and what depends on it (xsurvey.provenance).
    """
    return code_digest(Path(workflow.basedir) / "workflow" / "scripts" / script)
