"""Source characterisation: hardness ratios and obscuration, variability between epochs
(method.md §12-13)."""

VARIABILITY_BANDS = [b for b in config["variability"]["bands"] if b in BANDS]
# the epoch mosaics the per-epoch null replicas are drawn from
EPOCH_NULL_MAPS = ("exposure", "background", "background_nofcxb")
# the variability test's settings (not n_light_curves: a figure setting re-draws a figure)
VARIABILITY_TEST = {k: config["variability"][k] for k in ("p_threshold", "sys_frac")}


rule variability_null:
    """p-values of the variability test for constant sources in per-epoch replicas."""
    input:
        unpack(
            named_inputs(
                "maps", "results/stacks/{stack}/{band}/{kind}.fits", kind=MAP_KINDS
            )
        ),
        unpack(
            named_inputs(
                "epoch_maps",
                "results/epochs/{epoch}/{band}/{kind}.fits",
                epoch=stack_epochs,
                kind=EPOCH_NULL_MAPS,
            )
        ),
        instrument=INSTRUMENT_FILE,
        grid=rules.population.output.grid,
        real="results/detect/{stack}/{band}.fits",
        thresholds="results/calibration/{stack}/thresholds.csv",
    output:
        "results/variability/{stack}/null_{band}.csv",
    log:
        "logs/variability/{stack}_null_{band}.log",
    benchmark:
        "results/benchmarks/variability_null/{stack}_{band}.tsv"
    conda:
        "../../envs/detect.yaml"
    resources:
        mem_mb=1500,
        runtime=30,
    params:
        code=code("characterise/variability_null.py"),
        epochs=stack_epochs,
        epoch_kinds=EPOCH_NULL_MAPS,
        replicas=config["variability"]["null_replicas"],
        seed=config["seed"],
        population=config["population"],
        bright_flux=config["simulations"].get("bright_flux"),
        truth=config["simulations"].get("truth", "flux"),
        truth_share=config["simulations"].get("truth_share", 0.25),
        detection=DETECTION,
        level=LEVELS[min(LEVELS)],
        variability=VARIABILITY_TEST,
    script:
        "../scripts/characterise/variability_null.py"


rule variability:
    """Per-epoch rates, chi^2 variability test and light curves of the 95% catalogue."""
    input:
        unpack(
            named_inputs(
                "null",
                "results/variability/{stack}/null_{band}.csv",
                band=VARIABILITY_BANDS,
            )
        ),
        unpack(
            named_inputs(
                "maps",
                "results/epochs/{epoch}/{band}/{kind}.fits",
                band=VARIABILITY_BANDS,
                epoch=stack_epochs,
                kind=STACK_MAPS,
            )
        ),
        instrument=INSTRUMENT_FILE,
        catalog=f"results/catalog/{{stack}}/catalog_{min(LEVELS)}.fits",
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
    log:
        "logs/variability/{stack}.log",
    conda:
        "../../envs/counterparts.yaml"
    params:
        code=code("characterise/variability.py"),
        bands=VARIABILITY_BANDS,
        epochs=stack_epochs,
        kinds=STACK_MAPS,
        variability=VARIABILITY_TEST,
    script:
        "../scripts/characterise/variability.py"


rule variability_figures:
    """Light curves of the sources of a stack with the lowest constancy p-values."""
    input:
        catalog=f"results/catalog/{{stack}}/catalog_{min(LEVELS)}.fits",
        table="results/variability/{stack}/variability.csv",
        lightcurves="results/variability/{stack}/lightcurves.csv",
    output:
        figure=report_item(
            "results/figures/{stack}/lightcurves.png",
            REPORT_CHARACTERISE,
            "Variability",
            "lightcurves",
            "light curves",
        ),
    log:
        "logs/variability/figures_{stack}.log",
    conda:
        "../../envs/plotting.yaml"
    params:
        code=code("characterise/variability_figures.py"),
        band=VARIABILITY_BANDS[0],
        epochs=stack_epochs,
        n_light_curves=config["variability"]["n_light_curves"],
    script:
        "../scripts/characterise/variability_figures.py"


rule hardness:
    """Bayesian hardness ratios, N_H tracks and obscured fractions (method.md §12)."""
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
        code=code("characterise/hardness.py"),
        spectral=config["spectral"],
    script:
        "../scripts/characterise/hardness.py"
