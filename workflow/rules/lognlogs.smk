"""Number counts of the catalogue and of independent replicas (method.md §9)."""


rule lognlogs:
    """Number counts per band from the 95% catalogue and the sky coverage."""
    input:
        catalog=f"results/catalog/{{stack}}/catalog_{min(LEVELS)}.fits",
        coverage="results/calibration/{stack}/countscoverage.csv",
        sensitivity="results/calibration/{stack}/sensitivity.csv",
        instrument=INSTRUMENT_FILE,
        grid=rules.population.output.grid,
    output:
        tables=[
            report_item(
                f"results/lognlogs/{{stack}}/{band}.csv",
                REPORT_CATALOG,
                "Number counts",
                "lognlogs_table",
                "N(>S) (table)",
                band=band,
            )
            for band in BANDS
        ],
        figure=report_item(
            "results/figures/{stack}/lognlogs.png",
            REPORT_CATALOG,
            "Number counts",
            "lognlogs",
            "N(>S)",
        ),
    log:
        "logs/lognlogs/{stack}.log",
    conda:
        "../../envs/detect.yaml"
    params:
        code=code("lognlogs/lognlogs.py"),
        bands=BANDS,
        level=LEVELS[min(LEVELS)],
        lognlogs=config["lognlogs"],
        population=config["population"],
    script:
        "../scripts/lognlogs/lognlogs.py"


rule lognlogs_replicas:
    """Number counts recovered from the replicas' catalogues against the input model."""
    input:
        unpack(replica_chunks),
        exposure=f"results/stacks/{{stack}}/{BANDS[0]}/exposure.fits",
        thresholds="results/calibration/{stack}/thresholds.csv",
        sensitivity="results/calibration/{stack}/sensitivity.csv",
        instrument=INSTRUMENT_FILE,
        grid=rules.population.output.grid,
    output:
        tables=expand("results/lognlogs/{{stack}}/replicas_{band}.csv", band=BANDS),
        figure=report_item(
            "results/figures/{stack}/lognlogs_replicas.png",
            REPORT_CATALOG,
            "Number counts",
            "lognlogs_replicas",
            "N(>S) recovered from the replicas",
        ),
    log:
        "logs/lognlogs/replicas_{stack}.log",
    conda:
        "../../envs/detect.yaml"
    resources:
        mem_mb=3000,
    params:
        code=code("lognlogs/lognlogs_replicas.py"),
        bands=BANDS,
        n_replicas=N_REPLICAS,
        level=LEVELS[min(LEVELS)],
        lognlogs=config["lognlogs"],
        population=config["population"],
        bins_per_decade=config["calibration"]["flux_bins_per_decade"],
    script:
        "../scripts/lognlogs/lognlogs_replicas.py"
