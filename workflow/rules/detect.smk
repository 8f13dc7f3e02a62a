"""Source detection, deblending and photometry on the stack and epoch mosaics (method.md §4-6)."""


rule detect:
    """Detections of one stack and band with DET_ML, counts, rates and fluxes."""
    input:
        unpack(
            named_inputs(
                "maps", "results/stacks/{stack}/{band}/{kind}.fits", kind=MAP_KINDS
            )
        ),
        instrument=INSTRUMENT_FILE,
    output:
        "results/detect/{stack}/{band}.fits",
    log:
        "logs/detect/{stack}_{band}.log",
    benchmark:
        "results/benchmarks/detect/{stack}_{band}.tsv"
    conda:
        "../../envs/detect.yaml"
    resources:
        mem_mb=1500,
        runtime=10,
    params:
        code=code("detect/detect.py"),
        detection=DETECTION,
    script:
        "../scripts/detect/detect.py"


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
        code=code("detect/detection_figure.py"),
    script:
        "../scripts/detect/detection_figure.py"


rule detection_regions:
    """DS9 region file of a stack's detections in one band, marked as in the figures."""
    input:
        detections="results/detect/{stack}/{band}.fits",
    output:
        "results/detect/{stack}/{band}.reg",
    log:
        "logs/detect/regions_{stack}_{band}.log",
    conda:
        "../../envs/plotting.yaml"
    params:
        code=code("detect/detection_regions.py"),
    script:
        "../scripts/detect/detection_regions.py"


rule detect_epoch:
    """Detections on one epoch's mosaic (thresholds come from the stack)."""
    input:
        unpack(
            named_inputs(
                "maps", "results/epochs/{epoch}/{band}/{kind}.fits", kind=MAP_KINDS
            )
        ),
        instrument=INSTRUMENT_FILE,
    output:
        "results/detect/epochs/{epoch}/{band}.fits",
    log:
        "logs/detect/epoch_{epoch}_{band}.log",
    conda:
        "../../envs/detect.yaml"
    resources:
        mem_mb=1500,
    params:
        code=code("detect/detect.py"),
        detection=DETECTION,
    script:
        "../scripts/detect/detect.py"
