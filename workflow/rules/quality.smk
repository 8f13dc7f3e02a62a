"""Mosaic quality checks (METHOD §3): area versus exposure, background accuracy."""


rule quality_area_exposure:
    """Cumulative sky area above each exposure, per band."""
    input:
        expand("results/stacks/{{stack}}/{band}/exposure.fits", band=BANDS),
    output:
        table=report_item(
            "results/quality/{stack}/area_exposure.csv",
            REPORT_MOSAICS,
            "Exposure",
            "area_exposure_table",
            "area above exposure (table)",
        ),
        figure=report_item(
            "results/figures/{stack}/area_exposure.png",
            REPORT_MOSAICS,
            "Exposure",
            "area_exposure",
            "area above exposure",
        ),
    log:
        "logs/quality/area_exposure_{stack}.log",
    conda:
        "../../envs/mosaic.yaml"
    params:
        bands=BANDS,
    script:
        "../scripts/quality_area_exposure.py"


rule quality_bgcheck:
    """(Data - Bgd)/Bgd in circles over each observation of the stack."""
    input:
        lambda wc: expand(
            "results/epochs/{epoch}/{band}/bgcheck.csv",
            epoch=STACKS[wc.stack],
            band=BANDS,
        ),
    output:
        table=report_item(
            "results/quality/{stack}/bgcheck_summary.csv",
            REPORT_MOSAICS,
            "Background",
            "bgcheck_table",
            "background accuracy (table)",
        ),
        figure=report_item(
            "results/figures/{stack}/bgcheck.png",
            REPORT_MOSAICS,
            "Background",
            "bgcheck",
            "background accuracy",
        ),
    log:
        "logs/quality/bgcheck_{stack}.log",
    conda:
        "../../envs/mosaic.yaml"
    params:
        bands=BANDS,
    script:
        "../scripts/quality_bgcheck.py"
