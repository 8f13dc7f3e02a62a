"""xsurvey: deep X-ray extragalactic survey pipeline (one DAG, see README.md)."""

from snakemake.utils import min_version, validate

min_version("9.0")


configfile: "config/config.yaml"


validate(config, "config/schemas/config.schema.yaml")


include: "workflow/rules/common.smk"
include: "workflow/rules/demo.smk"
include: "workflow/rules/mosaic.smk"
include: "workflow/rules/quality.smk"


rule all:
    default_target: True
    input:
        "results/instrument/bands.csv",
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
