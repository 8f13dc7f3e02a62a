"""xsurvey: deep X-ray extragalactic survey pipeline (one DAG, see README.md)."""

from snakemake.utils import min_version, validate

min_version("9.0")


# Without --configfile: the defaults (config/template.yaml) with the embedded demo survey's
# keys (config/config.yaml). A --configfile replaces both, so nothing of the demo -- stacks,
# catalogues, name prefix -- leaks into a user's run (docs/usage.md).
if not workflow.overwrite_configfiles:

    configfile: "config/template.yaml"
    configfile: "config/config.yaml"


validate(config, "config/schemas/config.schema.yaml")


# Software from a container image (docs/usage.md): `--sdm apptainer` runs every job in it,
# `--sdm apptainer conda` builds the rules' conda environments (envs/) inside it.
if config.get("container"):

    container: config["container"]


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/instrument.smk"
include: "workflow/rules/population.smk"
include: "workflow/rules/demo.smk"
include: "workflow/rules/checks.smk"
include: "workflow/rules/mosaic.smk"
include: "workflow/rules/quality.smk"
include: "workflow/rules/detect.smk"
include: "workflow/rules/simulate.smk"
include: "workflow/rules/calibrate.smk"
include: "workflow/rules/catalog.smk"
include: "workflow/rules/lognlogs.smk"
include: "workflow/rules/counterparts.smk"
include: "workflow/rules/characterise.smk"
include: "workflow/rules/spectra.smk"
include: "workflow/rules/obscuration.smk"


rule all:
    default_target: True
    input:
        "results/instrument/bands.csv",
        "results/population/counts.csv",
        expand(
            "results/stacks/{stack}/{band}/{kind}.fits",
            stack=STACKS,
            band=BANDS,
            kind=MAP_KINDS,
        ),
        expand("results/quality/{stack}/area_exposure.csv", stack=STACKS),
        expand("results/quality/{stack}/bgcheck_summary.csv", stack=STACKS),
        expand("results/figures/{stack}/area_exposure.png", stack=STACKS),
        expand("results/figures/{stack}/bgcheck.png", stack=STACKS),
        "results/figures/population.png",
        expand("results/detect/{stack}/{band}.fits", stack=STACKS, band=BANDS),
        expand("results/detect/{stack}/{band}.reg", stack=STACKS, band=BANDS),
        expand(
            "results/figures/{stack}/detections_{band}.png",
            stack=STACKS,
            band=[b for b in config["detection"]["figure_bands"] if b in BANDS],
        ),
        expand(
            "results/calibration/{stack}/{table}.csv",
            stack=STACKS,
            table=CALIBRATION_TABLES,
        ),
        expand(
            "results/figures/{stack}/{name}_{band}.png",
            stack=STACKS,
            name=CALIBRATION_FIGURES,
            band=BANDS,
        ),
        expand(
            "results/figures/{stack}/{name}.png",
            stack=STACKS,
            name=[
                "skycoverage",
                "merged_reliability",
                "flux_distributions",
                "lightcurves",
            ],
        ),
        expand(
            "results/catalog/{stack}/catalog_{level}.{ext}",
            stack=STACKS,
            level=LEVELS,
            ext=["fits", "reg"],
        ),
        expand("results/lognlogs/{stack}/{band}.csv", stack=STACKS, band=BANDS),
        expand("results/lognlogs/{stack}/replicas_{band}.csv", stack=STACKS, band=BANDS),
        expand("results/catalog/{stack}/epoch_only.csv", stack=STACKS),
        expand("results/variability/{stack}/variability.csv", stack=STACKS),
        expand("results/spectral/{stack}/hardness.csv", stack=STACKS),
        expand("results/spectra/{stack}/fits.csv", stack=STACKS),
        expand("results/figures/{stack}/spectra.png", stack=STACKS),
        expand("results/obscuration/{stack}/fractions.csv", stack=STACKS),
        expand(
            "results/figures/{stack}/{name}.png",
            stack=STACKS,
            name=["detection_fraction", "nh_recovery", "obscuration_fractions"],
        ),
        (
            expand(
                "results/figures/{stack}/{name}.png",
                stack=STACKS,
                name=[
                    "counterparts_nm_qm",
                    "counterparts_lr",
                    "hard_soft_flux",
                    "xo_plane",
                ],
            )
            if ANCILLARY
            else []
        ),
        expand("results/catalog/{stack}/truth_check.csv", stack=STACKS) if DEMO else [],
