"""Reliability, thresholds, completeness, sky coverage and accuracies (method.md §8)."""

CALIBRATION_TABLES = (
    "thresholds",
    "reliability",
    "completeness",
    "skycoverage",
    "countscoverage",
    "sensitivity",
    "positions",
    "positions_det_ml",
    "flux_vs_flux",
    "flux_vs_snr",
    "summary",
    "merged_reliability",
    "merged_summary",
)
#: figure name: (report subcategory, product label)
CALIBRATION_FIGURES = {
    "reliability": ("Reliability & thresholds", "reliability vs DET_ML"),
    "completeness": ("Completeness & sky coverage", "completeness vs input flux"),
    "positions": ("Positional accuracy", "input-detection separations"),
    "fluxes": ("Flux accuracy", "measured / input flux"),
}
#: tables in the report: (subcategory, caption file, product label)
CALIBRATION_REPORT_TABLES = {
    "thresholds": (
        "Reliability & thresholds",
        "thresholds",
        "DET_ML thresholds (table)",
    ),
    "sensitivity": (
        "Completeness & sky coverage",
        "sensitivity",
        "sensitivity (table)",
    ),
    "positions": ("Positional accuracy", "positions_table", "Rayleigh scales (table)"),
}


rule calibrate:
    """Aggregate all replica chunks of a stack into the calibration tables."""
    input:
        unpack(
            named_inputs(
                "exposure", "results/stacks/{stack}/{band}/exposure.fits", band=BANDS
            )
        ),
        unpack(replica_chunks),
    output:
        tables=[
            (
                report_item(
                    f"results/calibration/{{stack}}/{table}.csv",
                    REPORT_CALIBRATION,
                    *CALIBRATION_REPORT_TABLES[table],
                )
                if table in CALIBRATION_REPORT_TABLES
                else f"results/calibration/{{stack}}/{table}.csv"
            )
            for table in CALIBRATION_TABLES
        ],
        separations="results/calibration/{stack}/separations.parquet",
        merged_catalogues="results/calibration/{stack}/merged_catalogues.parquet",
    log:
        "logs/calibration/{stack}.log",
    benchmark:
        "results/benchmarks/calibrate/{stack}.tsv"
    conda:
        "../../envs/detect.yaml"
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        code=code("calibrate/calibrate.py"),
        bands=BANDS,
        n_replicas=N_REPLICAS,
        calibration=config["calibration"],
        radius=INSTRUMENT.match_radius_arcsec,
        floor_ks=config["detection"]["exposure_floor_ks"],
        snr_min=config["lognlogs"]["snr_min"],
        tables=CALIBRATION_TABLES,
    script:
        "../scripts/calibrate/calibrate.py"


rule calibrate_figures:
    """Calibration figures of a stack, drawn from the calibration tables."""
    input:
        unpack(
            named_inputs(
                "tables",
                "results/calibration/{stack}/{table}.csv",
                table=CALIBRATION_TABLES,
            )
        ),
        separations="results/calibration/{stack}/separations.parquet",
        merged_catalogues="results/calibration/{stack}/merged_catalogues.parquet",
    output:
        **{
            f"figure_{name}": [
                report_item(
                    f"results/figures/{{stack}}/{name}_{band}.png",
                    REPORT_CALIBRATION,
                    subcategory,
                    name,
                    product,
                    band=band,
                )
                for band in BANDS
            ]
            for name, (subcategory, product) in CALIBRATION_FIGURES.items()
        },
        skycoverage=report_item(
            "results/figures/{stack}/skycoverage.png",
            REPORT_CALIBRATION,
            "Completeness & sky coverage",
            "skycoverage",
            "sky coverage",
        ),
        merged=report_item(
            "results/figures/{stack}/merged_reliability.png",
            REPORT_CALIBRATION,
            "Reliability & thresholds",
            "merged_reliability",
            "merged catalogue reliability",
        ),
    log:
        "logs/calibration/figures_{stack}.log",
    conda:
        "../../envs/plotting.yaml"
    params:
        code=code("calibrate/calibrate_figures.py"),
        bands=BANDS,
        figures=list(CALIBRATION_FIGURES),
    script:
        "../scripts/calibrate/calibrate_figures.py"
