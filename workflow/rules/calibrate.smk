"""Reliability, thresholds, completeness, sky coverage and accuracies (METHOD §8)."""

CALIBRATION_TABLES = (
    "thresholds",
    "reliability",
    "completeness",
    "skycoverage",
    "countscoverage",
    "sensitivity",
    "positions",
    "flux_vs_flux",
    "summary",
)
CALIBRATION_FIGURES = ("reliability", "completeness", "positions", "fluxes")


rule calibrate:
    """Aggregate all replica chunks of a stack into the calibration tables."""
    input:
        detections=lambda wc: expand(
            "results/sims/{stack}/{band}/chunk{chunk}.parquet",
            stack=wc.stack,
            band=BANDS,
            chunk=CHUNKS,
        ),
        inputs=lambda wc: expand(
            "results/sims/{stack}/{band}/chunk{chunk}.inputs.parquet",
            stack=wc.stack,
            band=BANDS,
            chunk=CHUNKS,
        ),
        exposure=expand("results/stacks/{{stack}}/{band}/exposure.fits", band=BANDS),
    output:
        **{
            f"figure_{name}": report(
                expand(
                    f"results/figures/{{{{stack}}}}/{name}_{{band}}.png",
                    band=BANDS,
                ),
                category="Calibration",
                caption=f"../report/{name}.rst",
            )
            for name in CALIBRATION_FIGURES
        },
        tables=expand(
            "results/calibration/{{stack}}/{table}.csv", table=CALIBRATION_TABLES
        ),
        skycoverage=report(
            "results/figures/{stack}/skycoverage.png",
            category="Calibration",
            caption="../report/skycoverage.rst",
        ),
    log:
        "logs/calibration/{stack}.log",
    conda:
        "../../envs/detect.yaml"
    resources:
        mem_mb=3000,
        runtime=20,
    params:
        bands=BANDS,
        n_chunks=len(CHUNKS),
        n_replicas=N_REPLICAS,
        calibration=config["calibration"],
        floor_ks=config["detection"]["exposure_floor_ks"],
        snr_min=config["lognlogs"]["snr_min"],
        tables=CALIBRATION_TABLES,
        figures=CALIBRATION_FIGURES,
    script:
        "../scripts/calibrate.py"
