"""Embedded synthetic demo survey: makes the files the observation table names."""

DEMO_DIR = config["demo"].get("outdir", "results/demo")
_DEMO_FILES = demo_paths(DEMO_DIR, "{obs_id}", "{module}")


rule demo_sky:
    """Truth source list and the ancillary (soft X-ray, optical) catalogues."""
    input:
        instrument=INSTRUMENT_FILE,
        grid=rules.population.output.grid,
    output:
        truth=f"{DEMO_DIR}/truth/sources.fits",
        softx=f"{DEMO_DIR}/catalogs/softx.fits",
        softx_truth=f"{DEMO_DIR}/truth/softx_truth.fits",
        optical=f"{DEMO_DIR}/catalogs/optical.fits",
        optical_truth=f"{DEMO_DIR}/truth/optical_truth.fits",
    log:
        "logs/demo/sky.log",
    conda:
        "../../envs/mosaic.yaml"
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        code=code("demo/demo_sky.py"),
        demo=config["demo"],
        population=config["population"],
    script:
        "../scripts/demo/demo_sky.py"


rule demo_observation:
    """Event file, exposure and background maps of one observation and module."""
    input:
        instrument=INSTRUMENT_FILE,
        truth=rules.demo_sky.output.truth,
    output:
        events=_DEMO_FILES["events"],
        exposure=expand(_DEMO_FILES["exposure"], band=BANDS, allow_missing=True),
        background=expand(_DEMO_FILES["background"], band=BANDS, allow_missing=True),
        sources=f"{DEMO_DIR}/truth/obs/{{obs_id}}_{{module}}.fits",
    log:
        "logs/demo/{obs_id}_{module}.log",
    conda:
        "../../envs/mosaic.yaml"
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        code=code("demo/demo_observation.py"),
        demo=config["demo"],
        row=lambda wc: demo_row(wc.obs_id, wc.module),
        bands=BANDS,
    script:
        "../scripts/demo/demo_observation.py"
