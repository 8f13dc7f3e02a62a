"""Band-merged catalogues, number counts and per-epoch detection (METHOD §9, §10, §13)."""

LEVELS = {int(round(100 * r)): r for r in config["calibration"]["reliability_levels"]}


rule catalog:
    """95% and 99% reliability catalogues of a stack and their band combinations."""
    input:
        unpack(stack_catalog_inputs),
    output:
        fits=expand("results/catalog/{{stack}}/catalog_{level}.fits", level=LEVELS),
        csv=[
            report_item(
                f"results/catalog/{{stack}}/catalog_{level}.csv",
                REPORT_CATALOG,
                "Catalogue",
                "catalog",
                f"{level}% reliability catalogue (table)",
            )
            for level in LEVELS
        ],
        combinations=[
            report_item(
                f"results/catalog/{{stack}}/band_combinations_{level}.csv",
                REPORT_CATALOG,
                "Catalogue",
                "band_combinations",
                f"{level}% catalogue: band combinations (table)",
            )
            for level in LEVELS
        ],
        figure=report_item(
            "results/figures/{stack}/flux_distributions.png",
            REPORT_CATALOG,
            "Catalogue",
            "flux_distributions",
            "flux distributions",
        ),
    log:
        "logs/catalog/{stack}.log",
    conda:
        "../../envs/detect.yaml"
    resources:
        mem_mb=1500,
        runtime=10,
    params:
        bands=BANDS,
        levels=LEVELS,
        kinds=STACK_MAPS,
        prefix=config["catalog"]["name_prefix"],
    script:
        "../scripts/catalog.py"


rule truth_check:
    """Demo only: catalogue sources matched to the true input list, against expectation."""
    input:
        catalogs=expand("results/catalog/{{stack}}/catalog_{level}.fits", level=LEVELS),
        detections=expand("results/detect/{{stack}}/{band}.fits", band=BANDS),
        exposure=f"results/stacks/{{stack}}/{BANDS[0]}/exposure.fits",
        truth=f"{DEMO_DIR}/truth/sources.fits",
        sources=lambda wc: [
            f"{DEMO_DIR}/truth/obs/{row.obs_id}_{row.module}.fits"
            for row in OBS[OBS.epoch.isin(STACKS[wc.stack])].itertuples()
        ],
        instrument=INSTRUMENT_FILE,
    output:
        summary=report_item(
            "results/catalog/{stack}/truth_check.csv",
            REPORT_CATALOG,
            "Catalogue",
            "truth_check",
            "demo: spurious sources against expectation (table)",
        ),
        sources=expand(
            "results/catalog/{{stack}}/truth_match_{level}.csv", level=LEVELS
        ),
    log:
        "logs/catalog/truth_check_{stack}.log",
    conda:
        "../../envs/detect.yaml"
    params:
        bands=BANDS,
        levels=LEVELS,
        truth=config["simulations"].get("truth", "flux"),
        truth_share=config["simulations"].get("truth_share", 0.25),
    script:
        "../scripts/truth_check.py"


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
        bands=BANDS,
        level=LEVELS[min(LEVELS)],
        lognlogs=config["lognlogs"],
        population=config["population"],
    script:
        "../scripts/lognlogs.py"


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
        bands=BANDS,
        n_replicas=N_REPLICAS,
        level=LEVELS[min(LEVELS)],
        lognlogs=config["lognlogs"],
        population=config["population"],
        bins_per_decade=config["calibration"]["flux_bins_per_decade"],
    script:
        "../scripts/lognlogs_replicas.py"


rule detect_epoch:
    """Detections on one epoch's mosaic (thresholds come from the stack)."""
    input:
        instrument=INSTRUMENT_FILE,
        maps=expand("results/epochs/{{epoch}}/{{band}}/{kind}.fits", kind=MAP_KINDS),
    output:
        "results/detect/epochs/{epoch}/{band}.fits",
    log:
        "logs/detect/epoch_{epoch}_{band}.log",
    conda:
        "../../envs/detect.yaml"
    resources:
        mem_mb=1500,
    params:
        detection=config["detection"],
    script:
        "../scripts/detect.py"


rule epoch_catalog:
    """Per-epoch catalogues with the stack's thresholds; sources absent from the stack."""
    input:
        instrument=INSTRUMENT_FILE,
        detections=lambda wc: expand(
            "results/detect/epochs/{epoch}/{band}.fits",
            epoch=STACKS[wc.stack],
            band=BANDS,
        ),
        maps=lambda wc: expand(
            "results/epochs/{epoch}/{band}/{kind}.fits",
            epoch=STACKS[wc.stack],
            band=BANDS,
            kind=STACK_MAPS,
        ),
        thresholds="results/calibration/{stack}/thresholds.csv",
        reliability="results/calibration/{stack}/reliability.csv",
        stack_catalog=f"results/catalog/{{stack}}/catalog_{min(LEVELS)}.fits",
    output:
        catalogs=directory("results/catalog/{stack}/epochs"),
        epoch_only="results/catalog/{stack}/epoch_only.csv",
    log:
        "logs/catalog/epochs_{stack}.log",
    conda:
        "../../envs/detect.yaml"
    params:
        epochs=lambda wc: STACKS[wc.stack],
        bands=BANDS,
        kinds=STACK_MAPS,
        level=LEVELS[min(LEVELS)],
        prefix=config["catalog"]["name_prefix"],
        radius=INSTRUMENT.match_radius_arcsec,
    script:
        "../scripts/epoch_catalog.py"
