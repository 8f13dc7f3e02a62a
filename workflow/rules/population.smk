"""Source population of the demo sky and of the replicas (method.md §7.1)."""


rule population:
    """Spectral table, number counts and intensities of the source population."""
    input:
        instrument=INSTRUMENT_FILE,
    output:
        grid="results/population/grid.npz",
        counts="results/population/counts.csv",
        intensity="results/population/intensity.csv",
    log:
        "logs/population.log",
    conda:
        "../../envs/detect.yaml"
    resources:
        mem_mb=1500,
        runtime=10,
    params:
        code=code("population/population.py"),
        population=config["population"],
    script:
        "../scripts/population/population.py"


rule population_figures:
    """Number counts and intensities of the source population."""
    input:
        counts="results/population/counts.csv",
        intensity="results/population/intensity.csv",
    output:
        figure=report(
            "results/figures/population.png",
            caption="../report/population.rst",
            category=REPORT_CALIBRATION,
            subcategory="Source population",
            labels={
                "stack": "all",
                "band": "all",
                "product": "population N(>S)",
            },
        ),
    log:
        "logs/population_figures.log",
    conda:
        "../../envs/plotting.yaml"
    params:
        code=code("population/population_figures.py"),
    script:
        "../scripts/population/population_figures.py"
