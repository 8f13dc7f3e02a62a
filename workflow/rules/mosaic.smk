"""Per-epoch and stacked mosaics (method.md §3)."""


rule mosaic_epoch:
    """Counts, exposure and background of one epoch and band (FPMA+B summed)."""
    input:
        instrument=INSTRUMENT_FILE,
        files=epoch_inputs,
        checks=epoch_checks,
    output:
        maps=expand("results/epochs/{{epoch}}/{{band}}/{kind}.fits", kind=MAP_KINDS),
        bgcheck="results/epochs/{epoch}/{band}/bgcheck.csv",
    log:
        "logs/mosaic/{epoch}_{band}.log",
    conda:
        "../../envs/mosaic.yaml"
    resources:
        mem_mb=1500,
        runtime=20,
    params:
        code=code("mosaic/mosaic_epoch.py"),
        observations=band_params,
        grid=GRID,
        quality=QUALITY,
    script:
        "../scripts/mosaic/mosaic_epoch.py"


rule mosaic_stack:
    """A stack mosaic is the sum of its epochs' mosaics."""
    input:
        unpack(
            named_inputs(
                "maps",
                "results/epochs/{epoch}/{band}/{kind}.fits",
                epoch=stack_epochs,
                kind=MAP_KINDS,
            )
        ),
        checks=stack_checks,
    output:
        expand("results/stacks/{{stack}}/{{band}}/{kind}.fits", kind=MAP_KINDS),
    log:
        "logs/mosaic/stack_{stack}_{band}.log",
    conda:
        "../../envs/mosaic.yaml"
    resources:
        mem_mb=1500,
        runtime=10,
    params:
        code=code("mosaic/mosaic_stack.py"),
        epochs=stack_epochs,
        kinds=list(MAP_KINDS),
    script:
        "../scripts/mosaic/mosaic_stack.py"
