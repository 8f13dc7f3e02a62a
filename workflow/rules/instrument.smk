"""The instrument's band table: energy ranges, count-rate-to-flux factors, aperture EEF."""


rule instrument_bands:
    """Bands with their energy range, CF and aperture EEF."""
    input:
        instrument=INSTRUMENT_FILE,
    output:
        "results/instrument/bands.csv",
    log:
        "logs/instrument/bands.log",
    conda:
        "../../envs/mosaic.yaml"
    params:
        code=code("instrument/instrument_bands.py"),
        bands=BANDS,
    script:
        "../scripts/instrument/instrument_bands.py"
