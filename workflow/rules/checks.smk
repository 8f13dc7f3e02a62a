"""Cross-checks of every observation's input files before any mosaic (xsurvey.checks)."""


rule check_observation:
    """Events, exposure and background maps of one observation checked against each other."""
    input:
        unpack(observation_files),
        instrument=INSTRUMENT_FILE,
    output:
        "results/checks/{obs_id}_{module}.json",
    log:
        "logs/checks/{obs_id}_{module}.log",
    conda:
        "../../envs/mosaic.yaml"
    resources:
        mem_mb=1500,
        runtime=10,
    params:
        code=code("checks/check_observation.py"),
        row=lambda wc: observation_row(wc.obs_id, wc.module),
        bands=BANDS,
    script:
        "../scripts/checks/check_observation.py"
