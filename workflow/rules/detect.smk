"""Source detection, deblending and photometry on the stack mosaics (METHOD §4-6)."""


rule detect:
    """Detections of one stack and band with DET_ML, counts, rates and fluxes."""
    input:
        instrument=INSTRUMENT_FILE,
        maps=expand("results/stacks/{{stack}}/{{band}}/{kind}.fits", kind=MAP_KINDS),
    output:
        "results/detect/{stack}/{band}.fits",
    log:
        "logs/detect/{stack}_{band}.log",
    conda:
        "../../envs/detect.yaml"
    resources:
        mem_mb=1500,
        runtime=10,
    params:
        detection=config["detection"],
    script:
        "../scripts/detect.py"


rule detection_figure:
    """Smoothed stack mosaic with exposure contours and the detections marked."""
    input:
        counts="results/stacks/{stack}/{band}/counts.fits",
        exposure="results/stacks/{stack}/{band}/exposure.fits",
        detections="results/detect/{stack}/{band}.fits",
    output:
        report_item(
            "results/figures/{stack}/detections_{band}.png",
            REPORT_DETECTION,
            "Detection maps",
            "detections",
            "smoothed mosaic and detections",
            band="{band}",
        ),
    log:
        "logs/detect/figure_{stack}_{band}.log",
    conda:
        "../../envs/plotting.yaml"
    params:
        detection=config["detection"],
    script:
        "../scripts/detection_figure.py"
