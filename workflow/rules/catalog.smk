"""Band-merged catalogues, per-epoch catalogues and the demo's truth check (method.md §8, §13)."""


rule catalog:
    """95% and 99% reliability catalogues of a stack and their band combinations."""
    input:
        unpack(
            named_inputs(
                "detections", "results/detect/{stack}/{band}.fits", band=BANDS
            )
        ),
        unpack(
            named_inputs(
                "maps",
                "results/stacks/{stack}/{band}/{kind}.fits",
                band=BANDS,
                kind=STACK_MAPS,
            )
        ),
        instrument=INSTRUMENT_FILE,
        thresholds="results/calibration/{stack}/thresholds.csv",
        merged="results/calibration/{stack}/merged_reliability.csv",
        positions="results/calibration/{stack}/positions_det_ml.csv",
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
    log:
        "logs/catalog/{stack}.log",
    conda:
        "../../envs/detect.yaml"
    resources:
        mem_mb=1500,
        runtime=10,
    params:
        code=code("catalog/catalog.py"),
        bands=BANDS,
        levels=LEVELS,
        kinds=STACK_MAPS,
        prefix=config["catalog"]["name_prefix"],
    script:
        "../scripts/catalog/catalog.py"


rule catalog_figures:
    """Flux distributions of the sources of a stack's most complete catalogue."""
    input:
        catalog=f"results/catalog/{{stack}}/catalog_{min(LEVELS)}.fits",
    output:
        figure=report_item(
            "results/figures/{stack}/flux_distributions.png",
            REPORT_CATALOG,
            "Catalogue",
            "flux_distributions",
            "flux distributions",
        ),
    log:
        "logs/catalog/figures_{stack}.log",
    conda:
        "../../envs/plotting.yaml"
    params:
        code=code("catalog/catalog_figures.py"),
        bands=BANDS,
        level=min(LEVELS),
    script:
        "../scripts/catalog/catalog_figures.py"


rule catalog_regions:
    """DS9 region files of a stack's catalogues: a circle and the name of each source."""
    input:
        unpack(
            named_inputs(
                "catalogs",
                "results/catalog/{stack}/catalog_{level}.fits",
                level=LEVELS,
            )
        ),
    output:
        expand("results/catalog/{{stack}}/catalog_{level}.reg", level=LEVELS),
    log:
        "logs/catalog/regions_{stack}.log",
    conda:
        "../../envs/plotting.yaml"
    params:
        code=code("catalog/catalog_regions.py"),
        levels=list(LEVELS),
        radius=INSTRUMENT.aperture_radius_arcsec,
    script:
        "../scripts/catalog/catalog_regions.py"


rule truth_check:
    """Demo only: catalogue sources matched to the true input list, against expectation."""
    input:
        unpack(
            named_inputs(
                "catalogs",
                "results/catalog/{stack}/catalog_{level}.fits",
                level=LEVELS,
            )
        ),
        unpack(
            named_inputs(
                "detections", "results/detect/{stack}/{band}.fits", band=BANDS
            )
        ),
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
        code=code("catalog/truth_check.py"),
        bands=BANDS,
        levels=LEVELS,
        truth=config["simulations"].get("truth", "flux"),
        truth_share=config["simulations"].get("truth_share", 0.25),
    script:
        "../scripts/catalog/truth_check.py"


rule epoch_catalog:
    """Per-epoch catalogues with the stack's thresholds; sources absent from the stack."""
    input:
        unpack(
            named_inputs(
                "detections",
                "results/detect/epochs/{epoch}/{band}.fits",
                epoch=stack_epochs,
                band=BANDS,
            )
        ),
        unpack(
            named_inputs(
                "maps",
                "results/epochs/{epoch}/{band}/{kind}.fits",
                epoch=stack_epochs,
                band=BANDS,
                kind=STACK_MAPS,
            )
        ),
        instrument=INSTRUMENT_FILE,
        thresholds="results/calibration/{stack}/thresholds.csv",
        reliability="results/calibration/{stack}/reliability.csv",
        stack_catalog=f"results/catalog/{{stack}}/catalog_{min(LEVELS)}.fits",
        positions="results/calibration/{stack}/positions_det_ml.csv",
    output:
        catalogs=directory("results/catalog/{stack}/epochs"),
        epoch_only="results/catalog/{stack}/epoch_only.csv",
    log:
        "logs/catalog/epochs_{stack}.log",
    conda:
        "../../envs/detect.yaml"
    params:
        code=code("catalog/epoch_catalog.py"),
        epochs=stack_epochs,
        bands=BANDS,
        kinds=STACK_MAPS,
        level=LEVELS[min(LEVELS)],
        prefix=config["catalog"]["name_prefix"],
        radius=INSTRUMENT.match_radius_arcsec,
    script:
        "../scripts/catalog/epoch_catalog.py"
