"""Source characterisation: variability between epochs (METHOD §13)."""

VARIABILITY_BANDS = [b for b in config["variability"]["bands"] if b in BANDS]


rule variability_null:
    """p-values of the variability test for constant sources in per-epoch replicas."""
    input:
        instrument=INSTRUMENT_FILE,
        grid=rules.population.output.grid,
        maps=expand("results/stacks/{{stack}}/{{band}}/{kind}.fits", kind=MAP_KINDS),
        real="results/detect/{stack}/{band}.fits",
        thresholds="results/calibration/{stack}/thresholds.csv",
        epoch_maps=lambda wc: expand(
            "results/epochs/{epoch}/{band}/{kind}.fits",
            epoch=STACKS[wc.stack],
            band=wc.band,
            kind=("exposure", "background", "background_nofcxb"),
        ),
    output:
        "results/variability/{stack}/null_{band}.csv",
    log:
        "logs/variability/{stack}_null_{band}.log",
    conda:
        "../../envs/detect.yaml"
    resources:
        mem_mb=1500,
        runtime=30,
    params:
        replicas=config["variability"]["null_replicas"],
        seed=config["seed"],
        population=config["population"],
        bright_flux=config["simulations"].get("bright_flux"),
        truth=config["simulations"].get("truth", "flux"),
        truth_share=config["simulations"].get("truth_share", 0.25),
        detection=config["detection"],
        level=LEVELS[min(LEVELS)],
        variability=config["variability"],
    script:
        "../scripts/variability_null.py"


rule variability:
    """Per-epoch rates, chi^2 variability test and light curves of the 95% catalogue."""
    input:
        instrument=INSTRUMENT_FILE,
        catalog=f"results/catalog/{{stack}}/catalog_{min(LEVELS)}.fits",
        null=expand(
            "results/variability/{{stack}}/null_{band}.csv", band=VARIABILITY_BANDS
        ),
        maps=lambda wc: expand(
            "results/epochs/{epoch}/{band}/{kind}.fits",
            band=VARIABILITY_BANDS,
            epoch=STACKS[wc.stack],
            kind=STACK_MAPS,
        ),
    output:
        table=report_item(
            "results/variability/{stack}/variability.csv",
            REPORT_CHARACTERISE,
            "Variability",
            "variability_table",
            "variability test (table)",
        ),
        lightcurves="results/variability/{stack}/lightcurves.csv",
        thresholds="results/variability/{stack}/p_thresholds.csv",
        figure=report_item(
            "results/figures/{stack}/lightcurves.png",
            REPORT_CHARACTERISE,
            "Variability",
            "lightcurves",
            "light curves",
        ),
    log:
        "logs/variability/{stack}.log",
    conda:
        "../../envs/counterparts.yaml"
    params:
        bands=VARIABILITY_BANDS,
        epochs=lambda wc: STACKS[wc.stack],
        kinds=STACK_MAPS,
        variability=config["variability"],
    script:
        "../scripts/variability.py"


rule hardness:
    """Bayesian hardness ratios, N_H tracks and obscured fractions (METHOD §12)."""
    input:
        instrument=INSTRUMENT_FILE,
        catalog=(
            "results/counterparts/{stack}/catalog_extended.fits"
            if ANCILLARY
            else f"results/catalog/{{stack}}/catalog_{min(LEVELS)}.fits"
        ),
    output:
        table="results/spectral/{stack}/hardness.csv",
        tracks="results/spectral/{stack}/hr_tracks.csv",
        fractions=report_item(
            "results/spectral/{stack}/obscured_fractions.csv",
            REPORT_CHARACTERISE,
            "Hardness ratios",
            "obscured_fractions",
            "obscured fractions (table)",
        ),
        figure=report_item(
            "results/figures/{stack}/hardness.png",
            REPORT_CHARACTERISE,
            "Hardness ratios",
            "hardness",
            "hardness ratio vs flux",
        ),
        figure_z=report_item(
            "results/figures/{stack}/hardness_redshift.png",
            REPORT_CHARACTERISE,
            "Hardness ratios",
            "hardness_redshift",
            "hardness ratio vs redshift",
        ),
    log:
        "logs/spectral/{stack}.log",
    conda:
        "../../envs/counterparts.yaml"
    params:
        spectral=config["spectral"],
    script:
        "../scripts/hardness.py"
