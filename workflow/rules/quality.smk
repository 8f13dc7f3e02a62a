"""Mosaic quality checks (method.md §3): area versus exposure, background accuracy."""


rule quality_area_exposure:
    """Cumulative sky area above each exposure, per band."""
    input:
        unpack(
            named_inputs(
                "exposure", "results/stacks/{stack}/{band}/exposure.fits", band=BANDS
            )
        ),
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
        code=code("quality/quality_area_exposure.py"),
        bands=BANDS,
    script:
        "../scripts/quality/quality_area_exposure.py"


rule quality_bgcheck:
    """(Data - Bgd)/Bgd in circles over each observation of the stack."""
    input:
        unpack(
            named_inputs(
                "bgcheck",
                "results/epochs/{epoch}/{band}/bgcheck.csv",
                epoch=stack_epochs,
                band=BANDS,
            )
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
        code=code("quality/quality_bgcheck.py"),
        bands=BANDS,
        epochs=stack_epochs,
    script:
        "../scripts/quality/quality_bgcheck.py"
