"""Source characterisation: variability between epochs (METHOD §13)."""

VARIABILITY_BANDS = [b for b in config["variability"]["bands"] if b in BANDS]


rule variability:
    """Per-epoch rates, chi^2 variability test and light curves of the 95% catalogue."""
    input:
        instrument=INSTRUMENT_FILE,
        catalog=f"results/catalog/{{stack}}/catalog_{min(LEVELS)}.fits",
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
