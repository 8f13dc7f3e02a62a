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
        table="results/variability/{stack}/variability.csv",
        lightcurves="results/variability/{stack}/lightcurves.csv",
        figure=report(
            "results/figures/{stack}/lightcurves.png",
            category="Variability",
            caption="../report/lightcurves.rst",
        ),
    log:
        "logs/variability/{stack}.log",
    conda:
        "../../envs/detect.yaml"
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
        fractions="results/spectral/{stack}/obscured_fractions.csv",
        figure=report(
            "results/figures/{stack}/hardness.png",
            category="Spectral shape",
            caption="../report/hardness.rst",
        ),
        figure_z=report(
            "results/figures/{stack}/hardness_redshift.png",
            category="Spectral shape",
            caption="../report/hardness_redshift.rst",
        ),
    log:
        "logs/spectral/{stack}.log",
    conda:
        "../../envs/detect.yaml"
    params:
        spectral=config["spectral"],
    script:
        "../scripts/hardness.py"
